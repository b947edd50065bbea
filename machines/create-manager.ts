import { Manager, type FailureHandler } from '../lib/connection';
import { defaulted, defineMachine, exit, optional, required } from '../lib/define';
import { coded, ErrorCodes, invalidInput } from '../lib/errors';
import { nearCacheOptions } from '../lib/near-cache';
import { connectionStringProblem, isDictionary } from '../lib/options';
import { failedExit, type ErrorReport } from '../lib/shared';
import { watchForKeepAlive } from '../lib/keepalive-hint';
import { translateMeta } from '../lib/meta';

export default defineMachine('create-manager', {
  friendlyName: 'Create manager',
  description: 'Build a connection manager for one Redis server: the configuration getConnection() connects with.',
  extendedDescription:
    'A manager holds the connection string, the client options and the connections handed out. Creating one does not ' +
    'connect: bad credentials or an unreachable server show up at getConnection(). Destroy it with destroyManager().',
  moreInfoUrl: 'https://github.com/redis/node-redis/blob/master/docs/client-configuration.md',
  inputs: {
    connectionString: required<string>({
      description: 'Where the server is, with credentials if it needs them.',
      extendedDescription:
        'redis://[user[:password]@]host[:port][/db], rediss://… for TLS, or unix:///path/to/redis.sock.',
      example: 'redis://:secret@127.0.0.1:6379/12',
    }),
    onUnexpectedFailure: optional<FailureHandler>({
      description:
        "Called with an Error whenever one of this manager's connections reports a failure after it was made.",
      extendedDescription:
        "The Error has `failureType` ('error' or 'end'), `connection` and `originalError`. Connections reconnect by " +
        "themselves; `err.connection.once('ready', …)` fires when the server is back. Without it, failures are silent.",
      example: '->',
    }),
    meta: defaulted<Record<string, unknown>>(
      {},
      {
        friendlyName: 'Meta (custom)',
        description: 'node-redis 6 client options (a dictionary), e.g. `{ socket: { tls: true } }`, `{ password }`.',
        extendedDescription:
          'Values in the connection string win over these. Keys node-redis does not know are ignored with one warning.',
        example: '===',
      },
    ),
  },
  exits: {
    success: exit<{ manager: Manager; meta?: unknown }>({
      description: 'The manager was created.',
      outputFriendlyName: 'Report',
      outputDescription: 'The `manager` property is what getConnection() and destroyManager() take.',
      outputExample: { manager: '===', meta: '===' },
    }),
    malformed: exit<ErrorReport>({
      description: 'The connection string is not a usable Redis URL.',
      outputFriendlyName: 'Report',
      outputDescription: 'The `error` property says what is wrong with it (credentials masked).',
      outputExample: { error: '===', meta: '===' },
    }),
    failed: failedExit('The manager could not be created from these options.'),
  },
  fn: async (inputs, exits) => {
    if (!isDictionary(inputs.meta)) throw invalidInput('If provided, `meta` must be a dictionary.');
    if (inputs.onUnexpectedFailure !== undefined && typeof inputs.onUnexpectedFailure !== 'function') {
      throw invalidInput('If provided, `onUnexpectedFailure` must be a function.');
    }
    const problem = connectionStringProblem(inputs.connectionString);
    if (problem) return exits.malformed({ error: invalidInput(problem) });
    let options: Record<string, unknown>;
    try {
      options = translateMeta(inputs.meta);
      nearCacheOptions(inputs.meta);
    } catch (err) {
      return exits.failed({ error: err as Error });
    }
    let manager: Manager;
    try {
      manager = new Manager({
        connectionString: inputs.connectionString,
        clientOptions: options,
        meta: inputs.meta,
        onUnexpectedFailure: inputs.onUnexpectedFailure,
      });
      if (manager.topology.kind !== 'single' && nearCacheOptions(inputs.meta)) {
        throw coded(
          ErrorCodes.INVALID_NEAR_CACHE,
          `\`meta.nearCache\` works with a single server only, not with meta.${manager.topology.kind}.`,
        );
      }
    } catch (err) {
      return exits.failed({ error: err as Error });
    }
    watchForKeepAlive(manager);
    return exits.success({ manager });
  },
});
