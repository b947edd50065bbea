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

/**
 * Counts chunks received on a connection's current socket (any number of sockets over its life), and keeps that
 * socket so the bytes leaving it can be seen (see `sentProgress`).
 */
export interface Traffic {
  chunks: number;
  /** The connection's current socket, once claimed. */
  socket?: net.Socket;
  /** Outgoing progress seen so far (see `sentProgress`). */
  sent?: number;
  /** What `sentProgress` saw last time, for the socket it saw it on. */
  last?: { socket: net.Socket; pending: number; queued: number };
}

/**
 * Outgoing progress: a counter that moves when bytes that were waiting to leave this connection's socket have
 * left it (handed to the kernel), so a large command written over a slow uplink is not mistaken for a hung server.
 * Called once per watch tick.
 *
 * What Node 20 lets us see (lib/net.js, lib/internal/streams/writable.js): `socket.writableLength` counts what
 * was given to `write()` and whose write has not completed (buffered in the stream, or dispatched to libuv and
 * not yet accepted by the kernel whole); `socket._handle.writeQueueSize` counts the bytes of the dispatched
 * write that the kernel has not accepted yet (libuv updates it as the kernel takes more; not documented, so it is
 * read defensively: without it a single large write counts only when it completes). `socket.bytesWritten`
 * includes bytes not yet sent (it adds the stream's buffer), so it is not used.
 *
 * Only bytes that were already waiting at the previous tick count: a command written to a hung server goes into
 * the kernel's buffer at once and is not progress (else a caller issuing calls steadily would hide a hang), and
 * while the server does not read, the kernel's buffers fill, nothing more leaves, and the watch cuts as before.
 * Both figures only shrink when bytes leave; a shrink of either since the last tick is progress.
 */
export function sentProgress(traffic: Traffic): number {
  const socket = traffic.socket;
  let sent = traffic.sent ?? 0;
  if (!socket || socket.destroyed) {
    traffic.last = undefined;
    return sent;
  }
  const pending = socket.writableLength;
  const handle = (socket as unknown as { _handle?: { writeQueueSize?: unknown } })._handle;
  const queued = typeof handle?.writeQueueSize === 'number' ? handle.writeQueueSize : 0;
  const last = traffic.last;
  if (last && last.socket === socket && (last.pending > 0 || last.queued > 0)) {
    if (pending < last.pending || queued < last.queued) sent++;
  }
  traffic.sent = sent;
  traffic.last = { socket, pending, queued };
  return sent;
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
  if (socket && !socket.destroyed) {
    traffic.socket = socket;
    socket.on('data', () => void traffic.chunks++);
  }
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
  // A window still open belongs to another connection whose socket (if any) was opened before this one: close
  // it now, so it keeps that socket instead of losing it to this window (two drops in one turn).
  if (claiming && claiming !== traffic) closeWindow(claiming);
  claiming = traffic;
  candidate = undefined;
}
