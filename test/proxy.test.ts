import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { FaultProxy } from './helpers/proxy';
import { server } from './helpers/redis-server';

/** A raw socket to the proxy that records every byte it receives and every chunk boundary. */
async function raw(port: number): Promise<{ socket: net.Socket; text(): string; chunks: number; closed: boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  const state = { socket, received: [] as Buffer[], chunks: 0, closed: false, text: () => '' };
  state.text = () => Buffer.concat(state.received).toString();
  socket.on('data', (d) => {
    state.received.push(d);
    state.chunks++;
  });
  socket.on('error', () => undefined);
  socket.on('close', () => (state.closed = true));
  await once(socket, 'connect');
  return state;
}

/** Resolves once `check()` holds (polling), or rejects after `ms`. */
async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const resp = (...args: string[]) =>
  `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

describe('test helper: the fault-injecting proxy', () => {
  let proxy: FaultProxy;
  beforeEach(async () => {
    proxy = await FaultProxy.start({ target: (await server('plain')).port });
  });
  afterEach(() => proxy.stop());

  it('passes bytes both ways', async () => {
    const c = await raw(proxy.port);
    c.socket.write('PING\r\n');
    await until(() => c.text() === '+PONG\r\n');
    assert.equal(proxy.connections, 1);
  });

  it('with latency, still delivers every reply in order', async () => {
    proxy.latency(30);
    const c = await raw(proxy.port);
    c.socket.write(resp('ECHO', 'a') + resp('ECHO', 'b') + resp('ECHO', 'c'));
    await until(() => c.text().length >= 21);
    assert.equal(c.text(), '$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n');
  });

  it('stall holds the bytes until pass()', async () => {
    const c = await raw(proxy.port);
    proxy.stall();
    c.socket.write('PING\r\n');
    await sleep(150);
    assert.equal(c.text(), '');
    proxy.pass();
    await until(() => c.text() === '+PONG\r\n');
  });

  it('cut destroys open connections; new ones work', async () => {
    const c = await raw(proxy.port);
    proxy.cut();
    await until(() => c.closed);
    assert.equal(proxy.connections, 0);
    const d = await raw(proxy.port);
    d.socket.write('PING\r\n');
    await until(() => d.text() === '+PONG\r\n');
  });

  it('cut mid-reply delivers part of the reply, then closes', async () => {
    const c = await raw(proxy.port);
    const value = 'x'.repeat(200_000);
    c.socket.write(resp('SET', 'proxy:big', value));
    await until(() => c.text() === '+OK\r\n');
    proxy.cut({ midReply: true });
    c.socket.write(resp('GET', 'proxy:big'));
    await until(() => c.closed);
    assert.ok(c.text().length > 5, 'some of the reply arrived');
    assert.ok(c.text().length < 5 + value.length + 12, 'not all of it');
  });

  it('black hole drops bytes and new connections hang, even after it heals; old ones work again', async () => {
    const old = await raw(proxy.port);
    proxy.blackHole();
    old.socket.write('PING\r\n');
    const zombie = await raw(proxy.port);
    zombie.socket.write('PING\r\n');
    await sleep(150);
    assert.equal(old.text(), '');
    assert.equal(zombie.text(), '');
    assert.equal(zombie.closed, false);
    proxy.pass();
    old.socket.write('PING\r\n');
    zombie.socket.write('PING\r\n');
    await until(() => old.text() === '+PONG\r\n');
    await sleep(100);
    assert.equal(zombie.text(), '');
    const fresh = await raw(proxy.port);
    fresh.socket.write('PING\r\n');
    await until(() => fresh.text() === '+PONG\r\n');
  });

  it('bandwidth limit delivers a large reply whole, in many small slices', async () => {
    const c = await raw(proxy.port);
    const value = 'y'.repeat(300_000);
    c.socket.write(resp('SET', 'proxy:bw', value));
    await until(() => c.text() === '+OK\r\n');
    proxy.bandwidth(1_000_000);
    const before = c.chunks;
    c.socket.write(resp('GET', 'proxy:bw'));
    await until(() => c.text() === `+OK\r\n$${value.length}\r\n${value}\r\n`);
    // At most 50 ms worth (50 KB) per slice: at least 6 slices for 300 KB.
    assert.ok(c.chunks - before >= 6, `${c.chunks - before} chunks`);
  });

  it('bandwidth is per connection: two limited replies in flight both progress, neither waits for the other', async () => {
    const setup = await raw(proxy.port);
    const value = 'z'.repeat(400_000);
    setup.socket.write(resp('SET', 'proxy:fair', value));
    await until(() => setup.text() === '+OK\r\n');
    const [a, b] = [await raw(proxy.port), await raw(proxy.port)];
    proxy.bandwidth(2_000_000);
    const want = `$${value.length}\r\n${value}\r\n`;
    // Which connection received each chunk, in order (one shared bucket let the first flow take every token).
    const order: string[] = [];
    a.socket.on('data', () => order.push('a'));
    b.socket.on('data', () => order.push('b'));
    a.socket.write(resp('GET', 'proxy:fair'));
    b.socket.write(resp('GET', 'proxy:fair'));
    await until(() => a.text() === want && b.text() === want, 10_000);
    proxy.bandwidth(0);
    if (process.env.SHOW_ORDER) console.log(order.join(''));
    const lastA = order.lastIndexOf('a');
    const lastB = order.lastIndexOf('b');
    const firstA = order.indexOf('a');
    const firstB = order.indexOf('b');
    assert.ok(firstB < lastA && firstA < lastB, `the replies were delivered one after the other: ${order.join('')}`);
    // Interleaved throughout: neither got more than half of its chunks before the other got any.
    assert.ok(firstB < order.length / 4 && firstA < order.length / 4, order.join(''));
  });

  it('stop() closes every connection and the port refuses', async () => {
    const c = await raw(proxy.port);
    const port = proxy.port;
    await proxy.stop();
    await until(() => c.closed);
    const s = net.connect(port, '127.0.0.1');
    const [err] = (await once(s, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED');
    proxy = await FaultProxy.start({ target: (await server('plain')).port, port });
    assert.equal(proxy.port, port);
  });
});
