import { badConnectionReport, bounded, connectionKind, connectionProblem, liveConnection } from '../lib/connection';
import { collectionKeys, encodeItemKey } from '../lib/collections/codec';
import { writeFailure } from '../lib/collections/errors';
import { LOG_LENGTH, publishCommand, run, scripts } from '../lib/collections/scripts';
import { defineMachine, exit } from '../lib/define';
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
  },
  exits: {
    success: exit<{ deleted: boolean }>({
      description: 'The item is gone.',
      outputFriendlyName: 'Report',
      outputDescription: 'The `deleted` property says whether there was an item to delete.',
      outputExample: { deleted: true },
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
    try {
      const seq = await bounded(
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
          ],
        ),
      );
      return exits.success({ deleted: Number(seq) > 0 });
    } catch (err) {
      const f = writeFailure(err, `delete item "${inputs.key}"`, client);
      return f.exit === 'failed' ? exits.failed(f.report) : exits.badConnection(f.report);
    }
  },
});
