import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../events/envelope.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

/**
 * The demo page with access control on, in headless Chromium, opened through
 * the links `npm run token` prints: the link's token becomes a cookie, the
 * unchanged page joins, records, stops and plays the composed video through
 * a signed link. A page opened without a token gets nothing.
 */
const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
];
const SECRET = 'e2e-access-secret-0123456789abcdefgh';
const ROOM = 'e2e-auth';

/** Runs `npm run token` as an operator would, against this server's address. */
async function tokenLink(app: TestApp, role: string, name: string): Promise<string> {
  const { stdout } = await promisify(execFile)('npm', ['run', '-s', 'token', '--', '--role', role, '--room', ROOM, '--name', name, '--ttl', '10m'], {
    env: { ...process.env, AUTH_SECRET: SECRET, PUBLIC_URL: app.url },
  });
  const [token, url] = stdout.trim().split('\n');
  expect(url).toBe(`${app.url}/?room=${ROOM}&name=${name}&token=${token}`);
  return url;
}

describe('demo page with access control on', () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  let app: TestApp;
  let browser: Browser;
  const events: StoredEvent[] = [];
  const problems: string[] = [];
  const pages: Page[] = [];
  let stranger: Page;

  beforeAll(async () => {
    app = await startTestApp({ AUTH_SECRET: SECRET });
    app.runtime.onEvent(({ event }) => events.push(event));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  });
  afterAll(async () => {
    await browser?.close();
    await app?.cleanup();
  });

  async function open(url: string, who: string): Promise<{ page: Page; context: BrowserContext }> {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`${who}: ${err.message}`));
    await page.goto(url);
    return { page, context };
  }

  it('the printed link stores its token in an HttpOnly cookie and lands on the page without it', async () => {
    for (const [role, name] of [
      ['host', 'Alice'],
      ['participant', 'Bob'],
    ]) {
      const { page, context } = await open(await tokenLink(app, role, name), name);
      expect(page.url()).toBe(`${app.url}/?room=${ROOM}&name=${name}`);
      const [cookie] = await context.cookies();
      expect(cookie).toMatchObject({ name: 'recorder_token', httpOnly: true, sameSite: 'Strict', path: '/' });
      expect(await page.inputValue('#room')).toBe(ROOM);
      await page.click('#join');
      await page.waitForSelector(`#me[data-role="${role}"]`);
      pages.push(page);
    }
    for (const p of pages) await p.waitForFunction(() => document.querySelectorAll('#members li').length === 2);
    expect(await pages[0].locator('#members li').allTextContents()).toEqual(['Alice', 'Bob']);
    expect(await pages[1].isVisible('#record')).toBe(false);
  });

  it('a page opened without a token can neither list recordings nor join', async () => {
    ({ page: stranger } = await open(`${app.url}/?room=${ROOM}&name=Eve`, 'Eve'));
    await stranger.waitForFunction(() => /access token required/.test(document.querySelector('#recordings')!.textContent ?? ''));
    await stranger.click('#join');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await stranger.getAttribute('#me', 'data-role')).toBe('');
    expect(events.filter((e) => e.type === 'room.member.joined')).toHaveLength(2);
  });

  it("the participant's page may not start a recording (403)", async () => {
    const status = await pages[1].evaluate(() =>
      fetch('/api/recording-sessions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ connectionId: 'e2e-auth' }) }).then((r) => r.status),
    );
    expect(status).toBe(403);
  });

  it('the host records and stops; both recorder peers send media', async () => {
    await pages[0].click('#record');
    for (const p of pages) await p.waitForSelector('#recording-state[data-state="recording"]');
    for (const p of pages) await p.waitForSelector('#peer-state[data-state="connected"]', { timeout: 20_000 });
    await expect.poll(() => new Set(events.filter((e) => e.type === 'peer.media.started').map((e) => e.stream)).size, { timeout: 20_000 }).toBe(2);
    await new Promise((r) => setTimeout(r, 3_000));
    await pages[0].click('#stop');
    for (const p of pages) await p.waitForSelector('#recording-state[data-state="stopped"]', { timeout: 20_000 });
  });

  it('the composed video is listed with a signed link and plays in the page', async () => {
    const host = pages[0];
    await host.waitForFunction(() => /Composition completed/.test(document.querySelector('#job-state')!.textContent ?? ''), undefined, { timeout: 120_000 });
    // The list refreshes on its own after the job completes: wait for the composed file's entry, not the first track's.
    const composedItem = '#recordings .recording li:has-text("composed") button';
    await host.waitForSelector(composedItem, { timeout: 30_000 });
    await host.click(composedItem);
    const src = await host.getAttribute('#player', 'src');
    expect(src).toMatch(/^\/api\/recordings\/e2e-auth\/[^?]+-composed\.webm\/stream\?exp=\d+&sig=[\w-]{43}$/);
    await host.waitForFunction(() => (document.querySelector('#player') as HTMLVideoElement).readyState >= 2, undefined, { timeout: 20_000 });
    expect(await host.evaluate(() => (document.querySelector('#player') as HTMLVideoElement).error)).toBeNull();
    // the signed link works without the cookie too (another browser context, no token)
    const status = await stranger.evaluate((url) => fetch(url, { headers: { range: 'bytes=0-9' } }).then((r) => r.status), src!);
    expect(status).toBe(206);
    expect(await stranger.evaluate((url) => fetch(url.split('?')[0]).then((r) => r.status), src!)).toBe(403);
    expect(problems).toEqual([]);
  });
});
