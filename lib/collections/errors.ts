import { MultiErrorReply } from 'redis';
import { badConnectionReport, isConnectionError } from '../connection';
import { coded, ErrorCodes } from '../errors';
import { redact, redactError } from '../secrets';
import { SCRIPT_ERROR } from './scripts';

/**
 * Redis's own words for a failure. A MULTI or pipeline whose commands failed rejects with node-redis's
 * "1 commands failed, see .replies…": give each failed reply's reason instead.
 */
export function redisReason(err: unknown): string {
  if (err instanceof MultiErrorReply) return [...err.errors()].map((e) => e.message).join('; ');
  return err instanceof Error ? err.message : String(err);
}

/**
 * Sort a failed write: the connection (→ badConnection) or Redis refusing it (→ failed, with Redis's reason).
 * The error's `written` says whether anything was written: only a write whose notification was refused (PUBLISH
 * not allowed) is written; the script checks everything else before its first write.
 */
export function writeFailure(
  err: unknown,
  what: string,
  client?: unknown,
): { exit: 'badConnection' | 'failed'; report: { error: Error } } {
  if (isConnectionError(err)) return { exit: 'badConnection', report: badConnectionReport(err as Error, client) };
  let message = redact(redisReason(err));
  let written = false;
  if (message.startsWith(`${SCRIPT_ERROR} `)) {
    message = message.slice(SCRIPT_ERROR.length + 1);
    written = message.startsWith('written');
  } else {
    message = `nothing was written: ${message}`;
  }
  return {
    exit: 'failed',
    report: {
      error: coded(ErrorCodes.REDIS_REFUSED, `Redis refused to ${what}; ${message}`, {
        originalError: redactError(err),
        written,
      }),
    },
  };
}
