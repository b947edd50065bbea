/**
 * Error classification: which errors mean the connection (not the command) failed, and what a failed connect
 * attempt reports to the caller.
 */
import { coded, ErrorCodes } from '../errors';
import { redact, redactError } from '../secrets';

/** Errors that mean the connection, not the command, failed: reported through `badConnection`. */
const CONNECTION_ERRORS = new Set([
  'ClientClosedError',
  'ClientOfflineError',
  'SocketClosedUnexpectedlyError',
  'ConnectionTimeoutError',
  'SocketTimeoutError',
  'DisconnectsClientError',
  'ReconnectStrategyError',
  'NoReplyError',
]);
/** Socket-level error codes: the connection broke under the command. */
const SOCKET_CODES = new Set([
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
export function isConnectionError(err: unknown): boolean {
  return (
    err instanceof Error &&
    (CONNECTION_ERRORS.has(err.constructor.name) || SOCKET_CODES.has((err as { code?: string }).code ?? ''))
  );
}

export function classify(err: Error | undefined): Error {
  if (!err) return coded('E_REDIS_CONNECTION_FAILED', 'Could not connect to Redis.');
  const cause = (err as { originalError?: Error }).originalError ?? err;
  const message = redact(cause.message);
  const code = (cause as { code?: string }).code;
  if (code === 'ECONNREFUSED')
    return coded(ErrorCodes.ECONNREFUSED, `Redis refused the connection: ${message}`, {
      originalError: redactError(cause),
    });
  if (/^WRONGPASS|invalid password/i.test(message)) {
    return coded(
      ErrorCodes.BAD_PASSWORD,
      'The password (or username and password) supplied to the Redis server was incorrect.',
      { originalError: redactError(cause) },
    );
  }
  if (/AUTH <password> called without any password configured/.test(message)) {
    return coded('ERR_PASSWORD_NOT_NEEDED', 'A password was given but the Redis server has none configured.', {
      originalError: redactError(cause),
    });
  }
  if (/^NOAUTH/.test(message)) {
    return coded(ErrorCodes.NO_PASSWORD, 'The Redis server requires a password, but none was supplied.', {
      originalError: redactError(cause),
    });
  }
  return coded(code ?? 'E_REDIS_CONNECTION_FAILED', `Could not connect to Redis: ${message}`, {
    originalError: redactError(cause),
  });
}
