/**
 * The limit row of the bench: RESP written by hand over one socket, no client library. Commands issued in the
 * same tick go out in one write, at most 64 per write (pipelined batches of 64); replies are parsed by the
 * smallest parser that reads what SET and GET answer (simple strings, errors, bulk strings, null). It is what one
 * Node process can do on one connection, with a promise per command as every client has.
 */
import net from 'node:net';

interface Pending {
  resolve: (v: string | null) => void;
  reject: (e: Error) => void;
}

const BATCH = 64;

export class BareResp {
  #socket: net.Socket;
  #queue: Pending[] = [];
  #head = 0;
  #out: string[] = [];
  #scheduled = false;
  #buf: Buffer = Buffer.alloc(0);

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.#failAll(err));
  }

  static connect(url: string): Promise<BareResp> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const s = net.connect(Number(u.port || 6379), u.hostname, () => resolve(new BareResp(s)));
      s.once('error', reject);
    });
  }

  /** Send one command; resolves with its reply (null for a null bulk). */
  send(args: string[]): Promise<string | null> {
    let cmd = `*${args.length}\r\n`;
    for (const a of args) cmd += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
    this.#out.push(cmd);
    if (this.#out.length >= BATCH) this.#flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(this.#flush);
    }
    return new Promise((resolve, reject) => this.#queue.push({ resolve, reject }));
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    if (this.#out.length === 0) return;
    this.#socket.write(this.#out.join(''));
    this.#out = [];
  };

  #onData(chunk: Buffer): void {
    let buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    let pos = 0;
    for (;;) {
      if (pos >= buf.length) break;
      const eol = buf.indexOf('\r\n', pos);
      if (eol < 0) break;
      const type = buf[pos];
      let value: string | null;
      let next: number;
      if (type === 0x24 /* $ */) {
        const len = Number(buf.toString('latin1', pos + 1, eol));
        if (len < 0) {
          value = null;
          next = eol + 2;
        } else {
          if (eol + 2 + len + 2 > buf.length) break;
          value = buf.toString('utf8', eol + 2, eol + 2 + len);
          next = eol + 2 + len + 2;
        }
      } else if (type === 0x2b /* + */ || type === 0x3a /* : */) {
        value = buf.toString('utf8', pos + 1, eol);
        next = eol + 2;
      } else if (type === 0x2d /* - */) {
        const p = this.#shift();
        p?.reject(new Error(buf.toString('utf8', pos + 1, eol)));
        pos = eol + 2;
        continue;
      } else {
        throw new Error(`bare RESP: unexpected reply type ${String.fromCharCode(type ?? 0)}`);
      }
      this.#shift()?.resolve(value);
      pos = next;
    }
    this.#buf = pos < buf.length ? buf.subarray(pos) : Buffer.alloc(0);
    buf = this.#buf;
  }

  #shift(): Pending | undefined {
    const p = this.#queue[this.#head];
    this.#queue[this.#head++] = undefined as unknown as Pending;
    if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return p;
  }

  #failAll(err: Error): void {
    for (let i = this.#head; i < this.#queue.length; i++) this.#queue[i]?.reject(err);
    this.#queue = [];
    this.#head = 0;
  }

  close(): void {
    this.#socket.destroy();
  }
}
