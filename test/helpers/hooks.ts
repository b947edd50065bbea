import { stopAll } from './redis-server';

/** Mocha root hooks: every private server started by a test is stopped when the run ends. */
export const mochaHooks = {
  async afterAll(): Promise<void> {
    await stopAll();
  },
};
