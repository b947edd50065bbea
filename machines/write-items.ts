import { badConnectionReport, bounded, connectionKind, connectionProblem, liveConnection } from '../lib/connection';
import {
  collectionKeys,
  encodeOperations,
  MAX_BATCH,
  MAX_PAYLOAD_BYTES,
  type WriteOperation,
} from '../lib/collections/codec';
import { writeFailure } from '../lib/collections/errors';
import { LOG_LENGTH, publishCommand, run, scripts } from '../lib/collections/scripts';
import { defineMachine, exit, required } from '../lib/define';
import { badConnectionExit, collectionInput, connectionInput, databaseInput, failedExit } from '../lib/shared';

export default defineMachine('write-items', {
  friendlyName: 'Write items',
  description: 'Set and delete several items of a replicated collection at once: all of them, or none.',
  extendedDescription:
    'One atomic script checks every condition (`ifRevision`), then writes every item, one change log entry and one ' +
    'notification: subscribers apply the batch as one step (a listener told of one operation already reads every ' +
    'item of the batch in its new state). The whole batch is one write: its sets share one revision. Each key may ' +
    `appear once; at most ${MAX_BATCH} operations and ${MAX_PAYLOAD_BYTES} bytes of keys and item JSON (its ` +
    "notification must stay under Redis's pub/sub output buffer limit). Bad data is refused before anything is sent.",
  inputs: {
    connection: connectionInput,
    database: databaseInput,
    collection: collectionInput,
    operations: required<WriteOperation[]>({
      friendlyName: 'Operations',
      description:
        "The writes, in order: `{ op: 'set', key, data, ttl?, ifRevision? }` or `{ op: 'delete', key, ifRevision? }`.",
      extendedDescription:
        '`ttl` is in seconds; `ifRevision` is the revision the item must have (0: it must not exist), else the ' +
        'whole batch exits `conflict` and nothing is written.',
      example: [
        { op: 'set', key: 'coldplay', data: { genre: 'Alternative' } },
        { op: 'delete', key: 'queen', ifRevision: 1764655100000000 },
      ],
    }),
  },
  exits: {
    success: exit<{ seq: number; revisions: number[] }>({
      description: 'Every operation was applied, and subscribers notified once.',
      outputFriendlyName: 'Report',
      outputDescription:
        "`revisions`: each operation's new revision, in order (the batch's stamp for a set, 0 for a delete: the " +
        "item no longer exists). `seq`: the collection's sequence number of the batch (0 when it changed nothing).",
      outputExample: { seq: 42, revisions: [1764655200000000] },
    }),
    conflict: exit<{ key: string; index: number; revision: number }>({
      description: "An operation's condition (`ifRevision`) did not hold: nothing was written.",
      outputFriendlyName: 'Conflict',
      outputDescription:
        "`key` and `index` (from 0) name the first operation whose condition failed; `revision` is that item's " +
        'current revision (0 when it does not exist).',
      outputExample: { key: 'queen', index: 1, revision: 1764655200000001 },
    }),
    failed: failedExit(
      'Redis refused the batch (out of memory, no permission, read-only replica…). Nothing was written, unless the ' +
        "error's `written` is true: then the batch was written but not published (subscribers catch up from the log).",
    ),
    badConnection: badConnectionExit,
  },
  fn: async (inputs, exits) => {
    const client = liveConnection(inputs.connection);
    if (!client) return exits.badConnection(badConnectionReport(connectionProblem(inputs.connection)!));
    const keys = collectionKeys(inputs.database, inputs.collection);
    const { encodedKeys, args } = encodeOperations(inputs.operations);
    const itemKeys = encodedKeys.map((k) => keys.item(k));
    try {
      const reply = (await bounded(
        client,
        run(
          client,
          scripts.write,
          [itemKeys[0]!, keys.meta, keys.log, keys.index, ...itemKeys],
          [
            keys.channel,
            '',
            String(LOG_LENGTH),
            publishCommand(connectionKind(inputs.connection) === 'cluster'),
            ...args,
          ],
        ),
      )) as string[];
      if (reply[0] === 'conflict') {
        const index = Number(reply[1]) - 1;
        return exits.conflict({ key: inputs.operations[index]!.key, index, revision: Number(reply[2]) });
      }
      return exits.success({ seq: Number(reply[0]), revisions: reply.slice(1).map(Number) });
    } catch (err) {
      const f = writeFailure(err, `write ${encodedKeys.length} items`, client);
      return f.exit === 'failed' ? exits.failed(f.report) : exits.badConnection(f.report);
    }
  },
});
