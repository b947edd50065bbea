import {
  badConnectionReport,
  boundedThen,
  connectionProblem,
  isConnectionError,
  liveState,
  type RedisClient,
  sendPlain,
} from '../lib/connection';
import {
  defineMachine,
  exit,
  type ExitBuilders,
  type OutcomeOf,
  optional,
  required,
  requiredAllowingEmpty,
} from '../lib/define';
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
type Exits = ExitBuilders<typeof exitDefs>;

/** A failed SET: a connection error is the `badConnection` exit, anything else (a Redis error reply) is thrown. */
function failed(err: unknown, client: RedisClient, exits: Exits): Result {
  if (isConnectionError(err)) return exits.badConnection(badConnectionReport(err as Error, client));
  throw err;
}

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
    const state = liveState(inputs.connection);
    if (!state) return Promise.resolve(exits.badConnection(badConnectionReport(connectionProblem(inputs.connection)!)));
    const client = state.client;
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
            return failed(err, client, exits);
          },
        );
      }
      near.invalidate(key);
      return boundedThen(
        client,
        ttl === undefined
          ? sendPlain(client, ['SET', key, text], () => client.set(key, text))
          : sendPlain(client, ['SET', key, text, 'EX', String(ttl)], () => client.set(key, text, { EX: ttl })),
        (): Result => {
          near.invalidate(key);
          return exits.success();
        },
        (err): Result => {
          near.invalidate(key);
          return failed(err, client, exits);
        },
      );
    }
    const watch = state.watch;
    // A Cluster or Sentinel client routes by key (its typed command method), each call under its own bound.
    if (state.kind !== 'single' || !watch.counts)
      return boundedThen(
        client,
        ttl === undefined ? client.set(key, text) : client.set(key, text, { EX: ttl }),
        (): Result => exits.success(),
        (err): Result => failed(err, client, exits),
      );
    // One server: the plain command (no command builder, no argument parser, no async wrapper: the largest share
    // of a SET in node-redis's own profile), counted on the reply watch by this call's own reaction.
    const reply = client.sendCommand(
      ttl === undefined ? ['SET', key, text] : ['SET', key, text, 'EX', String(ttl)],
    ) as Promise<unknown>;
    watch.begin();
    return reply.then(
      (): Result => {
        watch.end();
        return exits.success();
      },
      (err): Result => {
        watch.end();
        return failed(err, client, exits);
      },
    );
  },
});
