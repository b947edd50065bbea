import {
  badConnectionReport,
  connectionKind,
  connectionProblem,
  isConnectionError,
  liveConnection,
} from '../lib/connection';
import { collectionKeys } from '../lib/collections/codec';
import { redisReason } from '../lib/collections/errors';
import { Replica, type ChangeHandler, type ReplicaStatus, type TroubleHandler } from '../lib/collections/replica';
import { redisStore } from '../lib/collections/store';
import { defaulted, defineMachine, exit, optional, required } from '../lib/define';
import { coded, ErrorCodes, invalidInput } from '../lib/errors';
import { redact, redactError } from '../lib/secrets';
import {
  badConnectionExit,
  collectionInput,
  connectionInput,
  databaseInput,
  failedExit,
  type Connection,
} from '../lib/shared';

export default defineMachine('subscribe-collection', {
  friendlyName: 'Subscribe to collection',
  description:
    'Follow a replicated collection: load a copy of it, then keep the copy equal to Redis and report every change.',
  extendedDescription:
    'Succeeds once the copy is loaded; `onChange` has then been called with `set` for every item present. Afterwards it ' +
    'reports `set`, `delete` and `expire` as they happen, catching up by itself after a lost notification, a reconnect ' +
    'or a Redis restart. End it with `subscription.end()`.',
  inputs: {
    connection: connectionInput,
    subscriber: required<Connection>({
      friendlyName: 'Subscriber connection',
      description:
        'A connection from getConnection() used only for pub/sub; one can serve any number of subscriptions.',
      example: '===',
    }),
    database: databaseInput,
    collection: collectionInput,
    onChange: required<ChangeHandler>({
      friendlyName: 'On change',
      description:
        'Called as (type, key, data) for every change: type `set`, `delete` or `expire`; data the contents (or last copy).',
      example: '->',
    }),
    onTrouble: optional<TroubleHandler>({
      friendlyName: 'On trouble',
      description: 'Called with an Error when a catch-up fails (it is retried); without it such errors are ignored.',
      example: '->',
    }),
    onStatus: optional<(status: ReplicaStatus) => void>({
      friendlyName: 'On status',
      description:
        'Called with `live` once the copy is loaded, `stale` when it has not been able to confirm it holds what Redis ' +
        'holds for longer than syncInterval (a connection down, a catch-up failing), `live` again once it caught up.',
      example: '->',
    }),
    syncInterval: defaulted<number>(1000, {
      friendlyName: 'Sync interval (ms)',
      description: 'How often the copy checks Redis for changes it may have missed.',
      example: 1000,
    }),
  },
  exits: {
    success: exit<{ subscription: Replica }>({
      description: 'The copy is loaded and being kept up to date.',
      outputFriendlyName: 'Report',
      outputDescription:
        'The `subscription` property is the live copy: get(key), keysList(), size, status, stats(), end().',
      outputExample: { subscription: '===' },
    }),
    failed: failedExit('The copy could not be loaded (Redis refused the snapshot); nothing is left subscribed.'),
    badConnection: badConnectionExit,
  },
  fn: async (inputs, exits) => {
    const command = liveConnection(inputs.connection);
    if (!command) return exits.badConnection(badConnectionReport(connectionProblem(inputs.connection)!));
    const subscriber = liveConnection(inputs.subscriber);
    if (!subscriber)
      return exits.badConnection(badConnectionReport(`subscriber: ${connectionProblem(inputs.subscriber)}`));
    if (typeof inputs.onChange !== 'function') throw invalidInput('`onChange` must be a function.');
    if (inputs.onTrouble !== undefined && typeof inputs.onTrouble !== 'function')
      throw invalidInput('If provided, `onTrouble` must be a function.');
    if (inputs.onStatus !== undefined && typeof inputs.onStatus !== 'function')
      throw invalidInput('If provided, `onStatus` must be a function.');
    if (typeof inputs.syncInterval !== 'number' || !(inputs.syncInterval >= 10))
      throw invalidInput('`syncInterval` must be a number of milliseconds, 10 or more.');
    const keys = collectionKeys(inputs.database, inputs.collection);
    const name = `${inputs.database}/${inputs.collection}`;
    const store = redisStore(keys, command, subscriber, connectionKind(inputs.subscriber) === 'cluster');
    const replica = new Replica(
      store,
      inputs.onChange,
      inputs.onTrouble ?? (() => undefined),
      { syncInterval: inputs.syncInterval, name, onStatus: inputs.onStatus },
      (kind, message, cause) =>
        kind === 'rejected'
          ? coded(ErrorCodes.BAD_NOTIFICATION, redact(message))
          : kind === 'diverged'
            ? coded(ErrorCodes.COPY_DIVERGED, redact(message))
            : coded(ErrorCodes.CATCH_UP_FAILED, redact(message), cause === undefined ? undefined : { cause }),
    );
    try {
      await replica.start();
    } catch (err) {
      if (isConnectionError(err)) return exits.badConnection(badConnectionReport(err as Error, command));
      return exits.failed({
        error: coded(ErrorCodes.LOAD_FAILED, `Could not load collection "${inputs.collection}": ${redisReason(err)}`, {
          originalError: redactError(err),
        }),
      });
    }
    return exits.success({ subscription: replica });
  },
});
