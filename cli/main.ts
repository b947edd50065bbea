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
  LOAD_TIMEOUT_MS,
  collectionExists,
  describeCollection,
  findCollections,
  oneLine,
  openSession,
  type Session,
} from './discovery';
import { revisionOf } from './features';
import { startInspector } from './inspect';
import { jsonText, nameText, quoted } from './text';

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
        for (const [d, n] of counts) io.out(`${nameText(d)}\t${n} collection${n === 1 ? '' : 's'}`);
        return 0;
      }
      if (pairs.length === 0) io.err(`No collections in database ${quoted(command.database)}.`);
      for (const [d, c] of pairs) {
        const info = await describeCollection(session.connection, d, c);
        io.out(`${nameText(c)}\t${info.items} item${info.items === 1 ? '' : 's'}\trevision ${info.revision}`);
      }
      return 0;
    }
    case 'get': {
      if (!(await collectionExists(session.connection, command.database, command.collection)))
        throw new CliError(`No collection ${where(command.database, command.collection)}.`);
      return await withCollection(url, password, command.database, command.collection, io, async (collection, load) => {
        await load();
        if (command.key !== undefined) {
          const data = collection.get(command.key);
          if (data === undefined)
            throw new CliError(`No item ${quoted(command.key)} in ${where(command.database, command.collection)}.`);
          io.out(jsonText(data, 2));
          return 0;
        }
        const all: Record<string, unknown> = {};
        for (const key of collection.keys().sort()) all[key] = collection.get(key);
        io.out(jsonText(all, 2));
        return 0;
      });
    }
    case 'watch':
      return await withCollection(url, password, command.database, command.collection, io, async (collection, load) => {
        const print = (event: string) => (key: string, data: object, info?: unknown) => {
          const revision = revisionOf(collection, key, info);
          io.out(
            command.json
              ? jsonText({ event, key, data, revision })
              : `${event} ${nameText(key)} ${jsonText(data)}${revision === null ? '' : ` (revision ${revision})`}`,
          );
        };
        collection.on('set', print('set')).on('expire', print('expire')).on('delete', print('delete'));
        await load();
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
  return `${quoted(database)}/${quoted(collection)}`;
}

/**
 * A facade client for one collection, quit afterwards. `use` calls `load()` to load the local copy. Trouble the
 * client reports while loading becomes the reason of the one-line failure when loading does not finish; after
 * that, it goes to stderr (once per message) while the command goes on.
 */
async function withCollection(
  url: string,
  password: string | undefined,
  database: string,
  name: string,
  io: Io,
  use: (collection: Collection<object>, load: () => Promise<void>) => Promise<number>,
): Promise<number> {
  const client: MemisClient = createClient(url, password ? { password } : {});
  let loading = true;
  let problem: string | undefined;
  let last = '';
  client.on('error', (err: unknown) => {
    problem = oneLine(err);
    if (loading) return;
    const line = `${NAME}: ${problem}`;
    if (line !== last) io.err(line);
    last = line;
  });
  const collection = client.database(database).collection<object>(name);
  const load = async (): Promise<void> => {
    await loaded(collection, io, () => problem);
    loading = false;
  };
  try {
    return await use(collection, load);
  } finally {
    await client.quit();
  }
}

/**
 * Wait for the local copy to load, at most LOAD_TIMEOUT_MS (Redis went away, or its pub/sub connection does not
 * answer); the failure names the last trouble the client reported.
 */
async function loaded(collection: Collection<object>, io: Io, problem: () => string | undefined): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const why = problem();
      reject(
        new CliError(
          `Could not load ${where(collection.database, collection.name)} within ${LOAD_TIMEOUT_MS / 1000} s${why ? `: ${why}` : '.'}`,
        ),
      );
    }, LOAD_TIMEOUT_MS);
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
