/**
 * Error classification: which errors mean the connection (not the command) failed, and what a failed connect
 * attempt reports to the caller.
 */
import {
  ClientClosedError,
  ClientOfflineError,
  ConnectionTimeoutError,
  DisconnectsClientError,
  ReconnectStrategyError,
  SocketClosedUnexpectedlyError,
  SocketTimeoutError,
} from 'redis';
import { coded, ErrorCodes, SOCKET_ERROR_CODES } from '../errors';
import type { Manager } from './manager';
import { NoReplyError } from './reply-watch';

/**
 * Errors that mean the connection, not the command, failed: reported through `badConnection`.
 *
 * Why by class: node-redis gives its connection errors no `code` and words their messages freely, so the class is
 * the one stable mark. They are checked with `instanceof` against the classes of the same `redis` package that
 * made the client (not by `constructor.name` strings, which a bundler's minifier or a renamed subclass would
 * silently break): a class node-redis renames or drops fails to compile here instead of sending its errors to
 * `failed`. Errors of the socket itself (net, tls) have no class of their own; they are recognised by their Node.js
 * `code` (SOCKET_ERROR_CODES in lib/errors.ts). Redis's own replies (ErrorReply) are neither: they are `failed`.
 */
const CONNECTION_ERRORS: ReadonlyArray<abstract new (...args: never[]) => Error> = [
  ClientClosedError,
  ClientOfflineError,
  SocketClosedUnexpectedlyError,
  ConnectionTimeoutError,
  SocketTimeoutError,
  DisconnectsClientError,
  ReconnectStrategyError,
  NoReplyError,
];
export function isConnectionError(err: unknown): boolean {
  return (
    err instanceof Error &&
    (CONNECTION_ERRORS.some((c) => err instanceof c) || SOCKET_ERROR_CODES.has((err as { code?: string }).code ?? ''))
  );
}

/**
 * The error a failed connect attempt reports, secrets of `manager` masked. The socket's failures are told apart
 * by their Node.js `code`; the server's refusals by the first word of its reply (`WRONGPASS`, `NOAUTH`…: Redis's
 * own error codes, which node-redis leaves in the message), the one stable mark a reply has.
 */
export function classify(err: Error | undefined, manager: Manager): Error {
  if (!err) return coded(ErrorCodes.CONNECTION_FAILED, 'Could not connect to Redis.');
  const cause = (err as { originalError?: Error }).originalError ?? err;
  const message = manager.redact(cause.message);
  const code = (cause as { code?: string }).code;
  if (code === 'ECONNREFUSED')
    return coded(ErrorCodes.ECONNREFUSED, `Redis refused the connection: ${message}`, {
      originalError: manager.redactError(cause),
    });
  if (/^WRONGPASS|invalid password/i.test(message)) {
    return coded(
      ErrorCodes.BAD_PASSWORD,
      'The password (or username and password) supplied to the Redis server was incorrect.',
      { originalError: manager.redactError(cause) },
    );
  }
  if (/AUTH <password> called without any password configured/.test(message)) {
    return coded(ErrorCodes.PASSWORD_NOT_NEEDED, 'A password was given but the Redis server has none configured.', {
      originalError: manager.redactError(cause),
    });
  }
  if (/^NOAUTH/.test(message)) {
    return coded(ErrorCodes.NO_PASSWORD, 'The Redis server requires a password, but none was supplied.', {
      originalError: manager.redactError(cause),
    });
  }
  const failed = coded(ErrorCodes.CONNECTION_FAILED, `Could not connect to Redis: ${message}`, {
    originalError: manager.redactError(cause),
  });
  if (code) failed.code = code; // the socket's or TLS's Node.js code (ENOTFOUND…), as machinepack-redis gave it
  return failed;
}
