import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { createClient } from 'redis';
import Pack from '../index';
import type { Manager } from '../index';
import { redact, showConnectionString } from '../lib/secrets';
import { RedisServer } from './helpers/redis-server';

/** Everything a user could print or log about a value. */
const exposures = (value: unknown): string => {
  let json = '';
  try {
    json = JSON.stringify(value) ?? '';
  } catch (err) {
    json = String(err);
  }
  const stack = value instanceof Error ? (value.stack ?? '') : '';
  return inspect(value, { depth: 6, showHidden: true, getters: true }) + json + stack;
};

/** Fails when `text` holds `secret`, or any 4-character piece of it that holds no space. */
function assertHidden(text: string, secret: string, what: string): void {
  const forms = [secret, encodeURIComponent(secret), secret.replace(/[\t\n\r]/g, '')];
  for (const form of forms) {
    for (let i = 0; i + 4 <= form.length; i++) {
      const piece = form.slice(i, i + 4);
      if (/\s/.test(piece) || /^[a-z]+$/i.test(piece)) continue; // ordinary words may occur in messages
      assert.ok(!text.includes(piece), `${what} shows ${JSON.stringify(piece)} of ${JSON.stringify(secret)}:\n${text}`);
    }
  }
}

// Passwords full of what URLs and regexes treat specially.
const PASSWORDS = [
  'Q#9x@host',
  'a/b?c#d1',
  'tab\tin\there7',
  'new\nline\r\n8',
  '%41%zz%2',
  ' spaced out 3',
  'üñí©ødé$5',
  'col:on@at@6',
  'back\\slash"q\'4',
];

describe('secrets in connection strings and meta', () => {
  let srv: RedisServer;
  before(async () => {
    srv = await RedisServer.start();
    const admin = createClient({ url: srv.url });
    await admin.connect();
    for (const [i, pw] of PASSWORDS.entries())
      await admin.sendCommand(['ACL', 'SETUSER', `u${i}`, 'on', `>${pw}`, '~*', '+@all']);
    await admin.close();
  });
  after(() => srv.stop());

  for (const [i, pw] of PASSWORDS.entries()) {
    it(`password ${JSON.stringify(pw)}: percent-encoded it connects; raw or wrong it never shows`, async () => {
      const good = `redis://u${i}:${encodeURIComponent(pw)}@127.0.0.1:${srv.port}`;
      const { manager } = await Pack.promises.createManager({ connectionString: good });
      const { connection } = await Pack.promises.getConnection({ manager });
      assert.equal(await connection.sendCommand(['ACL', 'WHOAMI']), `u${i}`);
      assertHidden(exposures(manager) + manager.url + exposures(connection), pw, 'a working manager');
      await Pack.promises.destroyManager({ manager });

      // The same password from meta.
      const fromMeta = await Pack.promises.createManager({
        connectionString: srv.url,
        meta: { username: `u${i}`, password: pw },
      });
      await Pack.promises.getConnection({ manager: fromMeta.manager });
      assertHidden(exposures(fromMeta.manager) + exposures(fromMeta.manager.meta), pw, 'meta');
      await Pack.promises.destroyManager({ manager: fromMeta.manager });

      // Raw in the URL: whatever the outcome, the password is not in it.
      const raw = `redis://u${i}:${pw}@127.0.0.1:${srv.port}`;
      const created = await Pack.promises.createManager({ connectionString: raw }).catch((e: Error) => e);
      if (created instanceof Error) {
        assert.equal((created as { exit?: string }).exit, 'malformed');
        assertHidden(exposures(created), pw, 'the malformed error');
      } else {
        assertHidden(exposures(created.manager) + created.manager.url, pw, 'a manager of a raw URL');
        const got = await Pack.promises.getConnection({ manager: created.manager }).catch((e: Error) => e);
        if (got instanceof Error) assertHidden(exposures(got), pw, 'the connect error');
        await Pack.promises.destroyManager({ manager: created.manager });
      }

      // Wrong password (the real one plus a character): the error does not show what was given.
      const wrong = `redis://u${i}:${encodeURIComponent(pw + 'Z')}@127.0.0.1:${srv.port}`;
      const { manager: m2 } = await Pack.promises.createManager({ connectionString: wrong });
      const err = await Pack.promises.getConnection({ manager: m2 }).catch((e: Error) => e);
      assert.ok(err instanceof Error);
      assertHidden(exposures(err), pw, 'the wrong-password error');
      await Pack.promises.destroyManager({ manager: m2 });
    });
  }

  it('a raw "#", "/" or "?" in a URL password: malformed, and the message does not quote the URL', async () => {
    for (const connectionString of ['redis://:Q#9zz@h:1', 'redis://:ab/cd9@h', 'redis://u:pw?x9z@h:1']) {
      const err = (await Pack.promises.createManager({ connectionString }).catch((e: Error) => e)) as Error;
      assert.ok(err instanceof Error, connectionString);
      assert.doesNotMatch(exposures(err), /Q#9zz|cd9|pw\?x9z|x9z/);
    }
  });

  it('a tab or line break inside a URL: malformed, saying to percent-encode it; a trailing newline is fine', async () => {
    const err = (await Pack.promises
      .createManager({ connectionString: 'redis://:pa\tss99@127.0.0.1:1' })
      .catch((e: Error) => e)) as Error & { exit: string };
    assert.equal(err.exit, 'malformed');
    assert.match(err.message, /percent-encode/);
    assert.doesNotMatch(exposures(err), /pa\s*ss99/);
    const { manager } = await Pack.promises.createManager({ connectionString: `${srv.url}\n` });
    const { connection } = await Pack.promises.getConnection({ manager });
    assert.equal(await connection.ping(), 'PONG');
    await Pack.promises.destroyManager({ manager });
  });

  it('manager.meta is shown masked: password, auth_pass and TLS keys read ***', async () => {
    const secret = 'M3ta-Secret!';
    const { manager } = await Pack.promises.createManager({
      connectionString: 'redis://127.0.0.1:1',
      meta: { password: secret, auth_pass: secret, socket: { key: secret, passphrase: secret }, db: 2 },
    });
    const meta = manager.meta as Record<string, unknown>;
    assert.equal(meta.password, '***');
    assert.equal(meta.auth_pass, '***');
    assert.deepEqual(meta.socket, { key: '***', passphrase: '***' });
    assert.equal(meta.db, 2);
    assert.doesNotMatch(exposures(manager) + exposures(manager.meta), /M3ta-Secret/);
    await Pack.promises.destroyManager({ manager });
  });

  it("secrets belong to their manager: none kept process-wide, another manager's messages do not know them", async () => {
    const a = (await Pack.promises.createManager({ connectionString: 'redis://:Alpha-Pass1@h:1' })).manager;
    const b = (await Pack.promises.createManager({ connectionString: 'redis://:Beta-Pass2@h:1' })).manager;
    const text = 'seen: Alpha-Pass1 and Beta-Pass2';
    assert.equal(redact(text), text, 'no process-wide list of secrets');
    const internal = (m: Manager) => (m as unknown as { redact(t: string): string }).redact(text);
    assert.equal(internal(a), 'seen: *** and Beta-Pass2');
    assert.equal(internal(b), 'seen: Alpha-Pass1 and ***');
    await Pack.promises.destroyManager({ manager: a });
    await Pack.promises.destroyManager({ manager: b });
  });

  it('showConnectionString shows only what parses, password masked', () => {
    assert.equal(showConnectionString('redis://u:p%40ss@h:1/2'), 'redis://u:***@h:1/2');
    assert.equal(showConnectionString('redis://h:1'), 'redis://h:1');
    assert.equal(showConnectionString('unix:///tmp/r.sock'), 'unix:///tmp/r.sock');
    assert.match(showConnectionString('redis://:Q#9@h'), /not shown/);
    assert.match(showConnectionString('redis://:12/34@h'), /not shown/);
    assert.match(showConnectionString('redis://:a\tb@h'), /not shown/);
  });
});
