/**
 * The machine definitions, keyed by method name. Both faces and the collections facade are built from these.
 */
import authenticate from '../machines/authenticate';
import cacheValue from '../machines/cache-value';
import deleteItem from '../machines/delete-item';
import createConnectionUrl from '../machines/create-connection-url';
import createManager from '../machines/create-manager';
import destroyCachedValues from '../machines/destroy-cached-values';
import destroyManager from '../machines/destroy-manager';
import getCachedValue from '../machines/get-cached-value';
import getConnection from '../machines/get-connection';
import releaseConnection from '../machines/release-connection';
import setItem from '../machines/set-item';
import subscribeCollection from '../machines/subscribe-collection';
import writeItems from '../machines/write-items';

export const machines = {
  createManager,
  getConnection,
  releaseConnection,
  destroyManager,
  cacheValue,
  getCachedValue,
  destroyCachedValues,
  createConnectionUrl,
  authenticate,
  setItem,
  deleteItem,
  writeItems,
  subscribeCollection,
};
export type Machines = typeof machines;
