import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeRecorderEffects, startTestServer, type RunningServer, type ServerFactory } from '../helpers/test-server.js';

/**
 * The demo page in headless Chromium with fake camera and microphone: three
 * tabs join one room, the host records, everyone sees it and offers its media.
 *
 * The server comes from `createServer`. Today it is the test server (runtime +
 * signaling + HTTP, a stand-in recorder that only closes peers); once src/app.ts
 * wires the werift recorder, swap in a factory that starts the full app
 * (returning the same RunningServer shape) and extend the test to wait for
 * answers, connected peers and the files on disk.
 */
const createServer: ServerFactory = () => startTestServer({ effects: fakeRecorderEffects() });

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

describe.skipIf(!existsSync(CHROMIUM))('demo page in Chromium', () => {
  let server: RunningServer;
  let browser: Browser;
  const pages: Page[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    server = await createServer();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function joinAs(name: string): Promise<Page> {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`${name}: ${err.message}`));
    await page.goto(`${server.url}/?room=e2e-room&name=${name}`);
    await page.click('#join');
    await page.waitForSelector('#me[data-role="host"], #me[data-role="participant"]');
    pages.push(page);
    return page;
  }

  it('three tabs join one room; the first is host and everyone sees everyone', async () => {
    const host = await joinAs('Alice');
    await joinAs('Bob');
    await joinAs('Carol');
    expect(await host.getAttribute('#me', 'data-role')).toBe('host');
    expect(await pages[1].getAttribute('#me', 'data-role')).toBe('participant');
    for (const p of pages) {
      await p.waitForFunction(() => document.querySelectorAll('#members li').length === 3);
      expect(await p.locator('#members li').allTextContents()).toEqual(['Alice', 'Bob', 'Carol']);
    }
    expect(await host.isVisible('#record')).toBe(true);
    expect(await pages[1].isVisible('#record')).toBe(false);
  });

  it('the host records; all three see it and each sends a recording-offer', async () => {
    await pages[0].click('#record');
    for (const p of pages) await p.waitForSelector('#recording-state[data-state="recording"]');
    const recordingId = await pages[0].getAttribute('#recording-state', 'data-recording-id');
    for (const p of pages) expect(await p.getAttribute('#recording-state', 'data-recording-id')).toBe(recordingId);

    await expect
      .poll(() => new Set(server.events.filter((e) => e.type === 'peer.offer.received').map((e) => e.stream)).size, { timeout: 15_000 })
      .toBe(3);
    const offers = server.events.filter((e) => e.type === 'peer.offer.received');
    expect(offers.every((e) => e.stream.startsWith(`peer:${recordingId}.`))).toBe(true);
    expect(offers.every((e) => /m=(audio|video)/.test(String(e.data.sdp)) && String(e.data.sdp).includes('a=sendonly'))).toBe(true);
    for (const p of pages) await p.waitForSelector('#peer-state[data-state="offering"]');
  });

  it('turning a camera off sends a fresh offer for the same recording (audio only)', async () => {
    const bob = pages[1];
    const bobId = await bob.evaluate(() => (window as any).demo.participantId as string);
    const bobOffers = () => server.events.filter((e) => e.type === 'peer.offer.received' && e.stream.endsWith(`.${bobId}`));
    expect(bobOffers()).toHaveLength(1);
    await bob.click('#camera');
    await expect.poll(() => bobOffers().length, { timeout: 10_000 }).toBe(2);
    const sdp = String(bobOffers()[1].data.sdp);
    expect(sdp).toContain('m=audio');
    expect(sdp).not.toContain('m=video');
    expect(bobOffers()[1].stream).toBe(bobOffers()[0].stream);
  });

  it('the host stops; all three see the recording stopped', async () => {
    await pages[0].click('#stop');
    for (const p of pages) await p.waitForSelector('#recording-state[data-state="stopped"]', { timeout: 20_000 });
    expect(problems).toEqual([]);
  });
});
