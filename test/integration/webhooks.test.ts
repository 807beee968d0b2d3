import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startNats, type NatsServer } from '../../tools/lib/nats-server.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { Participant } from '../helpers/participant.js';
import { trackSidecarsIn } from '../helpers/recordings.js';
import { removeDir, tempDir } from '../helpers/tmp.js';
import { poll, sleep } from '../helpers/wait.js';
import { TestClient } from '../helpers/ws-client.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

interface Received {
  id: string;
  type: string;
  body: any;
  headers: IncomingHttpHeaders;
  /** What the receiver answered. */
  status: number;
}

/** A webhook endpoint on 127.0.0.1: verifies every delivery with standardwebhooks' own verifier, answers `answer()`. */
async function startReceiver(answer: (r: Omit<Received, 'status'>) => number = () => 200) {
  const verifier = new Webhook(SECRET);
  const received: Received[] = [];
  const unverified: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      try {
        const body = verifier.verify(raw, req.headers as Record<string, string>) as any;
        const r = { id: String(req.headers['webhook-id']), type: body.type, body, headers: req.headers };
        const status = answer(r);
        received.push({ ...r, status });
        res.writeHead(status).end();
      } catch (err) {
        unverified.push((err as Error).message);
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return {
    url,
    received,
    unverified,
    /** Deliveries the receiver acknowledged (2xx), in order. */
    acked: () => received.filter((r) => r.status >= 200 && r.status < 300),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
type Receiver = Awaited<ReturnType<typeof startReceiver>>;

const hookEnv = (url: string) => ({ WEBHOOK_URLS: url, WEBHOOK_SECRET: SECRET, WEBHOOK_RETRY_MIN_MS: '50', WEBHOOK_RETRY_MAX_MS: '400' });

/** No message acknowledged with a 2xx is POSTed again. */
function expectNoRedeliveryAfterAck(rx: Receiver) {
  const acked = new Set<string>();
  for (const r of rx.received) {
    expect(acked.has(r.id), `${r.type} ${r.id} delivered again after its 2xx`).toBe(false);
    if (r.status >= 200 && r.status < 300) acked.add(r.id);
  }
}

describe('webhooks (Standard Webhooks), embedded log', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });

  it('one real recording, seen by a receiver: signed, in order, with the composed output', async () => {
    const rx = await startReceiver();
    cleanups.push(rx.close);
    const app: TestApp = await startTestApp(hookEnv(rx.url));
    cleanups.push(() => app.cleanup());
    const room = 'hooked-room';
    const host = await Participant.join(app.url, room, { name: 'Host' });
    const guest = await Participant.join(app.url, room, { name: 'Guest' });
    cleanups.push(() => host.close(), () => guest.close());
    const start = await app.http.post('/api/recording-sessions', { connectionId: room, layout: 'grid', format: 'webm' });
    expect(start.status).toBe(201);
    const recordingId = start.json.session.id;
    // both members' audio and video are being written (on a loaded machine that takes longer than any fixed sleep), then 2 s of media
    const sidecars = async () => (await trackSidecarsIn(app.root, room)).length;
    expect(await poll(sidecars, (n) => n === 4, { timeoutMs: 20_000, stepMs: 100 }), 'tracks being written').toBe(4);
    await sleep(2_000);
    await guest.leave();
    await sleep(800);
    const stop = await app.http.delete(`/api/recording-sessions/${recordingId}`);
    expect(stop.status).toBe(200);
    const jobId = stop.json.compositionJob.id;
    await poll(() => app.http.get(`/api/recording-compositions/${jobId}`), (r) => r.json.job.status === 'completed', { timeoutMs: 60_000, stepMs: 200 });
    await host.leave();
    await poll(async () => rx.acked().map((r) => r.type), (t) => t.includes('room.finished'), { timeoutMs: 10_000 });

    const types = rx.acked().map((r) => r.type);
    console.log(`a webhook receiver's view of one real recording:\n  ${types.join('\n  ')}`);
    expect(rx.unverified).toEqual([]);
    expect(types).toEqual([
      'room.started',
      'participant.joined',
      'participant.joined',
      'recording.started',
      'participant.left',
      'recording.stopped',
      'composition.started',
      'composition.completed',
      'participant.left',
      'room.finished',
    ]);
    const byType = (t: string) => rx.acked().filter((r) => r.type === t);
    for (const r of rx.acked()) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      expect(Object.keys(r.body).sort()).toEqual(['data', 'timestamp', 'type']);
      expect(Number.isNaN(Date.parse(r.body.timestamp))).toBe(false);
    }
    expect(new Set(rx.acked().map((r) => r.id)).size).toBe(types.length);
    expect(byType('participant.joined').map((r) => r.body.data.role)).toEqual(['host', 'participant']);
    expect(byType('participant.joined')[0]!.body.data).toMatchObject({ roomId: room, participantId: host.participantId, name: 'Host' });
    expect(byType('recording.started')[0]!.body.data).toMatchObject({ recordingId, roomId: room, layout: 'grid', format: 'webm' });
    expect(byType('recording.stopped')[0]!.body.data).toMatchObject({ recordingId, reason: 'requested', compose: true, compositionJobId: jobId });
    expect(byType('participant.left')[0]!.body.data).toMatchObject({ participantId: guest.participantId, reason: 'left' });
    expect(byType('room.finished')[0]!.body.data).toMatchObject({ roomId: room, reason: 'host-left', hostId: host.participantId });

    const done = byType('composition.completed')[0]!.body.data;
    console.log('composition.completed data:', JSON.stringify({ ...done, tracks: done.tracks.length }));
    expect(done).toMatchObject({ jobId, recordingId, roomId: room, attempt: 1 });
    expect(done.output).toMatchObject({ format: 'webm', layout: 'grid', objectKey: null });
    expect(done.output.filename).toMatch(new RegExp(`-${recordingId}-composed\\.webm$`));
    expect(done.output.sizeBytes).toBeGreaterThan(10_000);
    expect(done.output.durationMs).toBeGreaterThan(2_000);
    expect(done.output.downloadUrl).toBe(`${app.url}/api/recordings/${room}/${done.output.filename}/download`);
    const file = await app.http.get(done.output.downloadUrl.slice(app.url.length));
    expect(file.status).toBe(200);
    expect(file.body.length).toBe(done.output.sizeBytes);
    // every track, with its participant and offset: audio + video of both members
    expect(done.tracks.length).toBeGreaterThanOrEqual(4);
    for (const p of [host, guest]) {
      const kinds = done.tracks.filter((t: any) => t.participantId === p.participantId).map((t: any) => t.kind).sort();
      expect(kinds).toEqual(expect.arrayContaining(['audio', 'video']));
    }
    for (const t of done.tracks) {
      expect(t.offsetMs).toBeGreaterThanOrEqual(0);
      expect(t.file).toMatch(/\.webm$/);
      expect(['host', 'participant']).toContain(t.role);
    }
  }, 90_000);

  it('a receiver answering 500 for a while, and a restart in between: redelivered with the same webhook-id, nothing lost, nothing acknowledged twice', async () => {
    let phase: 'ok' | 'failing' = 'ok';
    let okLeft = 2;
    const rx = await startReceiver(() => {
      if (phase === 'ok' && okLeft > 0) {
        okLeft--;
        return 200;
      }
      return phase === 'ok' ? 200 : 500;
    });
    cleanups.push(rx.close);
    const root = await tempDir('mr-hooks-');
    cleanups.push(() => removeDir(root));
    const app1 = await startTestApp(hookEnv(rx.url), { root });
    const host = await TestClient.open(app1.url.replace(/^http/, 'ws') + '/');
    const hostReply = await host.join('retry-room', 'H');
    await poll(async () => rx.acked().length, (n) => n === 2);
    phase = 'failing'; // from now on: 500
    const guest = await TestClient.open(app1.url.replace(/^http/, 'ws') + '/');
    const guestReply = await guest.join('retry-room', 'G');
    guest.send({ type: 'disconnect', connectionId: 'retry-room' });
    await poll(async () => rx.received.filter((r) => r.status === 500).length, (n) => n >= 4);
    const failing = rx.received.filter((r) => r.status === 500);
    expect(new Set(failing.map((r) => r.id)).size).toBe(1); // order per endpoint: nothing overtakes the message being retried
    expect(failing[0]!.type).toBe('participant.joined');
    expect(failing[0]!.body.data.participantId).toBe(guestReply.participantId);
    await app1.stop();
    host.ws.terminate();
    guest.ws.terminate();

    phase = 'ok';
    const app2 = await startTestApp(hookEnv(rx.url), { root });
    cleanups.push(() => app2.cleanup());
    // the restart closes the room it found open (server-restart): the receiver hears of that too
    await poll(async () => rx.acked().map((r) => r.type), (t) => t.includes('room.finished'), { timeoutMs: 15_000 });
    expect(rx.unverified).toEqual([]);
    const acked = rx.acked();
    expect(acked.map((r) => r.type)).toEqual([
      'room.started',
      'participant.joined',
      'participant.joined',
      'participant.left',
      'participant.left',
      'room.finished',
    ]);
    expect(acked[2]!.id).toBe(failing[0]!.id); // the same webhook-id before and after the restart
    expect(acked[4]!.body.data).toMatchObject({ participantId: hostReply.participantId, reason: 'server-restart' });
    expectNoRedeliveryAfterAck(rx);

    // every outcome is an event in the log, visible in the operator's replay
    const outcomes: string[] = [];
    for await (const { event } of app2.log.read()) if (event.type.startsWith('webhook.')) outcomes.push(event.type);
    expect(outcomes.filter((t) => t === 'webhook.delivered')).toHaveLength(6);
    expect(outcomes.filter((t) => t === 'webhook.attempt.failed').length).toBeGreaterThanOrEqual(4);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'tools/replay.ts', '--file', join(root, '.eventlog', 'events.jsonl')],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    expect(stdout).toMatch(/webhook\.attempt\.failed/);
    expect(stdout).toMatch(/webhook\.delivered/);
  }, 60_000);
});

describe('webhooks in NATS mode: two nodes, each message delivered by one', () => {
  let nats: NatsServer | null = null;
  const tag = randomBytes(4).toString('hex');
  const env = (natsUrl: string) => ({
    NATS_URL: natsUrl,
    NATS_EVENT_STREAM: `T_WH_EV_${tag}`,
    NATS_SUBJECT_PREFIX: `twh${tag}.ev`,
    NATS_COMPOSE_STREAM: `T_WH_CO_${tag}`,
  });
  afterAll(async () => {
    if (!nats) return;
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    for (const s of [`T_WH_EV_${tag}`, `T_WH_CO_${tag}`]) await jsm.streams.delete(s).catch(() => {});
    await nc.close();
    await nats.stop();
  });

  it('both nodes follow the log; the receiver gets every message once', async () => {
    nats = await startNats();
    const rx = await startReceiver();
    const apps: TestApp[] = [];
    try {
      for (const id of ['wh-a', 'wh-b']) apps.push(await startTestApp({ ...env(nats.url), ...hookEnv(rx.url), NODE_ID: id }));
      const clients: TestClient[] = [];
      for (const [i, app] of apps.entries()) {
        const host = await TestClient.open(app.url.replace(/^http/, 'ws') + '/');
        await host.join(`nats-room-${i}`, `H${i}`);
        const guest = await TestClient.open(app.url.replace(/^http/, 'ws') + '/');
        await guest.join(`nats-room-${i}`, `G${i}`);
        clients.push(host, guest);
      }
      await poll(async () => rx.acked().length, (n) => n === 6, { timeoutMs: 15_000 });
      await sleep(1_000); // a second node delivering too would show up here
      expect(rx.unverified).toEqual([]);
      expect(rx.received).toHaveLength(6);
      expect(new Set(rx.received.map((r) => r.id)).size).toBe(6);
      expect(rx.received.map((r) => r.type).filter((t) => t === 'room.started')).toHaveLength(2);
      for (const c of clients) c.ws.terminate();
    } finally {
      for (const app of apps) await app.cleanup();
      await rx.close();
    }
  }, 60_000);
});
