import {
  badConnectionReport,
  boundedThen,
  connectionProblem,
  isConnectionError,
  liveConnection,
  sendPlain,
} from '../lib/connection';
import { defineMachine, exit, type OutcomeOf, required } from '../lib/define';
import { badConnectionExit, connectionInput, metaInput } from '../lib/shared';
import { MISS, nearCacheFor } from '../lib/near-cache';
import { decodeValue, toKey } from '../lib/values';

const exitDefs = {
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
};
type Result = OutcomeOf<typeof exitDefs>;

export default defineMachine('get-cached-value', {
  friendlyName: 'Get cached value',
  description: 'Read the value stored under a key.',
  extendedDescription:
    'Exits `notFound` when the key does not exist or has expired. A value that is not JSON (written by another program) is an error naming the key.',
  sideEffects: 'cacheable',
  directExits: true, // see lib/define.ts: nothing below catches what an exit builder throws
  inputs: {
    connection: connectionInput,
    key: required<string | number>({
      friendlyName: 'Key',
      description: 'The key to read: a non-empty string, or a finite number (used as its text).',
      example: 'myNamespace.foo.bar_baz',
    }),
    meta: metaInput,
  },
  exits: exitDefs,

  // Not an async function: the call path holds one promise of ours (the reply's reaction), see lib/define.ts.
  fn: (inputs, exits): Promise<Result> | Result => {
    const client = liveConnection(inputs.connection);
    if (!client)
      return Promise.resolve(exits.badConnection(badConnectionReport(connectionProblem(inputs.connection)!)));
    const key = toKey(inputs.key);
    const read = (): Promise<Result> =>
      boundedThen(
        client,
        sendPlain<string | null>(client, ['GET', key], () => client.get(key) as Promise<string | null>),
        (text): Result => (text === null ? exits.notFound() : exits.success({ value: decodeValue(text, key) })),
        (err): Result => {
          if (isConnectionError(err)) return exits.badConnection(badConnectionReport(err as Error, client));
          throw err;
        },
      );
    const near = nearCacheFor(client);
    if (near === undefined) return read();
    // meta.nearCache: a copy of the value held here, else a read on the near-cache's tracking connection (which
    // stores it); if that connection fails, the read goes through this connection as without a near-cache.
    const hit = near.get(key);
    if (hit !== MISS) return exits.success({ value: hit }); // no promise of ours: lib/define.ts wraps it once
    if (!near.usable) return read();
    return near
      .load(key, (text) => decodeValue(text, key))
      .then((r): Result => (r.text === null ? exits.notFound() : exits.success({ value: r.value })), read);
  },
});
