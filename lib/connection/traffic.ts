/**
 * Which bytes arrive on a connection: what the reply watch counts as progress, so a large reply over a slow link
 * is not mistaken for a hung server (bytes flow the whole time) while a true stall still is (no bytes at all).
 *
 * How we see the bytes. node-redis 6 keeps its socket private (RedisClient#socket, RedisSocket#socket) and exposes
 * no per-chunk event, and its tracing channels report commands and complete replies, not bytes. The choice:
 *
 * - Node's `net.client.socket` diagnostics channel (a documented built-in channel, published synchronously
 *   from `net.connect()` with the new socket) tells us every client socket the process opens. We claim the one
 *   node-redis opens for a connection of ours by when it is opened: node-redis creates its socket synchronously
 *   inside `client.connect()` and synchronously right after emitting `reconnecting` (both in the retry loop and
 *   after a drop), so a claim window opened just before those points and closed in the same turn holds exactly
 *   that socket. Of the sockets opened in the window the last one is node-redis's (a `reconnecting` listener
 *   added after ours runs before node-redis opens its socket). A window in which no socket is opened (a TLS
 *   connection: `tls.connect` publishes nothing; a Cluster or Sentinel client, which opens node sockets later)
 *   claims nothing: that connection falls back to counting complete replies, never to a wrong socket.
 * - Not AsyncLocalStorage to carry "whose connect is this" to the channel: on Node 20 enabling it adds a promise
 *   hook to every promise in the process (measured: about 2x slower on a promise-heavy loop), for everyone.
 * - Not wrapping the socket through an option: node-redis passes `socket` options to `net.createConnection` and
 *   overrides `onread`; there is no socket factory option to hook.
 * - Not patching node-redis's private fields or `net.Socket.prototype`: breaks silently on an upgrade, or touches
 *   every socket of the application.
 *
 * If a future node-redis opens its socket asynchronously, nothing is claimed (the old behaviour: progress counted
 * by replies); test/network-faults.test.ts ("counts bytes, not replies") fails, so it cannot go unnoticed.
 */
import diagnostics from 'node:diagnostics_channel';
import type net from 'node:net';

/** Counts chunks received on a connection's current socket (any number of sockets over its life). */
export interface Traffic {
  chunks: number;
}

let claiming: Traffic | undefined;
let candidate: net.Socket | undefined;
let subscribed = false;

function onSocket(message: unknown): void {
  if (!claiming) return;
  const socket = (message as { socket?: unknown }).socket;
  if (socket && typeof (socket as net.Socket).on === 'function') candidate = socket as net.Socket;
}

/** Attach the counter to the socket opened in the window (if any) and close the window. */
function closeWindow(traffic: Traffic): void {
  if (claiming !== traffic) return;
  const socket = candidate;
  claiming = undefined;
  candidate = undefined;
  // The socket is not connected yet (connecting takes at least one turn of the event loop), so no byte can
  // arrive before node-redis attaches its own 'data' listener: adding ours first loses nothing.
  if (socket && !socket.destroyed) socket.on('data', () => void traffic.chunks++);
}

/**
 * Run `open` (which makes node-redis open a socket synchronously: `client.connect()`) and count the bytes of the
 * socket it opened into `traffic`. Returns what `open` returns.
 */
export function claimSocketOf<T>(traffic: Traffic, open: () => T): T {
  openWindow(traffic);
  try {
    return open();
  } finally {
    closeWindow(traffic);
  }
}

/**
 * node-redis is about to open the next socket of this connection (it emitted `reconnecting`, and opens the socket
 * synchronously after its listeners return): count that socket's bytes into `traffic`. The window closes at the
 * end of this turn (a microtask), whether or not a socket was opened.
 */
export function claimNextSocket(traffic: Traffic): void {
  openWindow(traffic);
  queueMicrotask(() => closeWindow(traffic));
}

function openWindow(traffic: Traffic): void {
  if (!subscribed) {
    diagnostics.subscribe('net.client.socket', onSocket);
    subscribed = true;
  }
  claiming = traffic;
  candidate = undefined;
}
