/**
 * `inspect`: a small local web page over Node's `http`, no framework. The page (page.ts) opens one
 * Server-Sent Events stream, `/events?database=D&collection=C`, which carries:
 *
 * | event       | data                                                                         |
 * |-------------|------------------------------------------------------------------------------|
 * | `server`    | `{ url }`: the Redis URL without its credentials                             |
 * | `databases` | `[{ name, collections: [{ name, items, revision }] }]`, again whenever it changes |
 * | `snapshot`  | `{ database, collection, items: [{ key, data, revision }] }` once the copy is loaded |
 * | `change`    | `{ event, key, data, revision }` for each set / expire / delete               |
 * | `status`    | `{ items, status, stats }`                                                   |
 * | `problem`   | `{ message }`: connection trouble, secrets masked                            |
 *
 * Items are followed through the facade (one client; one subscription per collection however many pages
 * watch it). It serves only GET, only to a Host header naming this server (so another site cannot reach it
 * through DNS rebinding), and never sends the password: the URL is shown without credentials.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient, type Collection, type Connection } from '../index';
import { displayUrl } from './args';
import { describeCollection, findCollections, oneLine, type CollectionInfo } from './discovery';
import { revisionOf, statsOf, statusOf } from './features';
import { PAGE_HTML, PAGE_SCRIPT, PAGE_STYLE } from './page';

export interface InspectorOptions {
  url: string;
  password?: string;
  host: string;
  port: number;
  /** A checked connection, used for discovery. */
  connection: Connection;
  /** Connection trouble, one line, secrets masked. */
  onProblem?: (message: string) => void;
}

export interface Inspector {
  /** `http://host:port/` */
  address: string;
  close(): Promise<void>;
}

/** How often the list of databases and collections is refreshed while a page is open. */
const DISCOVERY_INTERVAL_MS = 2000;
/** How often a page gets its collection's size, status and stats. */
const STATUS_INTERVAL_MS = 1000;

interface Watcher {
  send(event: string, data: unknown): void;
}

export async function startInspector(options: InspectorOptions): Promise<Inspector> {
  const client = createClient(options.url, options.password ? { password: options.password } : {});
  const watchers = new Set<Watcher>();
  const broadcast = (event: string, data: unknown): void => {
    for (const w of watchers) w.send(event, data);
  };
  let lastProblem = '';
  client.on('error', (err: unknown) => {
    const message = oneLine(err);
    if (message !== lastProblem) options.onProblem?.(`machinepack-redis-ts: ${message}`);
    lastProblem = message;
    broadcast('problem', { message });
  });

  // Discovery, shared by every open page: one SCAN pass per interval, and only while a page is open.
  let databases: string = '[]';
  let discovering: Promise<void> | undefined;
  const discover = (): Promise<void> =>
    (discovering ??= (async () => {
      try {
        const pairs = await findCollections(options.connection);
        const infos: CollectionInfo[] = [];
        for (const [d, c] of pairs) infos.push(await describeCollection(options.connection, d, c));
        const byDb = new Map<string, Array<{ name: string; items: number; revision: number }>>();
        for (const i of infos) {
          const list = byDb.get(i.database) ?? [];
          list.push({ name: i.collection, items: i.items, revision: i.revision });
          byDb.set(i.database, list);
        }
        const next = JSON.stringify([...byDb].map(([name, collections]) => ({ name, collections })));
        if (next !== databases) {
          databases = next;
          for (const w of watchers) w.send('databases', JSON.parse(next));
        }
      } catch (err) {
        broadcast('problem', { message: oneLine(err) });
      } finally {
        discovering = undefined;
      }
    })());
  const discoveryTimer = setInterval(() => {
    if (watchers.size > 0) void discover();
  }, DISCOVERY_INTERVAL_MS);

  // One subscription per collection, ended when its last page goes; a new one waits for the old one to end.
  const followers = new Map<Collection<object>, number>();
  const ending = new Map<Collection<object>, Promise<void>>();
  const follow = async (collection: Collection<object>): Promise<void> => {
    followers.set(collection, (followers.get(collection) ?? 0) + 1);
    await ending.get(collection);
    await collection.subscribe();
  };
  const unfollow = (collection: Collection<object>): void => {
    const n = (followers.get(collection) ?? 1) - 1;
    if (n > 0) {
      followers.set(collection, n);
      return;
    }
    followers.delete(collection);
    const done = collection.unsubscribe().finally(() => {
      if (ending.get(collection) === done) ending.delete(collection);
    });
    ending.set(collection, done);
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://inspector.invalid');
    if (!allowedHost(req.headers.host, server)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('Forbidden: unexpected Host header.\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('Method not allowed.\n');
      return;
    }
    const headers = {
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'self'; frame-ancestors 'none'",
    };
    switch (url.pathname) {
      case '/':
        res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' }).end(PAGE_HTML);
        return;
      case '/app.js':
        res.writeHead(200, { ...headers, 'content-type': 'text/javascript; charset=utf-8' }).end(PAGE_SCRIPT);
        return;
      case '/app.css':
        res.writeHead(200, { ...headers, 'content-type': 'text/css; charset=utf-8' }).end(PAGE_STYLE);
        return;
      case '/events':
        openStream(req, res, headers, url.searchParams.get('database'), url.searchParams.get('collection'));
        return;
      default:
        res.writeHead(404, { ...headers, 'content-type': 'text/plain' }).end('Not found.\n');
    }
  });

  function openStream(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    headers: Record<string, string>,
    database: string | null,
    name: string | null,
  ): void {
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
    res.write('retry: 2000\n\n');
    const watcher: Watcher = {
      send: (event, data) => void res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`),
    };
    watchers.add(watcher);
    watcher.send('server', { url: displayUrl(options.url) });
    watcher.send('databases', JSON.parse(databases));
    void discover();

    let closed = false;
    const cleanups: Array<() => void> = [];
    req.on('close', () => {
      closed = true;
      watchers.delete(watcher);
      for (const c of cleanups) c();
    });
    if (!database || !name) return;

    const collection = client.database(database).collection<object>(name);
    let loaded = false;
    const listeners = (['set', 'expire', 'delete'] as const).map((event) => {
      const listener = (key: string, data: object, info?: unknown): void => {
        if (loaded) watcher.send('change', { event, key, data, revision: revisionOf(collection, key, info) });
      };
      collection.on(event, listener);
      return [event, listener] as const;
    });
    const sendStatus = (): void =>
      watcher.send('status', { items: collection.size, status: statusOf(collection), stats: statsOf(collection) });
    const statusTimer = setInterval(() => {
      if (loaded) sendStatus();
    }, STATUS_INTERVAL_MS);
    cleanups.push(() => {
      clearInterval(statusTimer);
      for (const [event, listener] of listeners) collection.off(event, listener);
      unfollow(collection);
    });
    follow(collection).then(
      () => {
        if (closed) return;
        loaded = true;
        const items = collection
          .keys()
          .sort()
          .map((key) => ({ key, data: collection.get(key), revision: revisionOf(collection, key) }));
        watcher.send('snapshot', { database, collection: name, items });
        sendStatus();
      },
      (err: unknown) => {
        if (!closed) watcher.send('problem', { message: oneLine(err) });
      },
    );
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    clearInterval(discoveryTimer);
    await client.quit();
    throw err;
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;

  return {
    address: `http://${host}:${port}/`,
    async close(): Promise<void> {
      clearInterval(discoveryTimer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await client.quit();
    },
  };
}

/** Only requests addressed to this server by a loopback name or its own address (defeats DNS rebinding). */
function allowedHost(host: string | undefined, server: http.Server): boolean {
  if (!host) return false;
  const address = server.address() as AddressInfo | null;
  if (!address) return false;
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
  if (!m || Number(m[2] ?? 80) !== address.port) return false;
  const name = m[1]!.replace(/^\[|\]$/g, '').toLowerCase();
  return name === 'localhost' || name === '127.0.0.1' || name === '::1' || name === address.address;
}
