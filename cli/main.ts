#!/usr/bin/env node
/**
 * `machinepack-redis-ts`: a look inside replicated collections from the command line (list, get, watch) and in
 * a local web page (inspect). Items are read through the facade (`createClient → database → collection`), as
 * any program would; only discovery (which collections exist) reads Redis keys, with SCAN.
 *
 * Output goes to stdout; progress notes and the one-line reason of a failure go to stderr. Exit codes: 0 done,
 * 1 Redis unreachable / refused / nothing found, 2 a usage mistake (bad arguments, bad URL).
 */
import { createClient, type Collection, type MemisClient } from '../index';
import { CliError, USAGE, displayUrl, parseArgs, type Invocation } from './args';
import {
  CONNECT_TIMEOUT_MS,
  collectionExists,
  describeCollection,
  findCollections,
  oneLine,
  openSession,
  type Session,
} from './discovery';
import { revisionOf } from './features';
import { startInspector } from './inspect';

const NAME = 'machinepack-redis-ts';

export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** Resolves when the user asks to stop (Ctrl-C, SIGTERM). */
  stopped: Promise<void>;
}

/** Run one command; resolves with the exit code. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  try {
    const invocation = parseArgs(argv, env);
    if (invocation.command.name === 'help') {
      io.out(USAGE);
      return 0;
    }
    const session = await openSession(invocation.url, invocation.password);
    try {
      return await run(invocation, session, io);
    } finally {
      await session.close().catch(() => undefined);
    }
  } catch (err) {
    if (err instanceof CliError) {
      io.err(`${NAME}: ${err.message}`);
      return err.exitCode;
    }
    io.err(`${NAME}: ${oneLine(err)}`);
    return 1;
  }
}

async function run(invocation: Invocation, session: Session, io: Io): Promise<number> {
  const { command, url, password } = invocation;
  switch (command.name) {
    case 'list': {
      const pairs = await findCollections(session.connection, command.database);
      if (command.database === undefined) {
        const counts = new Map<string, number>();
        for (const [d] of pairs) counts.set(d, (counts.get(d) ?? 0) + 1);
        if (counts.size === 0) io.err(`No databases at ${displayUrl(url)}.`);
        for (const [d, n] of counts) io.out(`${d}\t${n} collection${n === 1 ? '' : 's'}`);
        return 0;
      }
      if (pairs.length === 0) io.err(`No collections in database ${JSON.stringify(command.database)}.`);
      for (const [d, c] of pairs) {
        const info = await describeCollection(session.connection, d, c);
        io.out(`${c}\t${info.items} item${info.items === 1 ? '' : 's'}\trevision ${info.revision}`);
      }
      return 0;
    }
    case 'get': {
      if (!(await collectionExists(session.connection, command.database, command.collection)))
        throw new CliError(`No collection ${where(command.database, command.collection)}.`);
      return await withCollection(url, password, command.database, command.collection, io, async (collection) => {
        await loaded(collection, io);
        if (command.key !== undefined) {
          const data = collection.get(command.key);
          if (data === undefined)
            throw new CliError(
              `No item ${JSON.stringify(command.key)} in ${where(command.database, command.collection)}.`,
            );
          io.out(JSON.stringify(data, null, 2));
          return 0;
        }
        const all: Record<string, unknown> = {};
        for (const key of collection.keys().sort()) all[key] = collection.get(key);
        io.out(JSON.stringify(all, null, 2));
        return 0;
      });
    }
    case 'watch':
      return await withCollection(url, password, command.database, command.collection, io, async (collection) => {
        const print = (event: string) => (key: string, data: object, info?: unknown) => {
          const revision = revisionOf(collection, key, info);
          io.out(
            command.json
              ? JSON.stringify({ event, key, data, revision })
              : `${event} ${keyText(key)} ${JSON.stringify(data)}${revision === null ? '' : ` (revision ${revision})`}`,
          );
        };
        collection.on('set', print('set')).on('expire', print('expire')).on('delete', print('delete'));
        await loaded(collection, io);
        io.err(
          `Watching ${where(command.database, command.collection)} at ${displayUrl(url)}: ${collection.size} item${collection.size === 1 ? '' : 's'} above, changes follow. Ctrl-C to stop.`,
        );
        await io.stopped;
        return 0;
      });
    case 'inspect': {
      const inspector = await startInspector({
        url,
        password,
        host: command.host,
        port: command.port,
        connection: session.connection,
        onProblem: (message) => io.err(message),
      });
      io.out(`Inspector for ${displayUrl(url)} on ${inspector.address} (Ctrl-C to stop)`);
      await io.stopped;
      await inspector.close();
      return 0;
    }
  }
  return 0;
}

/** `"d"/"c"` for messages. */
function where(database: string, collection: string): string {
  return `${JSON.stringify(database)}/${JSON.stringify(collection)}`;
}

/** An item key as printed by `watch`: bare when unambiguous, else as a JSON string. */
function keyText(key: string): string {
  return /^[\w.:@/+-]+$/.test(key) ? key : JSON.stringify(key);
}

/** A facade client for one collection, quit afterwards; trouble it reports goes to stderr (once per message). */
async function withCollection(
  url: string,
  password: string | undefined,
  database: string,
  name: string,
  io: Io,
  use: (collection: Collection<object>) => Promise<number>,
): Promise<number> {
  const client: MemisClient = createClient(url, password ? { password } : {});
  let last = '';
  client.on('error', (err: unknown) => {
    const line = `${NAME}: ${oneLine(err)}`;
    if (line !== last) io.err(line);
    last = line;
  });
  try {
    return await use(client.database(database).collection<object>(name));
  } finally {
    await client.quit();
  }
}

/** Wait for the local copy to load; Redis went away since the check when that takes too long. */
async function loaded(collection: Collection<object>, io: Io): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const limit = 2 * CONNECT_TIMEOUT_MS;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new CliError(`Could not load ${where(collection.database, collection.name)} within ${limit / 1000} s.`)),
      limit,
    );
  });
  try {
    await Promise.race([collection.subscribe(), late, io.stopped.then(() => undefined)]);
  } finally {
    clearTimeout(timer);
  }
}

if (require.main === module) {
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  // A closed pipe (`… | head`) ends the command quietly.
  process.stdout.on('error', () => process.exit(0));
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`${NAME}: ${oneLine(err)}\n`);
    process.exit(1);
  });
  void main(process.argv.slice(2), process.env, {
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
    stopped,
  }).then((code) => {
    process.exitCode = code;
  });
}
