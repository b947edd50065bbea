import { describeValue } from '../lib/options';
import { isManager, openConnection } from '../lib/connection';
import { defaulted, defineMachine, exit, optional, required } from '../lib/define';
import { coded, ErrorCodes, invalidInput } from '../lib/errors';
import { wantsLegacy } from '../lib/legacy';
import { failedExit, type Connection } from '../lib/shared';
import type { Manager } from '../lib/connection';

export default defineMachine('get-connection', {
  friendlyName: 'Get connection',
  description: 'Open a live connection to Redis from a manager.',
  extendedDescription:
    'Settles within `timeout`: a refused connection, a wrong or missing password fail at once; a server that does not ' +
    'answer fails when the time is up. A connection that failed leaves nothing behind. Release it with releaseConnection().',
  inputs: {
    manager: required<Manager>({
      friendlyName: 'Manager',
      description: 'The manager to connect with, from createManager(); not destroyed.',
      example: '===',
    }),
    timeout: defaulted<number>(15000, {
      friendlyName: 'Timeout',
      description: 'How long to wait for the connection, in milliseconds.',
      example: 10000,
    }),
    meta: optional<Record<string, unknown>>({
      friendlyName: 'Meta (custom)',
      description:
        'Options for this connection: `{ legacyMode: true }` returns a node-redis v3-style client (callbacks, lowercase ' +
        'commands), `{ legacyMode: false }` a node-redis 6 client.',
      extendedDescription:
        'Without `legacyMode` here or on the manager: a node-redis 6 client, except for runner-face calls when the ' +
        'package was loaded under the name `machinepack-redis` (the drop-in override), which get the v3-style ' +
        'client every caller of the original was written for. `Pack.promises` calls never default to it.',
      example: '===',
    }),
  },
  exits: {
    success: exit<{ connection: Connection; meta?: unknown }>({
      description: 'A connection is open and ready for commands.',
      extendedDescription: 'Release it with releaseConnection() when done.',
      outputFriendlyName: 'Report',
      outputDescription: 'The `connection` property is a live connection (a node-redis 6 client).',
      outputExample: { connection: '===', meta: '===' },
    }),
    failed: failedExit(
      'Could not connect: refused, wrong or missing password, no answer in time, or the manager is destroyed. ' +
        `The error's \`code\` says which (${ErrorCodes.ECONNREFUSED}, ${ErrorCodes.BAD_PASSWORD}, ${ErrorCodes.NO_PASSWORD}, ` +
        `${ErrorCodes.CONNECTION_TIMED_OUT}…; see ErrorCodes).`,
    ),
  },
  fn: async (inputs, exits, context) => {
    if (!isManager(inputs.manager)) {
      return exits.failed({
        error: coded(ErrorCodes.BAD_MANAGER, 'The `manager` must be a manager from createManager().'),
      });
    }
    if (inputs.manager.destroyed) {
      return exits.failed({
        error: coded(
          ErrorCodes.MANAGER_DESTROYED,
          'This manager was destroyed; create a new one with createManager().',
        ),
      });
    }
    const timeout = inputs.timeout;
    // Infinity and anything past 2^31 − 1 ms are clamped to that by openConnection (RELIABILITY.md, "Durations").
    if (typeof timeout !== 'number' || !(timeout > 0)) {
      // A usage error, like every bad input: the `error` exit (README, "Machines"), not `failed`.
      throw invalidInput(`\`timeout\` must be a positive number of milliseconds (got ${describeValue(timeout)}).`);
    }
    // A node-redis v3-style client (lib/legacy.ts): forced by `legacyMode` in this call's meta or the manager's,
    // else the default for callers of the original (see wantsLegacy).
    const legacy = wantsLegacy(inputs.meta, inputs.manager.meta, context);
    try {
      return exits.success({ connection: (await openConnection(inputs.manager, timeout, legacy)) as Connection });
    } catch (err) {
      return exits.failed({ error: err as Error });
    }
  },
});
