/**
 * Errors the pack produces, in the shapes the `machine` runner gives, so both faces reject alike.
 */
import { redact } from './secrets';

/** Error codes carried by `failed` and `error` outcomes. */
export const ErrorCodes = {
  /** The connection was refused (nothing listens there). */
  ECONNREFUSED: 'ECONNREFUSED',
  /** No answer within getConnection's `timeout`. */
  CONNECTION_TIMED_OUT: 'E_REDIS_CONNECTION_TIMED_OUT',
  /** The server refused the password (or the username/password pair). */
  BAD_PASSWORD: 'ERR_BAD_PASSWORD',
  /** The server needs a password and none was given. */
  NO_PASSWORD: 'ERR_NO_PASSWORD',
  /** An input was not what the machine accepts. */
  INVALID_INPUT: 'E_INVALID_INPUT',
  /** A stored value could not be decoded. */
  BAD_STORED_VALUE: 'E_BAD_STORED_VALUE',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** An Error with a `code`, like `flaverr(code, new Error(message))`. */
export function coded<T extends object = object>(
  code: string,
  message: string,
  props?: T,
): Error & { code: string } & T {
  const err = new Error(message) as Error & { code: string } & T;
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
    'E_INVALID_ARGINS',
    `Could not run ${method}() because of a problem:\n${problems.map((p) => `• ${p}`).join('\n')}\nPlease adjust your usage and try again.`,
    { problems },
  );
  err.name = 'UsageError';
  return err;
}
