import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRecordingLevels } from '../../src/replay/levels.js';
import { recordingTimeline, replay, timelineReportHtml, withSpeech } from '../../src/replay/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { Participant } from '../helpers/participant.js';
import { pino } from 'pino';
import { readFile } from 'node:fs/promises';

/**
 * The operator console in headless Chromium against the full app (werift
 * recorder, ffmpeg composer), following one real recording of werift
 * participants: it starts, gains a late joiner, loses one, stops and is
 * composed; then the recording's timeline picture shows the right lanes and
 * marks, a mark shows the events behind it, and the page fits a phone. A
 * screenshot of each state goes to .tmp/console-screenshots/.
 */
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SHOTS = join(process.cwd(), '.tmp', 'console-screenshots');
const ROOM = 'board-meeting';

describe('operator console in Chromium', () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  const people: Participant[] = [];
  const problems: string[] = [];
  const apiRequests: string[] = [];
  let recordingId = '';
  let anna: Participant;
  let ben: Participant;
  let cleo: Participant;
  let dan: Participant;

  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const peerRow = (p: Participant) => `.rec tr.peer[data-participant="${p.participantId}"]`;

  beforeAll(async () => {
    await mkdir(SHOTS, { recursive: true });
    app = await startTestApp({}, { peerOptions: { statsIntervalMs: 500 } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
    page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname.startsWith('/api/')) apiRequests.push(u.pathname);
    });
  }, 30_000);
  afterAll(async () => {
    await Promise.allSettled(people.map((p) => p.close()));
    await browser?.close();
    await app?.cleanup();
  });

  const join_ = async (name: string, opts: { noMedia?: boolean } = {}) => {
    const p = await Participant.join(app.url, ROOM, { name, ignorePeerRequests: opts.noMedia });
    if (opts.noMedia) {
      // a client without camera or microphone answers the request with a status, as recorder-client.js does
      p.client.ws.on('message', (raw) => {
        const m = JSON.parse(String(raw));
        if (m.type === 'recording-peer-request') {
          p.client.send({ type: 'recording-status', data: { recordingId: m.recordingId, connectionId: ROOM, participantId: p.participantId, status: 'no-local-media' } });
        }
      });
    }
    people.push(p);
    return p;
  };

  it('shows the open room and its members, and warns that access control is off', async () => {
    await page.goto(`${app.url}/console`);
    await page.waitForSelector('#conn[data-state="live"]');
    expect(await page.isVisible('#access-warning')).toBe(true);
    anna = await join_('Anna');
    ben = await join_('Ben');
    dan = await join_('Dan', { noMedia: true });
    await page.waitForFunction((room) => document.querySelectorAll(`.room[data-room="${room}"] .members li`).length === 3, ROOM);
    expect(await page.locator(`.room[data-room="${ROOM}"] .members li`).allTextContents()).toEqual(['Annahost', 'Ben', 'Dan']);
    await shot('1-room-open');
  });

  it('follows the recording as it starts: every recorder peer’s state, bitrate and packets lost per track', async () => {
    const start = await app.http.post('/api/recording-sessions', { connectionId: ROOM });
    expect(start.status).toBe(201);
    recordingId = start.json.session.id;
    await page.waitForSelector(`.rec[data-recording-id="${recordingId}"][data-state="recording"]`);
    for (const p of [anna, ben]) await page.waitForSelector(`${peerRow(p)}[data-peer-state="flowing"] .track[data-kind="video"][data-bitrate]:not([data-bitrate=""])`, { timeout: 20_000 });
    await page.waitForSelector(`${peerRow(dan)}[data-peer-state="no-media"]`);
    const anna_ = page.locator(peerRow(anna));
    expect(await anna_.locator('.who').textContent()).toBe('Annahost');
    expect(Number(await anna_.locator('.track[data-kind="video"]').getAttribute('data-bitrate'))).toBeGreaterThan(0);
    expect(await anna_.locator('.track[data-kind="audio"]').textContent()).toMatch(/^audio opus · .* · \d+ lost$/);
    expect(await page.locator(peerRow(dan)).locator('.state').textContent()).toContain('client reported no-local-media');
    await page.waitForFunction(() => /^0:0[1-9]/.test(document.querySelector('.rec .elapsed')?.textContent ?? ''));
    await shot('2-recording');
  });

  it('gains a late joiner', async () => {
    cleo = await join_('Cleo');
    await page.waitForSelector(`${peerRow(cleo)}[data-peer-state="flowing"]`, { timeout: 20_000 });
    expect(await page.locator(`.room[data-room="${ROOM}"] .members li`).count()).toBe(4);
    await shot('3-late-joiner');
  });

  it('loses one', async () => {
    await ben.leave();
    await page.waitForFunction((room) => document.querySelectorAll(`.room[data-room="${room}"] .members li`).length === 3, ROOM);
    await page.waitForSelector(`${peerRow(ben)}[data-active="false"][data-peer-state="closed"]`, { timeout: 20_000 });
    await shot('4-one-left');
  });

  it('stops, and the composition’s progress shows until it completes', async () => {
    const stop = await app.http.delete(`/api/recording-sessions/${recordingId}`);
    expect(stop.json.session.status).toBe('stopped');
    await page.waitForSelector(`.room[data-room="${ROOM}"] >> text=Not recording.`);
    await page.waitForSelector(`#jobs .job[data-state="completed"]`, { timeout: 60_000 });
    // the recordings list follows: this recording, composed, with its people
    const row = page.locator(`tr.recording[data-recording-id="${recordingId}"]`);
    await row.waitFor();
    await page.waitForFunction((id) => /MB|kB/.test(document.querySelector(`tr.recording[data-recording-id="${id}"] td[data-label="Size"]`)?.textContent ?? ''), recordingId);
    expect(await row.locator('td[data-label="Host"]').textContent()).toBe('Anna');
    expect(await row.locator('td[data-label="Participants"]').textContent()).toMatch(/Anna.*Ben.*Cleo/);
    expect(await row.locator('td[data-label="Status"]').textContent()).toBe('stopped');
    await shot('5-stopped-composed');
    // updates came pushed over one event stream, not by polling
    expect(apiRequests.filter((p) => p === '/api/console/events')).toHaveLength(1);
    expect(apiRequests.filter((p) => p === '/api/console/state')).toHaveLength(0);
  });

  it('opens the recording: the composed video plays, the timeline shows the lanes and marks, a mark shows its events', async () => {
    await page.fill('#search', 'Cleo board');
    expect(await page.locator('tr.recording').count()).toBe(1);
    await page.fill('#search', 'nobody-by-this-name');
    expect(await page.locator('tr.recording').count()).toBe(0);
    await page.fill('#search', '');
    await page.click(`tr.recording[data-recording-id="${recordingId}"]`);
    await page.waitForSelector(`#timeline[data-recording-id="${recordingId}"] svg`);
    await page.waitForFunction(() => (document.getElementById('player') as HTMLVideoElement).readyState >= 1, null, { timeout: 15_000 });
    expect(await page.evaluate(() => (document.getElementById('player') as HTMLVideoElement).duration)).toBeGreaterThan(2);
    expect(await page.locator('#attempts .job[data-state="completed"]').count()).toBe(1);
    expect(await page.locator('#tracks li').count()).toBeGreaterThanOrEqual(5);

    const lanes = await page.locator('#timeline g[data-lane]').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-lane')));
    expect(lanes).toEqual([anna.participantId, ben.participantId, dan.participantId, cleo.participantId, 'composition']);
    const lane = (p: Participant) => page.locator(`#timeline g[data-lane="${p.participantId}"]`);
    expect(await lane(cleo).locator('[data-presence]').evaluateAll((r) => r.map((x) => x.getAttribute('data-presence')))).toEqual(['joined']);
    expect(await lane(anna).locator('[data-presence]').evaluateAll((r) => r.map((x) => x.getAttribute('data-presence')))).toEqual(['at-start']);
    for (const p of [anna, ben, cleo]) {
      expect(await lane(p).locator('[data-segment-kind="audio"]').count()).toBeGreaterThan(0);
      expect(await lane(p).locator('[data-segment-kind="video"]').count()).toBeGreaterThan(0);
      expect(await lane(p).locator('[data-speech]').count()).toBeGreaterThan(0);
    }
    // Ben's presence ends where he left, well before Anna's
    const width = async (p: Participant) => Number(await lane(p).locator('[data-presence]').first().getAttribute('width'));
    expect(await width(ben)).toBeLessThan((await width(anna)) - 20);
    // Dan never sent media: camera off throughout, and a no-media mark
    expect(await lane(dan).locator('[data-segment-kind]').count()).toBe(0);
    expect(await lane(dan).locator('[data-camera-off]').count()).toBe(1);
    expect(await lane(dan).locator('[data-mark-kind]').evaluateAll((m) => m.map((x) => x.getAttribute('data-mark-kind')))).toEqual(['no-media']);
    // elsewhere only gaps, where the track files hold less than the time the participant was there
    const others = await page.locator('#timeline [data-mark-kind]').evaluateAll((m) => m.map((x) => x.getAttribute('data-mark-kind')));
    expect(others.filter((k) => k !== 'gap')).toEqual(['no-media']);
    expect(await page.locator('#timeline g[data-lane="composition"] [data-attempt="completed"]').count()).toBe(1);

    await lane(dan).locator('[data-mark-kind="no-media"]').click();
    const detail = page.locator('#timeline .tl-mark-detail');
    await detail.waitFor();
    expect(await detail.locator('h4').textContent()).toContain(`participant ${dan.participantId} of recording ${recordingId} never sent media`);
    const types = await detail.locator('.tl-events li').evaluateAll((li) => li.map((x) => x.getAttribute('data-event-type')));
    expect(types).toEqual(['room.recording.requested', 'recording.started', 'peer.requested', 'peer.status.reported']);
    expect(types.at(-1)).toBe('peer.status.reported');
    await page.locator('#detail').scrollIntoViewIfNeeded();
    await shot('6-timeline-mark');
  });

  it('fits a phone’s width', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForFunction(() => Number(document.querySelector('#timeline svg')?.getAttribute('width')) <= 390);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await shot('7-phone');
  });

  it('the same timeline as a self-contained report file draws the same lanes, offline', async () => {
    const t = (await recordingTimeline(app.log.read({ correlationId: recordingId }), recordingId))!;
    const levels = await readRecordingLevels(app.root, ROOM, recordingId, pino({ level: 'silent' }));
    const { problems: found } = await replay(app.log.read(), { recordingId, onEntry: () => {} });
    const file = join(SHOTS, 'report.html');
    const rendererSource = await readFile(new URL('../../public/console-timeline.js', import.meta.url), 'utf8');
    await writeFile(file, timelineReportHtml({ timelines: [withSpeech(t, levels)], problems: found, rendererSource, title: `Recording ${recordingId}`, source: 'test' }));
    const offline = await (await browser.newContext({ viewport: { width: 1280, height: 800 }, offline: true })).newPage();
    offline.on('pageerror', (err) => problems.push(`report pageerror: ${err.message}`));
    const requests: string[] = [];
    offline.on('request', (r) => requests.push(r.url()));
    await offline.goto(`file://${file}`);
    await offline.waitForSelector('.timeline svg');
    expect(await offline.locator('g[data-lane]').count()).toBe(5);
    expect(await offline.locator('[data-mark-kind="no-media"]').count()).toBe(1);
    expect(requests).toEqual([`file://${file}`]);
    await offline.screenshot({ path: join(SHOTS, '8-report.png'), fullPage: true });
  });

  it('logged no console errors', () => {
    expect(problems).toEqual([]);
  });
}, 120_000);
