/**
 * Inputs and exits several machines share, defined once.
 */
import type { RedisClient } from './connection/client';
import { exit, optional, required } from './define';

/** A connection from getConnection (a node-redis 6 client). */
export type Connection = RedisClient;

export const connectionInput = required<Connection>({
  friendlyName: 'Connection',
  description: 'A live Redis connection, as returned by getConnection().',
  extendedDescription: "It must come from this pack's getConnection() and not have been released.",
  example: '===',
});

export const metaInput = optional<Record<string, unknown>>({
  friendlyName: 'Meta (custom)',
  description: 'Reserved for driver-specific options; accepted and ignored by this machine.',
  example: '===',
});

/** Output of every exit that carries an Error (`failed`, `malformed`, `invalidKeys`, `badConnection`). */
export interface ErrorReport {
  /** What went wrong; its `code` is one of `ErrorCodes`. */
  error: Error;
  meta?: unknown;
}

/** @deprecated The same type as `ErrorReport`; use that. Kept so existing imports compile. */
export type BadConnectionReport = ErrorReport;

export const badConnectionExit = exit<ErrorReport>({
  description: 'The connection is not usable: not one of ours, already released, or its server is unreachable.',
  extendedDescription:
    'Usually a logic error (a connection used after release) or a server that went away while work was in progress. ' +
    'A connection whose server comes back becomes usable again by itself.',
  outputFriendlyName: 'Report',
  outputDescription: 'The `error` property says why the connection could not be used.',
  outputExample: { error: '===', meta: '===' },
});

export const failedExit = (description: string) =>
  exit<ErrorReport>({
    description,
    outputFriendlyName: 'Report',
    outputDescription: 'The `error` property is an Error explaining what went wrong.',
    outputExample: { error: '===', meta: '===' },
  });

export const databaseInput = required<string>({
  friendlyName: 'Database',
  description:
    'The database the collection belongs to (any non-empty string; it names a namespace, not a Redis DB number).',
  example: 'region-nl',
});

export const collectionInput = required<string>({
  friendlyName: 'Collection',
  description: "The collection's name (any non-empty string).",
  example: 'artists',
});

export const itemKeyInput = required<string>({
  friendlyName: 'Key',
  description: "The item's key within its collection (any non-empty string).",
  example: 'coldplay',
});
