import assert from 'node:assert/strict';
import { ErrorCodes, WarningCodes } from '../../lib/errors';
import { translateMeta, v3ReconnectStrategy } from '../../lib/meta';

/** Pure checks of the v3 → v6 option table (no server needed). */
describe('meta translation (node-redis v3 names → v6 options)', () => {
  it('translates the v3 names', () => {
    const out = translateMeta({
      password: 'pw',
      db: '3',
      connect_timeout: 2500,
      enable_offline_queue: false,
      socket_nodelay: true,
      socket_keepalive: true,
      name: 'app',
      tls: { servername: 'cache.example' },
    });
    assert.equal(out.password, 'pw');
    assert.equal(out.database, 3);
    assert.equal(out.disableOfflineQueue, true);
    assert.equal(out.name, 'app');
    assert.deepEqual(out.socket, {
      connectTimeout: 2500,
      noDelay: true,
      keepAlive: true,
      servername: 'cache.example',
      tls: true,
    });
  });
  it('auth_pass is the password when password is absent', () => {
    assert.equal(translateMeta({ auth_pass: 'x' }).password, 'x');
    assert.equal(translateMeta({ auth_pass: 'x', password: 'y' }).password, 'y');
  });
  it('passes node-redis 6 options through and drops Sails datastore keys quietly', () => {
    const warnings: string[] = [];
    const listener = (w: Error) => warnings.push(w.message);
    process.on('warning', listener);
    const out = translateMeta({
      identity: 'cache',
      adapter: 'sails-redis',
      url: 'redis://x',
      pingInterval: 1000,
      socket: { host: 'h' },
    });
    process.off('warning', listener);
    assert.deepEqual(out, { pingInterval: 1000, socket: { host: 'h' } });
    assert.deepEqual(warnings, []);
  });
  it('warns once per unknown key, and for v3 options it cannot honour, without failing', async () => {
    const warnings: string[] = [];
    const listener = (w: Error) => warnings.push(w.message);
    process.on('warning', listener);
    translateMeta({ no_such_option_a: 1, return_buffers: true });
    translateMeta({ no_such_option_a: 2 });
    await new Promise((r) => setImmediate(r));
    process.off('warning', listener);
    assert.equal(warnings.filter((w) => w.includes('no_such_option_a')).length, 1);
    assert.ok(warnings.some((w) => /return_buffers is ignored/.test(w)));
  });
  it('its warnings carry WarningCodes.META_IGNORED; its refusals E_INVALID_INPUT', async () => {
    const codes: unknown[] = [];
    const listener = (w: Error & { code?: string }) => codes.push(w.code);
    process.on('warning', listener);
    translateMeta({ no_such_option_for_code: 1 });
    await new Promise((r) => setImmediate(r));
    process.off('warning', listener);
    assert.deepEqual(codes, [WarningCodes.META_IGNORED]);
    assert.throws(() => translateMeta({ db: 'abc' }), { code: ErrorCodes.INVALID_INPUT });
  });
  it('refuses a translated option of the wrong type, naming it', () => {
    assert.throws(() => translateMeta({ db: 'abc' }), /meta\.db/);
    assert.throws(() => translateMeta({ retry_strategy: 5 }), /meta\.retry_strategy/);
    assert.throws(() => translateMeta({ tls: 'yes' }), /meta\.tls/);
  });
  it("turns retry_strategy into a reconnectStrategy with v3's argument and answers", () => {
    const seen: Array<{ attempt: number; total_retry_time: number }> = [];
    const s = v3ReconnectStrategy(
      (o) => {
        seen.push({ attempt: o.attempt, total_retry_time: o.total_retry_time });
        return o.attempt < 3 ? 100 : null;
      },
      undefined,
      undefined,
    );
    const cause = new Error('ECONNREFUSED');
    assert.equal(s(0, cause), 100);
    assert.equal(s(1, cause), 100);
    assert.equal(s(2, cause), false);
    assert.deepEqual(seen, [
      { attempt: 1, total_retry_time: 0 },
      { attempt: 2, total_retry_time: 100 },
      { attempt: 3, total_retry_time: 200 },
    ]);
  });
  it('max_attempts gives up with an Error, retry_max_delay caps the delay', () => {
    const s = v3ReconnectStrategy(undefined, 3, 120);
    assert.equal(s(0, new Error('x')), 50);
    assert.equal(s(1, new Error('x')), 100);
    assert.ok(s(2, new Error('x')) instanceof Error);
    assert.equal(v3ReconnectStrategy(undefined, undefined, 120)(5, new Error('x')), 120);
  });

  describe('what Sails, its hooks and its adapters pass routinely: no warning', () => {
    async function warningsOf(meta: Record<string, unknown>): Promise<[Record<string, unknown>, string[]]> {
      const warnings: string[] = [];
      const listener = (w: Error) => warnings.push(w.message);
      process.on('warning', listener);
      try {
        const out = translateMeta(meta);
        await new Promise((r) => setImmediate(r));
        return [out, warnings];
      } finally {
        process.off('warning', listener);
      }
    }

    it("the session hook's meta: all of sails.config.session but host/port/pass/db/url/adapter/prefix", async () => {
      // As lib/hooks/session/index.js of sails 1.5.18 builds it (defaults plus a typical config/session.js).
      const [out, warnings] = await warningsOf({
        name: 'sails.sid',
        secret: 'keyboard-cat-0123456789',
        cookie: { maxAge: 86400000, secure: false },
        isSessionDisabled: () => false,
        handleConstructingSessionStore: () => undefined,
        routesDisabled: ['GET /csrfToken'],
        resave: true,
        saveUninitialized: true,
        rolling: false,
        ttl: 3600,
      });
      assert.deepEqual(warnings, []);
      assert.equal(out.name, undefined, 'the cookie name is not a connection name');
      assert.deepEqual(Object.keys(out).sort(), ['socket']);
    });

    it('the session cookie name is dropped even alone with the hook defaults, and a secret never leaks into options', async () => {
      const [out, warnings] = await warningsOf({
        name: 'my-app.sid',
        isSessionDisabled: () => false,
        handleConstructingSessionStore: () => undefined,
      });
      assert.deepEqual(warnings, []);
      assert.equal(out.name, undefined);
      assert.equal(JSON.stringify(out).includes('keyboard'), false);
    });

    it("the sockets hook's meta: adapterOptions but host/port/pass/db/url, admin bus client names", async () => {
      const [out, warnings] = await warningsOf({
        user: '',
        key: 'socket.io',
        pubClientName: 'admin pub',
        subClientName: 'admin sub',
        subEvent: 'messageBuffer',
        requestsTimeout: 5000,
        onRedisDisconnect: () => undefined,
        onRedisReconnect: () => undefined,
      });
      assert.deepEqual(warnings, []);
      assert.deepEqual(Object.keys(out), ['socket']);
    });

    it("sails-redis' datastore defaults (return_buffers/detect_buffers false, no_ready_check, …)", async () => {
      const [out, warnings] = await warningsOf({
        identity: 'cache',
        adapter: 'sails-redis',
        url: 'redis://127.0.0.1:6379',
        onUnexpectedFailure: undefined,
        return_buffers: false,
        detect_buffers: false,
        socket_nodelay: true,
        no_ready_check: false,
        enable_offline_queue: true,
      });
      assert.deepEqual(warnings, []);
      assert.equal(out.disableOfflineQueue, false);
      assert.deepEqual(out.socket, { noDelay: true });
    });

    it('still warns when a v3 option asks for something node-redis 6 does not do (detect_buffers: true)', async () => {
      const [, warnings] = await warningsOf({ detect_buffers: true });
      assert.ok(warnings.some((w) => /meta\.detect_buffers is ignored/.test(w)));
    });

    it('`name` outside a session config is the connection name (CLIENT SETNAME)', async () => {
      const [out, warnings] = await warningsOf({ name: 'worker-1', identity: 'cache', adapter: 'sails-redis' });
      assert.deepEqual(warnings, []);
      assert.equal(out.name, 'worker-1');
      assert.throws(() => translateMeta({ name: 5 }), /meta\.name/);
    });

    it("a unix socket path in `socket` (sails-hook-sockets' option) is ignored with a warning, not refused", async () => {
      const [out, warnings] = await warningsOf({ socket: '/tmp/redis.sock' });
      assert.deepEqual(out.socket, {});
      assert.ok(warnings.some((w) => /meta\.socket is ignored/.test(w)));
      assert.throws(() => translateMeta({ socket: 5 }), /meta\.socket/);
    });
  });

  it('clamps every node-redis duration to 2^31 - 1 ms (Infinity included) and refuses a non-duration, naming it', () => {
    const MAX = 2 ** 31 - 1;
    const out = translateMeta({
      pingInterval: 2 ** 31,
      connect_timeout: 2 ** 31,
      commandOptions: { timeout: Infinity },
      socket: { socketTimeout: 2 ** 40 },
    });
    assert.equal(out.pingInterval, MAX);
    assert.deepEqual(out.commandOptions, { timeout: MAX });
    assert.deepEqual(out.socket, { socketTimeout: MAX, connectTimeout: MAX });
    assert.deepEqual(translateMeta({ socket: { connectTimeout: Infinity } }).socket, { connectTimeout: MAX });
    assert.equal(translateMeta({ pingInterval: 1000 }).pingInterval, 1000);
    for (const [meta, name] of [
      [{ pingInterval: 'often' }, 'meta.pingInterval'],
      [{ socket: { connectTimeout: -1 } }, 'meta.socket.connectTimeout'],
      [{ socket: { socketTimeout: NaN } }, 'meta.socket.socketTimeout'],
      [{ connect_timeout: {} }, 'meta.connect_timeout'],
    ] as const) {
      assert.throws(
        () => translateMeta(meta as Record<string, unknown>),
        (e: Error & { code?: string }) => e.code === ErrorCodes.INVALID_INPUT && e.message.includes(name),
        name,
      );
    }
  });
});
