import { badConnectionReport, bounded, connectionKind, connectionProblem, liveConnection } from '../lib/connection';
import {
  assertWriteSize,
  collectionKeys,
  encodeItem,
  encodeItemKey,
  ifRevisionArg,
  ttlMs,
} from '../lib/collections/codec';
import { writeFailure } from '../lib/collections/errors';
import { LOG_LENGTH, publishCommand, run, scripts } from '../lib/collections/scripts';
import { defineMachine, exit, optional, required } from '../lib/define';
import {
  badConnectionExit,
  collectionInput,
  connectionInput,
  databaseInput,
  failedExit,
  itemKeyInput,
} from '../lib/shared';

export default defineMachine('set-item', {
  friendlyName: 'Set item',
  description: 'Write an item (a plain object) into a replicated collection and notify its subscribers.',
  extendedDescription:
    "One atomic script writes the item hash, its TTL, the collection's sequence number and change log, and publishes " +
    'the notification: either all of it happens or none. Writing the same contents again only refreshes the TTL: ' +
    'subscribers get no `set` event for it.',
  inputs: {
    connection: connectionInput,
    database: databaseInput,
    collection: collectionInput,
    key: itemKeyInput,
    data: required<Record<string, unknown>>({
      friendlyName: 'Data',
      description:
        'The item: a plain object whose field values are JSON (strings, numbers, booleans, null, arrays, objects).',
      extendedDescription:
        'Strings, numbers, arrays, null, Dates and class instances are refused, and nothing is written; so is a ' +
        'write over 4 MiB of key (URI-encoded) and JSON together (its notification must fit Redis pub/sub buffers).',
      example: { genre: 'Alternative' },
    }),
    ttl: optional<number>({
      friendlyName: 'Time-to-live (seconds)',
      description: 'Seconds until the item expires (fractions allowed). Without it, the item stays until deleted.',
      example: 86400,
    }),
    ifRevision: optional<number>({
      friendlyName: 'If revision',
      description:
        'Write only if the item still has this revision (0: only if it does not exist); otherwise exit `conflict`.',
      extendedDescription:
        "Checked inside the write script, so it holds across processes. An item's revision is the `revision` its " +
        'last write succeeded with (the `revision` its subscribers see).',
      example: 1764655100000000,
    }),
  },
  exits: {
    success: exit<{ seq: number; revision: number }>({
      description: 'The item was written and its subscribers notified.',
      outputFriendlyName: 'Report',
      outputDescription:
        "`revision`: the item's new revision (the write's stamp: Redis's clock in microseconds, larger than any " +
        "revision handed out before). `seq`: the collection's sequence number of this write.",
      outputExample: { seq: 42, revision: 1764655200000000 },
    }),
    conflict: exit<{ revision: number }>({
      description: 'The item did not have the revision `ifRevision` asked for: nothing was written.',
      outputFriendlyName: 'Current revision',
      outputDescription: "The `revision` property is the item's current revision (0 when it does not exist).",
      outputExample: { revision: 1764655200000001 },
    }),
    failed: failedExit(
      'Redis refused the write (out of memory, no permission, read-only replica…). Nothing was written, unless the ' +
        "error's `written` is true: then the item was written but not published (subscribers catch up from the log).",
    ),
    badConnection: badConnectionExit,
  },
  fn: async (inputs, exits) => {
    const client = liveConnection(inputs.connection);
    if (!client) return exits.badConnection(badConnectionReport(connectionProblem(inputs.connection)!));
    const keys = collectionKeys(inputs.database, inputs.collection);
    const encodedKey = encodeItemKey(inputs.key);
    const payload = encodeItem(inputs.data, inputs.key);
    assertWriteSize(encodedKey, payload, inputs.key);
    const ms = ttlMs(inputs.ttl, inputs.key);
    const condition = ifRevisionArg(inputs.ifRevision, inputs.key);
    try {
      const reply = await bounded(
        client,
        run(
          client,
          scripts.set,
          [keys.item(encodedKey), keys.meta, keys.log, keys.index],
          [
            keys.channel,
            encodedKey,
            String(LOG_LENGTH),
            publishCommand(connectionKind(inputs.connection) === 'cluster'),
            String(ms),
            payload,
            condition,
          ],
        ),
      );
      const r = reply as string[];
      if (r[0] === 'conflict') return exits.conflict({ revision: Number(r[1]) });
      return exits.success({ seq: Number(r[0]), revision: Number(r[1]) });
    } catch (err) {
      const f = writeFailure(err, `set item "${inputs.key}"`, client);
      return f.exit === 'failed' ? exits.failed(f.report) : exits.badConnection(f.report);
    }
  },
});
