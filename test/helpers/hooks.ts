import { stopAllProxies } from './proxy';
import { stopAll } from './redis-server';

/** Mocha root hooks: every proxy and private server started by a test is stopped when the run ends. */
export const mochaHooks = {
  async afterAll(): Promise<void> {
    await stopAllProxies();
    await stopAll();
  },
};
