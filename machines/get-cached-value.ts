import { badConnectionReport, bounded, connectionProblem, isConnectionError, liveConnection } from '../lib/connection';
import { defineMachine, exit, required } from '../lib/define';
import { badConnectionExit, connectionInput, metaInput } from '../lib/shared';
import { decodeValue, toKey } from '../lib/values';

export default defineMachine('get-cached-value', {
  friendlyName: 'Get cached value',
  description: 'Read the value stored under a key.',
  extendedDescription:
    'Exits `notFound` when the key does not exist or has expired. A value that is not JSON (written by another program) is an error naming the key.',
  sideEffects: 'cacheable',
  inputs: {
    connection: connectionInput,
    key: required<string | number>({
      friendlyName: 'Key',
      description: 'The key to read: a non-empty string, or a finite number (used as its text).',
      example: 'myNamespace.foo.bar_baz',
    }),
    meta: metaInput,
  },
  exits: {
    success: exit<{ value: unknown; meta?: unknown }>({
      description: 'The value was found.',
      outputFriendlyName: 'Report',
      outputDescription: 'The `value` property is the value, of the type it was stored with.',
      outputExample: { value: '*', meta: '===' },
    }),
    notFound: exit({
      description: 'No value is stored under this key (never set, deleted, or expired).',
      outputFriendlyName: 'Report',
      outputDescription: 'Nothing of interest.',
      outputExample: { meta: '===' },
    }),
    badConnection: badConnectionExit,
  },
  fn: async (inputs, exits) => {
    const client = liveConnection(inputs.connection);
    if (!client) return exits.badConnection(badConnectionReport(connectionProblem(inputs.connection)!));
    const key = toKey(inputs.key);
    let text: string | null;
    try {
      text = (await bounded(client, client.get(key))) as string | null;
    } catch (err) {
      if (isConnectionError(err)) return exits.badConnection(badConnectionReport(err as Error, client));
      throw err;
    }
    if (text === null) return exits.notFound();
    return exits.success({ value: decodeValue(text, key) });
  },
});
