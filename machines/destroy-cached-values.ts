import { badConnectionReport, bounded, connectionProblem, isConnectionError, liveConnection } from '../lib/connection';
import { defineMachine, exit, required } from '../lib/define';
import { coded, ErrorCodes, invalidInput } from '../lib/errors';
import { describeValue } from '../lib/options';
import { redactError } from '../lib/secrets';
import { nearCacheFor } from '../lib/near-cache';
import { badConnectionExit, connectionInput, failedExit, metaInput } from '../lib/shared';
import { toKey } from '../lib/values';

/** Keys per DEL command: large arrays are deleted in batches, so no single command grows without bound. */
const BATCH = 1000;

export default defineMachine('destroy-cached-values', {
  friendlyName: 'Destroy cached values',
  description: 'Delete the values stored under the given keys.',
  extendedDescription:
    'Duplicate keys are ignored; keys that do not exist are fine. An empty array succeeds and deletes nothing. Any number of keys is accepted (sent in batches).',
  sideEffects: 'idempotent',
  inputs: {
    connection: connectionInput,
    keys: required<Array<string | number>>({
      friendlyName: 'Keys',
      description: 'An array of keys to delete (non-empty strings or finite numbers).',
      example: ['myNamespace.foo.bar_baz'],
    }),
    meta: metaInput,
  },
  exits: {
    success: exit({
      description: 'The keys are gone.',
      outputFriendlyName: 'Report',
      outputDescription: 'Nothing of interest.',
      outputExample: { meta: '===' },
    }),
    invalidKeys: exit<{ error: Error; meta?: unknown }>({
      description: 'One of the keys is not a valid key (an empty string, an object, …); nothing was deleted.',
      outputFriendlyName: 'Report',
      outputDescription: 'The `error` property names the first bad key and its position.',
      outputExample: { error: '===', meta: '===' },
    }),
    failed: failedExit('Redis refused the deletion; the error says why. Some batches may have been deleted.'),
    badConnection: badConnectionExit,
  },
  fn: async (inputs, exits) => {
    const client = liveConnection(inputs.connection);
    if (!client) return exits.badConnection(badConnectionReport(connectionProblem(inputs.connection)!));
    if (!Array.isArray(inputs.keys))
      throw invalidInput(`\`keys\` must be an array of keys (got ${describeValue(inputs.keys)}).`);
    const keys = new Set<string>();
    for (let i = 0; i < inputs.keys.length; i++) {
      try {
        keys.add(toKey(inputs.keys[i], `keys[${i}]`));
      } catch (err) {
        return exits.invalidKeys({ error: err as Error });
      }
    }
    if (keys.size === 0) return exits.success();
    const all = [...keys];
    // meta.nearCache: drop the keys here before the deletion and again once it is acknowledged (see cacheValue).
    const near = nearCacheFor(client);
    if (near) for (const k of all) near.invalidate(k);
    try {
      const batches: Promise<unknown>[] = [];
      for (let i = 0; i < all.length; i += BATCH) batches.push(bounded(client, client.del(all.slice(i, i + BATCH))));
      await Promise.all(batches);
    } catch (err) {
      if (near) for (const k of all) near.invalidate(k);
      if (isConnectionError(err)) return exits.badConnection(badConnectionReport(err as Error, client));
      return exits.failed({
        error: coded(ErrorCodes.DEL_FAILED, `Redis refused to delete the keys: ${(err as Error).message}`, {
          originalError: redactError(err),
        }),
      });
    }
    if (near) for (const k of all) near.invalidate(k);
    return exits.success();
  },
});
