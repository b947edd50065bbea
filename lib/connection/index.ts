/**
 * Managers and the connections they own. One idea per file:
 * - manager.ts: the Manager (configuration, connections handed out, failure reports)
 * - open.ts: opening connections (single server, Cluster, Sentinel), bounded by a timeout; the reset of a hung one
 * - reply-watch.ts: the bound on waiting for replies
 * - traffic.ts: the bytes arriving on a connection's socket (the reply watch's progress)
 * - registry.ts: what we know about each connection (live, released, whose), and the checks machines run
 * - classify.ts: which errors are connection errors, and what a failed connect reports
 */
export type { RedisClient } from './client';
export { isConnectionError } from './classify';
export { DEFAULT_COMMAND_TIMEOUT_MS, isManager, Manager, type FailureHandler, type UnexpectedFailure } from './manager';
export { destroyManager, openConnection } from './open';
export {
  badConnectionReport,
  bounded,
  boundedThen,
  connectionKind,
  connectionProblem,
  liveConnection,
  liveState,
  managerOf,
  releaseConnection,
  sendPlain,
  type ConnectionState,
} from './registry';
export { NoReplyError } from './reply-watch';
