/**
 * The command line of `machinepack-redis-ts`: parsed by hand (a handful of commands and flags need no framework).
 * Every mistake becomes a `CliError` whose one-line message says what to type instead.
 */
import { connectionStringProblem } from '../lib/options';
import { quoted } from './text';

export const USAGE = `Usage: machinepack-redis-ts <command> [arguments] --url <redis url>

Commands:
  list [database]                 the databases, or the collections of a database (items, revision)
  get <database> <collection> [key]
                                  the items of a collection (or one item) as JSON
  watch <database> <collection> [--json]
                                  the current items, then every change as it happens, one line each
  inspect [--port N] [--host H]   a local web page showing databases and collections live (default port 8931, host 127.0.0.1)

Options:
  --url <url>   redis://[user[:password]@]host[:port][/db], rediss://… or unix:///path.sock (or REDIS_URL)
                A password not in the URL is taken from REDISCLI_AUTH.
  --json        watch: one JSON object per line: {"event","key","data","revision"}
  --help        this text`;

/** A mistake or failure the command reports as one line on stderr, exiting with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export type Command =
  | { name: 'list'; database?: string }
  | { name: 'get'; database: string; collection: string; key?: string }
  | { name: 'watch'; database: string; collection: string; json: boolean }
  | { name: 'inspect'; port: number; host: string }
  | { name: 'help' };

export interface Invocation {
  command: Command;
  /** The URL as given (may hold a password: never print it; see `displayUrl`). */
  url: string;
  /** The password from REDISCLI_AUTH, when the URL has none. */
  password?: string;
}

/** The default port of `inspect`. */
export const DEFAULT_PORT = 8931;

const FLAGS_WITH_VALUE = new Set(['--url', '--port', '--host']);
const BOOLEAN_FLAGS = new Set(['--json', '--help', '-h']);

/** Parse argv (without `node` and the script) and the environment. Throws CliError (exit code 2) on a mistake. */
export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv): Invocation {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('-') && arg !== '-') {
      const eq = arg.indexOf('=');
      const name = eq > 0 ? arg.slice(0, eq) : arg;
      if (flags.has(name)) throw new CliError(`${name} given twice; give it once.`, 2);
      if (FLAGS_WITH_VALUE.has(name)) {
        const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
        if (value === undefined || value === '') throw new CliError(`${name} needs a value.`, 2);
        flags.set(name, value);
      } else if (BOOLEAN_FLAGS.has(name) && eq < 0) {
        flags.set(name, true);
      } else {
        throw new CliError(`Unknown option ${quoted(name)}; see --help.`, 2);
      }
      continue;
    }
    positional.push(arg);
  }

  const [name, ...rest] = positional;
  if (flags.has('--help') || flags.has('-h') || name === 'help' || name === undefined) {
    return { command: { name: 'help' }, url: '' };
  }
  const command = commandOf(name, rest, flags);

  const url = (flags.get('--url') as string | undefined) ?? env.REDIS_URL;
  if (url === undefined || url === '') throw new CliError('Give the Redis URL with --url (or REDIS_URL).', 2);
  const problem = connectionStringProblem(url);
  if (problem) throw new CliError(`Bad --url: ${problem}`, 2);
  const password = hasPassword(url) ? undefined : env.REDISCLI_AUTH || undefined;
  return { command, url, password };
}

function commandOf(name: string, rest: string[], flags: Map<string, string | true>): Command {
  const expect = (min: number, max: number, shape: string): void => {
    if (rest.length < min || rest.length > max) throw new CliError(`Usage: machinepack-redis-ts ${shape}`, 2);
  };
  const refuse = (flag: string): void => {
    if (flags.has(flag)) throw new CliError(`${flag} applies to ${flag === '--json' ? 'watch' : 'inspect'} only.`, 2);
  };
  if (name !== 'watch') refuse('--json');
  if (name !== 'inspect') {
    refuse('--port');
    refuse('--host');
  }
  switch (name) {
    case 'list':
      expect(0, 1, 'list [database] --url <url>');
      return { name, database: rest[0] };
    case 'get':
      expect(2, 3, 'get <database> <collection> [key] --url <url>');
      return { name, database: rest[0]!, collection: rest[1]!, key: rest[2] };
    case 'watch':
      expect(2, 2, 'watch <database> <collection> --url <url> [--json]');
      return { name, database: rest[0]!, collection: rest[1]!, json: flags.has('--json') };
    case 'inspect': {
      expect(0, 0, 'inspect --url <url> [--port N] [--host H]');
      const portText = flags.get('--port') as string | undefined;
      const port = portText === undefined ? DEFAULT_PORT : Number(portText);
      if (!/^\d+$/.test(portText ?? '0') || !Number.isInteger(port) || port < 0 || port > 65535)
        throw new CliError(`--port must be a whole number from 0 to 65535 (got ${quoted(String(portText))}).`, 2);
      return { name, port, host: (flags.get('--host') as string | undefined) ?? '127.0.0.1' };
    }
    default:
      throw new CliError(`Unknown command ${quoted(name)}; use list, get, watch or inspect (see --help).`, 2);
  }
}

function hasPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return false;
  }
}

/** The URL without its credentials, for messages and the page: `redis://127.0.0.1:6379/0`. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.protocol === 'unix:') return `unix://${u.pathname}`;
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(a malformed URL)';
  }
}
