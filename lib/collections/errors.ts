import { badConnectionReport, isConnectionError } from '../connection';
import { coded, ErrorCodes } from '../errors';
import { redact, redactError } from '../secrets';

/** Sort a failed write: the connection (→ badConnection) or Redis refusing it (→ failed, with Redis's reason). */
export function writeFailure(
  err: unknown,
  what: string,
  client?: unknown,
): { exit: 'badConnection' | 'failed'; report: { error: Error } } {
  if (isConnectionError(err)) return { exit: 'badConnection', report: badConnectionReport(err as Error, client) };
  const message = redact(err instanceof Error ? err.message : String(err));
  return {
    exit: 'failed',
    report: {
      error: coded(ErrorCodes.REDIS_REFUSED, `Redis refused to ${what}: ${message}`, {
        originalError: redactError(err),
      }),
    },
  };
}
