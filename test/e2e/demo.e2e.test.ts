import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../events/envelope.js';
import { segmentMetaSchema, type SegmentMeta } from '../../events/segment.js';
import type { TestApp } from '../helpers/app.js';
import { startModeApp, type AppMode } from '../helpers/app-modes.js';
import { probeFile } from '../helpers/media-harness.js';
import { eventually, sleep } from '../helpers/wait.js';

/**
 * The demo page in headless Chromium with fake camera and microphone, against
 * the full app (werift recorder, ffmpeg composer): tabs join one room, the
 * host records, every tab's recorder peer connects and sends media, one turns
 * its camera off (a renegotiation), the host stops, and the per-track files and
 * the composed video come out decodable. The whole story runs once in
 * beforeAll; each test checks one part of what it left. With the embedded log
 * three tabs and the camera-off; in NATS mode (JetStream log and work queue) a
 * smaller meeting of two tabs, to keep CI short.
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

interface Case {
  mode: AppMode;
  names: string[];
  cameraOff: boolean;
}
const CASES: Case[] = [
  { mode: 'embedded', names: ['Alice', 'Bob', 'Carol'], cameraOff: true },
  { mode: 'nats', names: ['Alice', 'Bob'], cameraOff: false },
];

describe.each(CASES)('demo page in Chromium ($mode log, $names.length tabs)', ({ mode, names, cameraOff }) => {
  // Not skipped when missing: CI installs Debian's chromium, and a silent skip would pass for nothing.
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  const room = `e2e-room-${mode}`;
  let app: TestApp;
  let browser: Browser;
  const events: StoredEvent[] = [];
  const pages: Page[] = [];
  const problems: string[] = [];
  /** What the story saw on the way; the tests check it. */
  const seen = {
    roles: [] as (string | null)[],
    members: [] as string[][],
    recordVisible: [] as boolean[],
    recordingIds: [] as (string | null)[],
    stoppedIds: [] as (string | null)[],
    participantIds: [] as string[],
  };
  let recordingId = '';
  const ofType = (type: string, stream?: (s: string) => boolean) => events.filter((e) => e.type === type && (!stream || stream(e.stream)));
  const peerOf = (i: number) => `peer:${recordingId}.${seen.participantIds[i]}`;
  /** The recorder has media of `kind` from tab i's offer number `offer`. */
  const mediaFrom = (i: number, kind: 'audio' | 'video', offer = 1) =>
    ofType('peer.media.started', (s) => s === peerOf(i)).some((e) => e.data.kind === kind && e.data.offerNumber === offer);

  async function joinAs(name: string): Promise<Page> {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`${name}: ${err.message}`));
    await page.goto(`${app.url}/?room=${room}&name=${name}`);
    await page.click('#join');
    await page.waitForSelector('#me[data-role="host"], #me[data-role="participant"]');
    pages.push(page);
    return page;
  }

  beforeAll(async () => {
    app = await startModeApp(mode);
    app.runtime.onEvent(({ event }) => events.push(event));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
    for (const n of names) await joinAs(n);
    for (const p of pages) {
      seen.roles.push(await p.getAttribute('#me', 'data-role'));
      seen.recordVisible.push(await p.isVisible('#record'));
      await p.waitForFunction((n) => document.querySelectorAll('#members li').length === n, names.length);
      seen.members.push(await p.locator('#members li').allTextContents());
      seen.participantIds.push(await p.evaluate(() => (window as any).demo.participantId as string));
    }

    await pages[0]!.click('#record');
    for (const p of pages) await p.waitForSelector('#recording-state[data-state="recording"]');
    for (const p of pages) seen.recordingIds.push(await p.getAttribute('#recording-state', 'data-recording-id'));
    recordingId = seen.recordingIds[0]!;
    for (const p of pages) await p.waitForSelector('#peer-state[data-state="connected"]', { timeout: 30_000 });
    // every tab's audio and video reached the recorder (not a wall-clock guess)
    await eventually(() => pages.every((_, i) => mediaFrom(i, 'audio') && mediaFrom(i, 'video')), 30_000, 50);

    if (cameraOff) {
      await pages[1]!.click('#camera');
      // the camera-off offer is answered and its audio reaches the recorder: that is the new segment
      await eventually(() => mediaFrom(1, 'audio', 2), 30_000, 50);
    }
    await sleep(2_000); // every track records a while
    await pages[0]!.click('#stop');
    for (const p of pages) await p.waitForSelector('#recording-state[data-state="stopped"]', { timeout: 30_000 });
    for (const p of pages) seen.stoppedIds.push(await p.getAttribute('#recording-state', 'data-recording-id'));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await app?.cleanup();
  });

  it('the tabs join one room; the first is host, everyone sees everyone, only the host may record', () => {
    expect(seen.roles).toEqual(['host', ...names.slice(1).map(() => 'participant')]);
    expect(seen.members).toEqual(names.map(() => names));
    expect(seen.recordVisible).toEqual([true, ...names.slice(1).map(() => false)]);
  });

  it('the host records; every tab sees the same recording and sends a send-only recording-offer', () => {
    expect(seen.recordingIds).toEqual(names.map(() => recordingId));
    const offers = ofType('peer.offer.received');
    expect(new Set(offers.map((e) => e.stream))).toEqual(new Set(names.map((_, i) => peerOf(i))));
    expect(offers.every((e) => /m=(audio|video)/.test(String(e.data.sdp)) && String(e.data.sdp).includes('a=sendonly'))).toBe(true);
  });

  if (cameraOff)
    it('turning a camera off sends a fresh offer for the same recording (audio only)', () => {
      const bobOffers = ofType('peer.offer.received', (s) => s === peerOf(1));
      expect(bobOffers).toHaveLength(2);
      const sdp = String(bobOffers[1]!.data.sdp);
      expect(sdp).toContain('m=audio');
      expect(sdp).not.toContain('m=video');
    });

  it('the host stops; every tab sees the recording stopped, and no page threw', () => {
    expect(seen.stoppedIds).toEqual(names.map(() => recordingId));
    expect(problems).toEqual([]);
  });

  it(`the per-track files of every tab decode${cameraOff ? '; the camera-off renegotiation started a new segment' : ''}`, async () => {
    await expect.poll(async () => (await app.runtime.read(`recording:${recordingId}`))?.snapshot.value, { timeout: 30_000 }).toBe('stopped');
    const dir = join(app.root, room);
    const metas: SegmentMeta[] = [];
    for (const f of (await readdir(dir)).filter((f) => f.endsWith('.json') && f.includes(`-${recordingId}-`) && !f.includes('levels'))) {
      const m = segmentMetaSchema.safeParse(JSON.parse(await readFile(join(dir, f), 'utf8')));
      if (m.success) metas.push(m.data);
    }
    const byParticipant = new Map<string, SegmentMeta[]>();
    for (const m of metas) byParticipant.set(m.participantId, [...(byParticipant.get(m.participantId) ?? []), m]);
    expect([...byParticipant.keys()].sort()).toEqual([...seen.participantIds].sort());
    for (const [pid, segs] of byParticipant) {
      expect(segs.some((s) => s.kind === 'audio'), pid).toBe(true);
      expect(segs.some((s) => s.kind === 'video' && s.segmentIndex === 0), pid).toBe(true);
    }
    // Bob's second peer (camera off) recorded audio into segment 1
    if (cameraOff) expect(byParticipant.get(seen.participantIds[1]!)!.some((s) => s.kind === 'audio' && s.segmentIndex === 1)).toBe(true);
    const audioMs = new Map<string, number>();
    for (const m of metas) {
      expect(m.finalized, m.file).toBe(true);
      const probed = await probeFile(join(dir, m.file));
      expect(probed.durationMs ?? 0, m.file).toBeGreaterThan(0);
      expect(probed.decodedFrames, m.file).toBeGreaterThan(0);
      if (m.kind === 'audio') audioMs.set(m.participantId, (audioMs.get(m.participantId) ?? 0) + (probed.durationMs ?? 0));
    }
    // a segment may be short (Bob's first peer lived until his camera went off); the voice is all there
    for (const [pid, ms] of audioMs) expect(ms, pid).toBeGreaterThan(1_500);
  });

  it('the stop composed one video of the meeting', async () => {
    let out: any = null;
    await expect
      .poll(
        async () => {
          const r = await app.http.get(`/api/recording-compositions?meetingId=${room}`);
          out = r.json.jobs.find((j: any) => j.recordingId === recordingId);
          return out?.status;
        },
        { timeout: 120_000, interval: 1_000 },
      )
      .toBe('completed');
    const probed = await probeFile(join(app.root, room, out.output.filename));
    expect(probed.decodeErrors).toBe('');
    expect(probed.width).toBe(1280);
  });
});
