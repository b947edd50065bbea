/**
 * A hint for the newcomer whose script does not exit: an unreleased connection (or a manager never destroyed)
 * keeps Node's event loop alive, which looks like a hang with no cause shown.
 *
 * What we chose: when the process gets SIGINT (Ctrl-C, the usual reaction to a "hang") while connections are
 * still open, print which managers hold them and what to call, then let SIGINT do what it does by default (the
 * process ends by that signal). Nothing happens in production (`NODE_ENV=production`), or when the application
 * has SIGINT listeners of its own (Sails, servers with graceful shutdown): then the signal is theirs. Unlike a
 * timer, this never warns a long-running program that keeps a connection open on purpose.
 */
import type { Manager } from './connection/manager';

const managers = new Set<WeakRef<Manager>>();
let installed = false;

function openConnections(): Array<{ url: string; count: number }> {
  const open: Array<{ url: string; count: number }> = [];
  for (const ref of managers) {
    const m = ref.deref();
    if (!m) managers.delete(ref);
    else if (m.connections.size > 0) open.push({ url: m.url, count: m.connections.size });
  }
  return open;
}

function onSigint(): void {
  process.removeListener('SIGINT', onSigint);
  installed = false;
  if (process.listenerCount('SIGINT') > 0) return; // the application handles SIGINT itself
  const open = openConnections();
  if (open.length > 0) {
    const list = open.map((o) => `${o.count} on ${o.url}`).join(', ');
    process.stderr.write(
      `machinepack-redis-ts: interrupted with Redis connections still open (${list}). An open connection keeps ` +
        'the process alive: release each one with releaseConnection({ connection }) when done, or close them all ' +
        'with destroyManager({ manager }) (collections: await client.quit()).\n',
    );
  }
  process.kill(process.pid, 'SIGINT'); // no listener now: the default action ends the process
}

/** Follow a manager's connections for the hint (a no-op in production). */
export function watchForKeepAlive(manager: Manager): void {
  if (process.env.NODE_ENV === 'production') return;
  managers.add(new WeakRef(manager));
  if (!installed && process.listenerCount('SIGINT') === 0) {
    installed = true;
    process.on('SIGINT', onSigint);
  }
}
