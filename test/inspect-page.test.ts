/**
 * The `inspect` page in a real headless browser: Debian's chromium (`/usr/bin/chromium`, installed by .ci/run)
 * driven by playwright-core, which never downloads a browser of its own.
 * `UPDATE_SCREENSHOT=1 npx mocha test/inspect-page.test.ts` refreshes assets/inspect.png for the README.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import Pack from '../index';
import type { MemisClient } from '../index';
import { RunningCli } from './helpers/cli';
import { PASSWORD, RedisServer } from './helpers/redis-server';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A GET with a chosen Host header; resolves with the status code. */
function statusFor(address: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(address);
    http
      .get({ hostname: u.hostname, port: u.port, path: '/', headers: { host } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

describe('inspect: the page in a headless browser', function () {
  this.timeout(180000);
  let srv: RedisServer;
  let writer: MemisClient;
  let cli: RunningCli;
  let address: string;
  let profile: string;
  let context: BrowserContext;
  let page: Page;
  /** The revisions of each collection's last write (stamps: Redis's clock in µs). */
  const revs = { nl: 0, flags: 0, be: 0 };

  before(async () => {
    srv = await RedisServer.start({ args: ['--requirepass', PASSWORD] });
    writer = Pack.createClient(srv.url, { password: PASSWORD });
    const artists = writer.database('region-nl').collection('artists');
    await artists.set('coldplay', { genre: 'Alternative', rank: 1, tags: ['britpop', 'piano'] });
    await artists.set('queen', { genre: 'Rock', rank: 2 });
    revs.nl = await artists.set('abba', { genre: 'Pop', rank: 3 }, 3600);
    revs.flags = await writer.database('region-nl').collection('flags').set('dark-mode', { on: true, rollout: 0.25 });
    revs.be = await writer.database('region-be').collection('artists').set('stromae', { genre: 'Pop' });

    // The password in the URL, so the page could leak it if anything passed it on.
    const url = `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${srv.port}`;
    cli = new RunningCli(['inspect', '--port', '0', '--url', url]);
    await cli.until((c) => /on http:\/\/127\.0\.0\.1:\d+\//.test(c.stdout), 'the inspector to listen');
    address = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(cli.stdout)![1]!;

    profile = mkdtempSync(path.join(tmpdir(), 'mpr-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1100, height: 640 },
    });
    page = await context.newPage();
  });

  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    if (cli) assert.equal(await cli.stop('SIGINT'), 0, `inspect exits 0 on Ctrl-C; stderr: ${cli.stderr}`);
    await writer?.quit();
    await srv?.stop();
  });

  it('lists databases and collections with item counts and revisions', async () => {
    await page.goto(address);
    const nav = page.locator('nav');
    await nav.locator('a', { hasText: 'flags' }).waitFor();
    assert.deepEqual(await nav.locator('h2').allTextContents(), ['region-be', 'region-nl']);
    assert.deepEqual(await nav.locator('a').allTextContents(), [
      `artists1 item · rev ${revs.be}`,
      `artists3 items · rev ${revs.nl}`,
      `flags1 item · rev ${revs.flags}`,
    ]);
  });

  it('shows a collection and an item written through the API appears live, then goes when deleted', async () => {
    await page.locator('nav a', { hasText: 'artists3 items' }).click();
    const rows = page.locator('#items tbody tr');
    await page.locator('#items tbody tr[data-key="queen"]').waitFor();
    assert.deepEqual(await rows.locator('td.key').allTextContents(), ['abba', 'coldplay', 'queen']);
    assert.equal(await page.locator('#title').textContent(), 'region-nl / artists');

    const artists = writer.database('region-nl').collection('artists');
    await artists.set('daft-punk', { genre: 'Electronic', rank: 4 });
    const added = page.locator('#items tbody tr[data-key="daft-punk"]');
    await added.waitFor();
    assert.equal(await added.locator('td.data').textContent(), '{"genre":"Electronic","rank":4}');
    await page.locator('#log li', { hasText: 'set  daft-punk' }).waitFor();

    const fifth = await artists.set('coldplay', { genre: 'Alternative', rank: 5, tags: ['britpop', 'piano'] });
    await page.locator('#items tbody tr[data-key="coldplay"] td.data', { hasText: '"rank":5' }).waitFor();
    // The stats show the live copy's size (status/stats too, once the facade has them).
    await page.locator('#stats div', { hasText: 'items4' }).waitFor();
    await page.locator('nav a', { hasText: `artists4 items · rev ${fifth}` }).waitFor();

    const shot = path.join(profile, 'inspect.png');
    await page.screenshot({ path: shot });
    assert.ok(statSync(shot).size > 10000, 'a screenshot of the page');
    if (process.env.UPDATE_SCREENSHOT)
      await page.screenshot({ path: path.join(__dirname, '..', 'assets', 'inspect.png') });

    await artists.set('<img src=x onerror=alert(1)>', { html: '<b>not bold</b>' });
    await page.locator('#items tbody tr td.key', { hasText: '<img src=x onerror=alert(1)>' }).waitFor();
    assert.equal(await page.locator('#items tbody img, #items tbody b').count(), 0, 'item text is never HTML');
    await artists.del('<img src=x onerror=alert(1)>');
    await page.locator('#items tbody tr', { hasText: '<img' }).waitFor({ state: 'detached' });
  });

  it('never shows the password, on the page or in what it is sent', async () => {
    const html = await page.content();
    const events = await page.evaluate(async () => {
      const r = await fetch('/events?database=region-nl&collection=artists');
      const reader = r.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      while (!text.includes('event: snapshot')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      await reader.cancel();
      return text;
    });
    assert.match(await page.locator('#server').textContent().then(String), /^redis:\/\/127\.0\.0\.1:\d+$/);
    for (const text of [html, events, cli.stdout, cli.stderr])
      for (const secret of [PASSWORD, encodeURIComponent(PASSWORD), 's3cret']) assert.ok(!text.includes(secret));
  });

  it('answers only requests addressed to a loopback name (no DNS rebinding)', async () => {
    const port = new URL(address).port;
    assert.equal(await statusFor(address, `127.0.0.1:${port}`), 200);
    assert.equal(await statusFor(address, `localhost:${port}`), 200);
    assert.equal(await statusFor(address, `attacker.example:${port}`), 403);
    assert.equal(await statusFor(address, `127.0.0.1:${Number(port) + 1}`), 403);
  });
});
