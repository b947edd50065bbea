import { badConnectionReport, bounded, connectionKind, connectionProblem, liveConnection } from '../lib/connection';
import { collectionKeys, encodeItemKey, ifRevisionArg } from '../lib/collections/codec';
import { writeFailure } from '../lib/collections/errors';
import { LOG_LENGTH, publishCommand, run, scripts } from '../lib/collections/scripts';
import { defineMachine, exit, optional } from '../lib/define';
import {
  badConnectionExit,
  collectionInput,
  connectionInput,
  databaseInput,
  failedExit,
  itemKeyInput,
} from '../lib/shared';

export default defineMachine('delete-item', {
  friendlyName: 'Delete item',
  description: 'Delete an item from a replicated collection; subscribers get `delete` with their last copy.',
  extendedDescription:
    'Deleting an item that does not exist (or already expired) succeeds with `deleted: false` and notifies nobody.',
  sideEffects: 'idempotent',
  inputs: {
    connection: connectionInput,
    database: databaseInput,
    collection: collectionInput,
    key: itemKeyInput,
    ifRevision: optional<number>({
      friendlyName: 'If revision',
      description: 'Delete only if the item still has this revision; otherwise exit `conflict`.',
      extendedDescription:
        'Checked inside the delete script, so it holds across processes. 0 means "only if it does not exist", ' +
        'which deletes nothing and succeeds with `deleted: false` when the item is absent.',
      example: 1764655100000000,
    }),
  },
  exits: {
    success: exit<{ deleted: boolean }>({
      description: 'The item is gone.',
      outputFriendlyName: 'Report',
      outputDescription: 'The `deleted` property says whether there was an item to delete.',
      outputExample: { deleted: true },
    }),
    conflict: exit<{ revision: number }>({
      description: 'The item did not have the revision `ifRevision` asked for: nothing was deleted.',
      outputFriendlyName: 'Current revision',
      outputDescription: "The `revision` property is the item's current revision (0 when it does not exist).",
      outputExample: { revision: 1764655200000001 },
    }),
    failed: failedExit(
      'Redis refused the deletion (no permission, read-only replica…). Nothing changed, unless the ' +
        "error's `written` is true: then the item was deleted but not published (subscribers catch up from the log).",
    ),
    badConnection: badConnectionExit,
  },
  fn: async (inputs, exits) => {
    const client = liveConnection(inputs.connection);
    if (!client) return exits.badConnection(badConnectionReport(connectionProblem(inputs.connection)!));
    const keys = collectionKeys(inputs.database, inputs.collection);
    const encodedKey = encodeItemKey(inputs.key);
    const condition = ifRevisionArg(inputs.ifRevision, inputs.key);
    try {
      const reply = await bounded(
        client,
        run(
          client,
          scripts.delete,
          [keys.item(encodedKey), keys.meta, keys.log, keys.index],
          [
            keys.channel,
            encodedKey,
            String(LOG_LENGTH),
            publishCommand(connectionKind(inputs.connection) === 'cluster'),
            condition,
          ],
        ),
      );
      if (Array.isArray(reply)) return exits.conflict({ revision: Number(reply[1]) });
      return exits.success({ deleted: Number(reply) > 0 });
    } catch (err) {
      const f = writeFailure(err, `delete item "${inputs.key}"`, client);
      return f.exit === 'failed' ? exits.failed(f.report) : exits.badConnection(f.report);
    }
  },
});
