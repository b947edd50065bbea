/**
 * Errors the pack produces, in the shapes the `machine` runner gives, so both faces reject alike.
 *
 * Every `code` the pack can put on an error is a member of `ErrorCodes` below, and nowhere else a string literal:
 * code elsewhere writes `ErrorCodes.X`. test/unit/error-catalogue.test.ts compiles the package and fails on any
 * `E_…`/`ERR_…` literal that is not here and in the README's Errors table.
 */
import { redact } from './secrets';

/**
 * Every error code the pack produces, one place. Compare with these (`err.code === ErrorCodes.BAD_PASSWORD`).
 *
 * To add one: a member here with a one-line JSDoc (when it happens), a row in the README's Errors table (when it
 * happens, what the caller should do), and `ErrorCodes.X` (never the literal) where it is raised.
 *
 * Not listed, because they are not ours: a connection failure not recognised below keeps the Node.js code of the
 * socket or TLS error (`ENOTFOUND`, `ECONNRESET`, `ETIMEDOUT`, `CERT_HAS_EXPIRED`…), as machinepack-redis did.
 */
export const ErrorCodes = {
  // Connecting (getConnection's `failed` exit; the facade's errors quote them as their cause)
  /** The connection was refused (nothing listens there). */
  ECONNREFUSED: 'ECONNREFUSED',
  /** No answer within getConnection's `timeout`. */
  CONNECTION_TIMED_OUT: 'E_REDIS_CONNECTION_TIMED_OUT',
  /** Connecting failed for a reason without a code of its own (see the Node.js codes note above). */
  CONNECTION_FAILED: 'E_REDIS_CONNECTION_FAILED',
  /** The server refused the password (or the username/password pair). */
  BAD_PASSWORD: 'ERR_BAD_PASSWORD',
  /** The server needs a password and none was given. */
  NO_PASSWORD: 'ERR_NO_PASSWORD',
  /** A password was given to a server that has none; internal: the pack warns and reconnects without it. */
  PASSWORD_NOT_NEEDED: 'ERR_PASSWORD_NOT_NEEDED',
  /** node-redis refused the client options built from the connection string and `meta`. */
  INVALID_CLIENT_OPTIONS: 'E_INVALID_CLIENT_OPTIONS',
  /** The request needs something this connection kind or server lacks (legacy mode on a Cluster, ACL users). */
  UNSUPPORTED: 'E_UNSUPPORTED',
  /** `manager` is not a manager made by createManager(). */
  BAD_MANAGER: 'E_BAD_MANAGER',
  /** The manager was destroyed (destroyManager) before or while a connection was asked of it. */
  MANAGER_DESTROYED: 'E_MANAGER_DESTROYED',

  // Using a connection
  /** The connection is not usable (not ours, released, closed, or lost under the command). */
  BAD_CONNECTION: 'E_BAD_CONNECTION',
  /** Redis accepted a command and did not answer within `meta.commandTimeout`. */
  NO_REPLY: 'E_REDIS_NO_REPLY',
  /** A working connection failed or was lost (onUnexpectedFailure; the facade's one `error` per outage). */
  CONNECTION_LOST: 'E_REDIS_CONNECTION_LOST',
  /** authenticate: Redis refused the credentials for a reason other than a wrong password. */
  AUTH_FAILED: 'E_AUTH_FAILED',
  /** destroyCachedValues: Redis refused the DEL (e.g. a read-only replica, an ACL). */
  DEL_FAILED: 'E_REDIS_DEL_FAILED',
  /** A collection write (setItem, deleteItem): Redis refused the command (e.g. out of memory, read-only, an ACL). */
  REDIS_REFUSED: 'E_REDIS_REFUSED',
  /** A conditional collection write (`ifRevision`): the item did not have that revision; nothing was written. */
  CONFLICT: 'E_CONFLICT',
  /** subscribeCollection: the copy could not be loaded: Redis refused a command (WRONGTYPE, NOPERM…). */
  LOAD_FAILED: 'E_COLLECTION_LOAD_FAILED',

  // Inputs and stored data
  /** An input was not what the machine accepts; the message names the input (and the key). */
  INVALID_INPUT: 'E_INVALID_INPUT',
  /** A required input is missing (`UsageError`, `problems`), or (runner face) an input name is a likely typo. */
  INVALID_ARGINS: 'E_INVALID_ARGINS',
  /** Runner face: `.switch({...})` without an `error` handler (thrown at once; nothing runs). */
  MISSING_ERROR_HANDLER: 'E_MISSING_ERROR_HANDLER',
  /** Runner face: `.now()` on an asynchronous machine (thrown at once; nothing runs). */
  NOT_SYNCHRONOUS: 'E_NOT_SYNCHRONOUS',
  /** A stored value could not be decoded (not written by cacheValue). */
  BAD_STORED_VALUE: 'E_BAD_STORED_VALUE',
  /** `meta.nearCache` is not `true`, `false` or `{ maxEntries }`, or was asked of a Cluster or Sentinel manager. */
  INVALID_NEAR_CACHE: 'E_INVALID_NEAR_CACHE',

  // The facade (createClient → database → collection)
  /** The facade's client has quit (`quit()`), or quit before a subscription was loaded. */
  CLIENT_QUIT: 'E_CLIENT_QUIT',
  /** A facade call failed: Redis refused it (the machine's `failed` exit); the cause is in the message. */
  FAILED: 'E_FAILED',
  /** A facade call failed: the connection string or options were refused (createManager's `malformed` exit). */
  MALFORMED: 'E_MALFORMED',

  // A machine's non-success exit rejects with `code` = `exit` = the exit's name; its output's `error` has a code above.
  /** The exit `badConnection`: the connection is not usable (output `error`: BAD_CONNECTION or NO_REPLY). */
  EXIT_BAD_CONNECTION: 'badConnection',
  /** The exit `failed`: the operation could not be done (output `error` says why, with a code above). */
  EXIT_FAILED: 'failed',
  /** The exit `malformed` (createManager): the connection string or `meta` is unusable. */
  EXIT_MALFORMED: 'malformed',
  /** The exit `notFound` (getCachedValue): no value under the key. */
  EXIT_NOT_FOUND: 'notFound',
  /** The exit `conflict` (setItem, deleteItem, writeItems): a condition (`ifRevision`) did not hold. */
  EXIT_CONFLICT: 'conflict',
  /** The exit `invalidKeys` (destroyCachedValues): a key in `keys` is not a key. */
  EXIT_INVALID_KEYS: 'invalidKeys',

  // Replicated collections: trouble a copy reports on the client's `error` event (nothing stops; it repairs itself)
  /** A message on a collection's channel was refused (malformed, or not continuing the log: a forgery?). */
  BAD_NOTIFICATION: 'E_BAD_NOTIFICATION',
  /** A copy could not catch up with Redis (unreachable, refused); it retries with backoff up to `syncInterval`. */
  CATCH_UP_FAILED: 'E_CATCH_UP_FAILED',
  /** A copy found it did not match Redis (a forged notification, or Redis back at an older snapshot); it resyncs. */
  COPY_DIVERGED: 'E_COPY_DIVERGED',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Codes of process warnings (`process.emitWarning`) the pack emits: not errors, nothing fails. */
export const WarningCodes = {
  /** A `meta` option of node-redis v3 that has no equivalent on v6 was ignored; the message says which and why. */
  META_IGNORED: 'MPR_META_IGNORED',
  /** A password was given to a server that has none; the pack connected without it (as v3 did). */
  PASSWORD_NOT_NEEDED: 'MPR_PASSWORD_NOT_NEEDED',
} as const;

/**
 * Node.js codes of socket errors (net, tls, streams) that mean the connection broke under a command. They are not
 * ours, only recognised: such an error is reported through `badConnection` (code BAD_CONNECTION).
 */
export const SOCKET_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'ENOTCONN',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_DESTROYED',
  'ERR_SOCKET_CLOSED',
]);

/**
 * An Error with a `code`, like `flaverr(code, new Error(message))`. The message goes through `redact` (URL
 * credentials masked), since messages quote inputs (keys, URLs, values' descriptions); a message about a manager's
 * connection is masked with that manager's secrets by its builder (`manager.redact`) before it gets here.
 */
export function coded<T extends object = object>(
  code: ErrorCode,
  message: string,
  props?: T,
): Error & { code: string } & T {
  const err = new Error(redact(message)) as Error & { code: string } & T;
  err.code = code;
  if (props) Object.assign(err, props);
  return err;
}

/** A caller's mistake in an input: the message names the input (and the key, where there is one). */
export function invalidInput(message: string): Error & { code: string } {
  const err = coded(ErrorCodes.INVALID_INPUT, message);
  err.name = 'UsageError';
  return err;
}

/** The shape the runner gives a non-success exit: name `Exception`, `code` and `exit` = the exit, `raw` = output. */
export interface ExitException extends Error {
  name: 'Exception';
  code: string;
  exit: string;
  raw: unknown;
}

export function exitError(method: string, exitName: string, description: string, raw: unknown): ExitException {
  const cause =
    raw && typeof raw === 'object' && (raw as { error?: unknown }).error instanceof Error
      ? (raw as { error: Error }).error
      : undefined;
  const detail = cause ? `\n${redact(cause.message)}` : '';
  const err = new Error(`\`${method}\` failed ("${exitName}"). ${description}${detail}`) as ExitException;
  err.name = 'Exception';
  err.code = exitName;
  err.exit = exitName;
  err.raw = raw;
  return err;
}

/** The shape the runner gives missing required inputs: `UsageError` / `E_INVALID_ARGINS` with `problems`. */
export function usageError(method: string, problems: string[]): Error & { code: string; problems: string[] } {
  const err = coded(
    ErrorCodes.INVALID_ARGINS,
    `Could not run ${method}() because of a problem:\n${problems.map((p) => `• ${p}`).join('\n')}\nPlease adjust your usage and try again.`,
    { problems },
  );
  err.name = 'UsageError';
  return err;
}
