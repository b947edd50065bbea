/**
 * Bounds the wait for replies on one connection. node-redis 6 waits forever for a reply from a server that
 * accepted the command and then hung (SIGSTOP, a stuck host): its own timeout covers only the write, and a
 * socket timeout is reset by every write. So machine calls are counted here (no wrapper per call: a counter and
 * one shared callback); if calls are waiting and nothing has arrived for `timeoutMs` (no reply completed and no
 * byte received: see traffic.ts), the connection is reset: node-redis rejects every waiting command
 * (→ `badConnection`) and the same connection reconnects in the background, working again as soon as the server
 * answers. Progress is bytes arriving, not replies completing: a 16 MB reply over a 2 MB/s link takes 8 s, and
 * neither it nor the small calls queued behind it are cut while its bytes flow.
 */
import { ErrorCodes } from '../errors';
import { sentProgress, type Traffic } from './traffic';

export class ReplyWatch {
  #pending = 0;
  #progress = 0;
  #seen = 0;
  #stalled = 0;
  #timer: NodeJS.Timeout | undefined;
  /** When the last reset happened (ms since epoch), 0 for never: it names the cause of the rejections. */
  resetAt = 0;
  /**
   * Told when calls start waiting (`true`) and when none has waited for a tick (`false`): what lets a connection
   * keep the process alive only while it is busy (open.ts, `unrefWhenIdle`). Costs nothing per call.
   */
  onBusy: ((busy: boolean) => void) | undefined;
  readonly #done = () => {
    this.#pending--;
    this.#progress++;
  };
  /** Rejecters of waiting calls, when calls are rejected one by one rather than by a reset. */
  readonly #waiting: Set<(err: Error) => void> | undefined;
  constructor(
    readonly timeoutMs: number,
    private readonly onHang: () => void,
    rejectEach = false,
    /** Chunks received on the connection's socket, when it could be seen (not TLS, Cluster or Sentinel). */
    private readonly traffic?: Traffic,
  ) {
    if (rejectEach) this.#waiting = new Set();
  }

  track<T>(p: Promise<T>): Promise<T> {
    this.#pending++;
    if (!this.#timer) this.#start();
    if (!this.#waiting) {
      p.then(this.#done, this.#done);
      return p;
    }
    // Cluster and Sentinel clients cannot be reset and reconnected as one: each waiting call is rejected instead.
    const waiting = this.#waiting;
    return new Promise<T>((resolve, reject) => {
      waiting.add(reject);
      p.then(
        (v) => {
          if (waiting.delete(reject)) this.#done();
          resolve(v);
        },
        (err: unknown) => {
          if (waiting.delete(reject)) this.#done();
          reject(err);
        },
      );
    });
  }

  /**
   * Whether commands are counted by `begin()` / `end()` (a single server), rather than each wrapped by `track` to
   * be rejected one by one (Cluster, Sentinel).
   */
  get counts(): boolean {
    return this.#waiting === undefined;
  }

  /**
   * A command was sent (only when `counts`): the caller's own reaction to its reply or failure calls `end()` once.
   * What the hot machines use: no wrapper and no closure of ours per command, just the count.
   */
  begin(): void {
    this.#pending++;
    if (!this.#timer) this.#start();
  }

  /** The command counted by `begin()` settled. */
  end(): void {
    this.#pending--;
    this.#progress++;
  }

  /**
   * `p.then(onValue, onError)` under the bound. On a single server this is the only reaction added to `p` (the
   * count is kept inside it), where `track(p)` followed by `await` costs a second promise per command.
   */
  then<T, R>(
    p: Promise<T>,
    onValue: (v: T) => R | PromiseLike<R>,
    onError: (e: unknown) => R | PromiseLike<R>,
  ): Promise<R> {
    if (this.#waiting) return this.track(p).then(onValue, onError);
    this.#pending++;
    if (!this.#timer) this.#start();
    return p.then(
      (v) => {
        this.#pending--;
        this.#progress++;
        return onValue(v);
      },
      (err: unknown) => {
        this.#pending--;
        this.#progress++;
        return onError(err);
      },
    );
  }

  #start(): void {
    this.onBusy?.(true);
    const tick = Math.max(10, Math.min(500, this.timeoutMs / 4));
    this.#seen = this.#progressMark();
    this.#stalled = 0;
    this.#timer = setInterval(() => {
      if (this.#pending <= 0) return this.stop();
      const mark = this.#progressMark();
      if (mark !== this.#seen) {
        this.#seen = mark;
        this.#stalled = 0;
        return;
      }
      this.#stalled += tick;
      if (this.#stalled < this.timeoutMs) return;
      this.#stalled = 0;
      this.resetAt = Date.now();
      if (this.#waiting) {
        const err = new NoReplyError(this.timeoutMs);
        const waiting = [...this.#waiting];
        this.#waiting.clear();
        this.#pending -= waiting.length;
        for (const reject of waiting) reject(err);
      }
      this.onHang();
    }, tick);
    this.#timer.unref();
  }

  /** Replies completed, chunks received and waiting bytes sent: it changes whenever anything moves. */
  #progressMark(): number {
    return this.#progress + (this.traffic ? this.traffic.chunks + sentProgress(this.traffic) : 0);
  }

  stop(): void {
    if (!this.#timer) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.onBusy?.(false);
  }
}

/** Redis accepted commands and then did not answer within the command timeout. */
export class NoReplyError extends Error {
  readonly code = ErrorCodes.NO_REPLY;
  constructor(ms: number) {
    super(
      `Redis did not answer within ${ms} ms (the server may be hung or overloaded). Change the bound with meta.commandTimeout.`,
    );
    this.name = 'NoReplyError';
  }
}
