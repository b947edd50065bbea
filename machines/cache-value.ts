import {
  badConnectionReport,
  boundedThen,
  connectionProblem,
  isConnectionError,
  liveConnection,
  sendPlain,
} from '../lib/connection';
import { defineMachine, exit, type OutcomeOf, optional, required, requiredAllowingEmpty } from '../lib/define';
import { badConnectionExit, connectionInput, metaInput } from '../lib/shared';
import { nearCacheFor } from '../lib/near-cache';
import { decodeValue, encodeValue, toKey, toTtl } from '../lib/values';

const exitDefs = {
  success: exit({
    description: 'The value was stored.',
    outputFriendlyName: 'Report',
    outputDescription: 'Nothing of interest.',
    outputExample: { meta: '===' },
  }),
  badConnection: badConnectionExit,
};
type Result = OutcomeOf<typeof exitDefs>;

export default defineMachine('cache-value', {
  friendlyName: 'Cache value',
  description: 'Store a value under a key, optionally for a limited time.',
  extendedDescription:
    'The value is stored as JSON (strings too), so getCachedValue() returns the same type. With `ttl`, the value and ' +
    'its expiry are written in one command (SET … EX), so there is never a moment where the key lives forever.',
  sideEffects: 'idempotent',
  directExits: true, // see lib/define.ts: nothing below catches what an exit builder throws
  inputs: {
    connection: connectionInput,
    key: required<string | number>({
      friendlyName: 'Key',
      description: 'The key to store the value under: a non-empty string, or a finite number (used as its text).',
      example: 'myNamespace.foo.bar_baz',
    }),
    value: requiredAllowingEmpty<unknown>({
      friendlyName: 'Value',
      description: 'The value: anything JSON can carry (string, number, boolean, null, array, dictionary).',
      extendedDescription:
        '`undefined`, functions, BigInts and circular structures are refused with an error naming the key.',
      example: '*',
    }),
    ttl: optional<number>({
      friendlyName: 'Time-to-live (TTL)',
      description:
        'Seconds until the value is deleted (a positive whole number). Without it, the value stays until deleted.',
      example: 86400,
    }),
    meta: metaInput,
  },
  exits: exitDefs,

  // Not an async function: the call path holds one promise of ours (the reply's reaction), see lib/define.ts.
  fn: (inputs, exits): Promise<Result> => {
    const client = liveConnection(inputs.connection);
    if (!client)
      return Promise.resolve(exits.badConnection(badConnectionReport(connectionProblem(inputs.connection)!)));
    const key = toKey(inputs.key);
    const ttl = toTtl(inputs.ttl);
    const text = encodeValue(inputs.value, key);
    // meta.nearCache: written through the near-cache's own connection (see lib/near-cache.ts); while that one is
    // down, through this connection, the key dropped here before the write and again once it is acknowledged, so
    // this process reads its own write even before Redis's invalidation comes back.
    const near = nearCacheFor(client);
    if (near !== undefined) {
      const sent = near.write(key, text, ttl, (stored) => decodeValue(stored, key));
      if (sent !== undefined) {
        return sent.then(
          (): Result => exits.success(),
          (err): Result => {
            near.invalidate(key);
            if (isConnectionError(err)) return exits.badConnection(badConnectionReport(err as Error, client));
            throw err;
          },
        );
      }
      near.invalidate(key);
    }
    return boundedThen(
      client,
      ttl === undefined
        ? sendPlain(client, ['SET', key, text], () => client.set(key, text))
        : sendPlain(client, ['SET', key, text, 'EX', String(ttl)], () => client.set(key, text, { EX: ttl })),
      (): Result => {
        near?.invalidate(key);
        return exits.success();
      },
      (err): Result => {
        near?.invalidate(key);
        if (isConnectionError(err)) return exits.badConnection(badConnectionReport(err as Error, client));
        throw err;
      },
    );
  },
});
