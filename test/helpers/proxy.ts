/**
 * A fault-injecting TCP proxy for tests: it sits between the library and a private redis-server and can be
 * switched at run time between pass-through and the faults a real network shows.
 *
 * | mode        | upstream (client → Redis)       | downstream (Redis → client)          | new connections          |
 * |-------------|---------------------------------|--------------------------------------|--------------------------|
 * | pass        | forwarded                       | forwarded                            | connected upstream       |
 * | latency(ms) | each chunk delayed by `ms`      | each chunk delayed by `ms`           | connected upstream       |
 * | stall       | held (delivered on `pass()`)    | held (delivered on `pass()`)         | connected, bytes held    |
 * | blackHole   | dropped                         | dropped                              | accepted, never connected upstream: they hang forever, even after the hole heals |
 * | bandwidth(b)| forwarded                       | at most `b` bytes per second per connection | connected upstream |
 * | bandwidth(b, 'up') | at most `b` bytes per second per connection, with back-pressure: the proxy stops reading from the client while 64 KB are queued, so the client's socket backs up as over a slow uplink | forwarded | connected upstream |
 *
 * `cut()` destroys every open connection at once (both sides); `cut({ midReply: true })` waits for the next
 * reply chunk, delivers its first half and then destroys that connection. Modes do not reset each other:
 * `latency` and `bandwidth` stay until set to 0, `pass()` ends a stall or a black hole.
 *
 * Proxies are stopped by the mocha root hooks (see hooks.ts) like the private servers.
 */
import net from 'node:net';

interface Chunk {
  buf: Buffer;
  /** Not to be delivered before this time (latency). */
  due: number;
}

/** One direction of one proxied connection. */
interface Flow {
  queue: Chunk[];
  timer: NodeJS.Timeout | undefined;
  to: () => net.Socket | undefined;
  down: boolean;
  /** This flow's own token bucket (bandwidth limits are per connection and direction, so flows share fairly). */
  tokens: number;
  tokensAt: number;
}

interface Link {
  client: net.Socket;
  server: net.Socket | undefined;
  /** Accepted during a black hole: never connected upstream, every byte dropped, for good. */
  zombie: boolean;
  /** Cut mid-reply: half a chunk written, the rest of the connection is going. */
  dying: boolean;
  up: Flow;
  down: Flow;
}

export interface ProxyOptions {
  /** The port of the server to forward to (on 127.0.0.1). */
  target: number;
  /** Listen on this port (e.g. to restart on the same one); a free port by default. */
  port?: number;
}

const running = new Set<FaultProxy>();

/** Bytes an upload-limited flow holds before the proxy stops reading from the client. */
const UP_QUEUE = 64 * 1024;

function queued(flow: Flow): number {
  let n = 0;
  for (const chunk of flow.queue) n += chunk.buf.length;
  return n;
}

export class FaultProxy {
  readonly links = new Set<Link>();
  /** Bytes delivered to clients since start (downstream), for tests that check that bytes flowed. */
  bytesDown = 0;
  private latencyMs = 0;
  private stalled = false;
  private holed = false;
  private bytesPerSecond = 0;
  private upBytesPerSecond = 0;
  /** Bytes delivered to Redis since start (upstream). */
  bytesUp = 0;
  private cutMidReply = false;
  private readonly server: net.Server;

  private constructor(
    readonly target: number,
    readonly port: number,
    server: net.Server,
  ) {
    this.server = server;
    server.on('connection', (client) => this.accept(client));
  }

  /** Starts a proxy to `127.0.0.1:target`, listening on `127.0.0.1` (a free port unless `port` is given). */
  static async start(options: ProxyOptions): Promise<FaultProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
    const proxy = new FaultProxy(options.target, (server.address() as net.AddressInfo).port, server);
    running.add(proxy);
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Number of open client connections. */
  get connections(): number {
    return this.links.size;
  }

  /** Pass-through: ends a stall (held bytes are delivered) and a black hole (zombie connections stay dead). */
  pass(): this {
    this.stalled = false;
    this.holed = false;
    this.pumpAll();
    return this;
  }

  /** Delay every chunk by `ms` in each direction (0 to end). */
  latency(ms: number): this {
    this.latencyMs = ms;
    return this;
  }

  /** Hold every byte in both directions until `pass()`. */
  stall(): this {
    this.stalled = true;
    return this;
  }

  /** Drop every byte in both directions; new connections are accepted but hang forever. Ends with `pass()`. */
  blackHole(): this {
    this.holed = true;
    for (const link of this.links) {
      link.up.queue.length = 0;
      link.down.queue.length = 0;
    }
    return this;
  }

  /**
   * Limit the downstream (Redis → client) rate to `bytesPerSecond` (0 to end); with `'up'`, the upstream (client →
   * Redis) rate instead, with back-pressure on the client's socket (a slow uplink).
   */
  bandwidth(bytesPerSecond: number, direction: 'down' | 'up' = 'down'): this {
    if (direction === 'up') this.upBytesPerSecond = bytesPerSecond;
    else this.bytesPerSecond = bytesPerSecond;
    const now = Date.now();
    for (const link of this.links) {
      const flow = direction === 'up' ? link.up : link.down;
      flow.tokens = 0;
      flow.tokensAt = now;
    }
    this.pumpAll();
    return this;
  }

  /**
   * Destroy open connections. With `midReply`, the next downstream chunk is delivered only half, then its
   * connection is destroyed (connections made afterwards are not affected).
   */
  cut(options: { midReply?: boolean } = {}): this {
    if (options.midReply) {
      this.cutMidReply = true;
      return this;
    }
    for (const link of [...this.links]) this.destroy(link);
    return this;
  }

  /** Closes the listener and every connection (connections to the port are then refused). */
  async stop(): Promise<void> {
    running.delete(this);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const link of [...this.links]) this.destroy(link);
    await closed;
  }

  private accept(client: net.Socket): void {
    const link: Link = {
      client,
      server: undefined,
      zombie: this.holed,
      dying: false,
      up: { queue: [], timer: undefined, to: () => link.server, down: false, tokens: 0, tokensAt: Date.now() },
      down: { queue: [], timer: undefined, to: () => link.client, down: true, tokens: 0, tokensAt: Date.now() },
    };
    this.links.add(link);
    client.on('error', () => this.destroy(link));
    client.on('close', () => this.destroy(link));
    client.on('data', (buf) => this.receive(link, link.up, buf));
    if (link.zombie) return;
    const server = net.connect(this.target, '127.0.0.1');
    link.server = server;
    server.on('error', () => this.destroy(link));
    server.on('close', () => this.destroy(link));
    server.on('data', (buf) => this.receive(link, link.down, buf));
    server.on('connect', () => this.pump(link, link.up));
  }

  private receive(link: Link, flow: Flow, buf: Buffer): void {
    if (this.holed || link.zombie) return;
    flow.queue.push({ buf, due: Date.now() + this.latencyMs });
    this.pump(link, flow);
    if (!flow.down && this.upBytesPerSecond > 0 && queued(flow) > UP_QUEUE) link.client.pause();
  }

  private pumpAll(): void {
    for (const link of this.links) {
      this.pump(link, link.up);
      this.pump(link, link.down);
    }
  }

  private pump(link: Link, flow: Flow): void {
    if (flow.timer) {
      clearTimeout(flow.timer);
      flow.timer = undefined;
    }
    if (!flow.down && link.client.isPaused() && (this.upBytesPerSecond === 0 || queued(flow) <= UP_QUEUE)) {
      link.client.resume();
    }
    const to = flow.to();
    if (!to || to.connecting || to.destroyed || link.dying || !this.links.has(link)) return;
    while (flow.queue.length > 0) {
      if (this.stalled || this.holed) return;
      const head = flow.queue[0];
      const now = Date.now();
      if (head.due > now) {
        flow.timer = setTimeout(() => this.pump(link, flow), head.due - now);
        return;
      }
      let buf = head.buf;
      const rate = flow.down ? this.bytesPerSecond : this.upBytesPerSecond;
      if (rate > 0) {
        // Token bucket per flow, refilled continuously, holding at most 50 ms worth so a pause cannot build a burst.
        // (One bucket shared by all flows starved the flow whose timer fired second: the first took every token.)
        const cap = Math.max(1, Math.floor(rate / 20));
        const tokens = Math.min(cap, flow.tokens + ((now - flow.tokensAt) * rate) / 1000);
        flow.tokensAt = now;
        if (tokens < 1) {
          flow.tokens = tokens;
          flow.timer = setTimeout(() => this.pump(link, flow), 10);
          return;
        }
        const n = Math.min(buf.length, Math.floor(tokens));
        flow.tokens = tokens - n;
        if (n < buf.length) {
          head.buf = buf.subarray(n);
          buf = buf.subarray(0, n);
        } else flow.queue.shift();
      } else flow.queue.shift();
      if (!flow.down && link.client.isPaused() && queued(flow) <= UP_QUEUE) link.client.resume();
      if (flow.down && this.cutMidReply) {
        this.cutMidReply = false;
        link.dying = true;
        const half = buf.subarray(0, Math.max(1, buf.length >> 1));
        this.bytesDown += half.length;
        // Let the half reach the client before the connection goes.
        to.write(half, () => this.destroy(link));
        return;
      }
      if (flow.down) this.bytesDown += buf.length;
      else this.bytesUp += buf.length;
      to.write(buf);
    }
  }

  private destroy(link: Link): void {
    if (!this.links.delete(link)) return;
    for (const flow of [link.up, link.down]) {
      if (flow.timer) clearTimeout(flow.timer);
      flow.queue.length = 0;
    }
    link.client.destroy();
    link.server?.destroy();
  }
}

/** Stops every proxy still running (mocha root hook). */
export async function stopAllProxies(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}
