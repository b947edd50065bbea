import {
  badConnectionReport,
  boundedThen,
  type ConnectionState,
  connectionProblem,
  isConnectionError,
  liveState,
} from '../lib/connection';
import { defineMachine, exit, type ExitBuilders, type OutcomeOf, required } from '../lib/define';
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
type Exits = ExitBuilders<typeof exitDefs>;

/** A failed GET: a connection error is the `badConnection` exit, anything else (a Redis error reply) is thrown. */
function failed(err: unknown, state: ConnectionState, exits: Exits): Result {
  if (isConnectionError(err)) return exits.badConnection(badConnectionReport(err as Error, state.client));
  throw err;
}

/** The reply of a GET: `notFound` for nil, else the decoded value (non-JSON text throws, naming the key). */
function found(text: string | null, key: string, exits: Exits): Result {
  return text === null ? exits.notFound() : exits.success({ value: decodeValue(text, key) });
}

/** Read `key` through the connection itself. */
function read(state: ConnectionState, key: string, exits: Exits): Promise<Result> {
  const client = state.client;
  const watch = state.watch;
  // A Cluster or Sentinel client routes by key (its typed command method), each call under its own bound.
  if (state.kind !== 'single' || !watch.counts)
    return boundedThen(
      client,
      client.get(key) as Promise<string | null>,
      (text): Result => found(text, key, exits),
      (err): Result => failed(err, state, exits),
    );
  // One server: the plain command (no command builder, no argument parser, no async wrapper: the largest share
  // of a GET in node-redis's own profile), counted on the reply watch by this call's own reaction.
  const reply = client.sendCommand(['GET', key]) as Promise<string | null>;
  watch.begin();
  return reply.then(
    (text): Result => {
      watch.end();
      return found(text, key, exits);
    },
    (err): Result => {
      watch.end();
      return failed(err, state, exits);
    },
  );
}

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
    const state = liveState(inputs.connection);
    if (!state) return Promise.resolve(exits.badConnection(badConnectionReport(connectionProblem(inputs.connection)!)));
    const key = toKey(inputs.key);
    const near = nearCacheFor(state.client);
    if (near === undefined) return read(state, key, exits);
    // meta.nearCache: a copy of the value held here, else a read on the near-cache's tracking connection (which
    // stores it); if that connection fails, the read goes through this connection as without a near-cache.
    const hit = near.get(key);
    if (hit !== MISS) return exits.success({ value: hit }); // no promise of ours: lib/define.ts wraps it once
    if (!near.usable) return read(state, key, exits);
    return near
      .load(key, (text) => decodeValue(text, key))
      .then(
        (r): Result => (r.text === null ? exits.notFound() : exits.success({ value: r.value })),
        () => read(state, key, exits),
      );
  },
});
