import {
  badConnectionReport,
  bounded,
  connectionKind,
  connectionProblem,
  isConnectionError,
  liveConnection,
} from '../lib/connection';
import { defineMachine, exit, optional, required } from '../lib/define';
import { coded, ErrorCodes, invalidInput } from '../lib/errors';
import { badConnectionExit, connectionInput, failedExit, metaInput } from '../lib/shared';

export default defineMachine('authenticate', {
  friendlyName: 'Authenticate',
  description: 'Authenticate a live connection (AUTH), with a password or an ACL user and password.',
  extendedDescription:
    'It applies to the connection as it is now: after a reconnect, node-redis authenticates with the credentials the ' +
    'manager was created with (put lasting credentials in the connection string or meta).',
  sideEffects: 'idempotent',
  inputs: {
    connection: connectionInput,
    password: required<string>({
      friendlyName: 'Password',
      description: 'The password to authenticate with.',
      example: 'mysupercomplexpass',
    }),
    username: optional<string>({
      friendlyName: 'Username',
      description: 'The ACL user (Redis 6+); without it, the default user.',
      example: 'app',
    }),
    meta: metaInput,
  },
  exits: {
    success: exit({
      description: 'The connection is authenticated.',
      outputFriendlyName: 'Report',
      outputDescription: 'Nothing of interest.',
      outputExample: { meta: '===' },
    }),
    failed: failedExit(
      'The server refused the credentials (wrong password, unknown or disabled user, or no password configured).',
    ),
    badConnection: badConnectionExit,
  },
  fn: async (inputs, exits) => {
    const client = liveConnection(inputs.connection);
    if (!client) return exits.badConnection(badConnectionReport(connectionProblem(inputs.connection)!));
    if (connectionKind(inputs.connection) !== 'single') {
      return exits.failed({
        error: coded(
          ErrorCodes.UNSUPPORTED,
          'authenticate works on single-server connections; for a Cluster or Sentinel group give the credentials in the connection string or meta.',
        ),
      });
    }
    if (typeof inputs.password !== 'string') throw invalidInput('`password` must be a string.');
    if (inputs.username !== undefined && typeof inputs.username !== 'string')
      throw invalidInput('`username` must be a string.');
    try {
      await bounded(
        client,
        client.auth(
          inputs.username === undefined
            ? { password: inputs.password }
            : { username: inputs.username, password: inputs.password },
        ),
      );
    } catch (err) {
      if (isConnectionError(err)) return exits.badConnection(badConnectionReport(err as Error, client));
      const message = (err as Error).message;
      const code = /^WRONGPASS/.test(message) ? ErrorCodes.BAD_PASSWORD : ErrorCodes.AUTH_FAILED;
      return exits.failed({ error: coded(code, `Redis refused the credentials: ${message}`) });
    }
    return exits.success();
  },
});
