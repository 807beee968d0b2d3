import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../../src/process/run.js';
import { startNats, type NatsServer } from '../../tools/lib/nats-server.js';
import { startServerProcess, type ServerProcess } from '../../tools/lib/server.js';
import { httpClient } from '../helpers/http.js';
import { probeFile } from '../helpers/media-harness.js';
import { Participant } from '../helpers/participant.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { poll, sleep } from '../helpers/wait.js';

/**
 * NATS mode behind a plain round-robin TCP balancer: three real server
 * processes on one private nats-server and one shared recordings root. A host
 * and two werift participants land on three different nodes; one node is
 * SIGKILLed mid-recording and its lease lapses (NODE_TIMEOUT_MS 3 s).
 */
const NODE_TIMEOUT_MS = 3_000;
/** Small media: three senders and three servers share two cores here. */
const media = { width: 160, height: 120, fps: 15, videoKbps: 150 };

describe('NATS mode: any node takes any socket, a dead node strands nothing', () => {
  let nats: NatsServer;
  const tag = randomBytes(4).toString('hex');
  const root = mkdtempSync(join(tmpdir(), 'mr-nodes-'));
  let env: Record<string, string>;
  let procs: ServerProcess[] = [];
  let proxy: TcpProxy | null = null;
  let people: Participant[] = [];

  beforeAll(async () => {
    nats = await startNats();
    env = {
      NATS_URL: nats.url,
      NATS_EVENT_STREAM: `T_NODES_EV_${tag}`,
      NATS_SUBJECT_PREFIX: `tnodes${tag}.ev`,
      NATS_COMPOSE_STREAM: `T_NODES_CO_${tag}`,
      RECORDING_DIR: root,
      NODE_TIMEOUT_MS: String(NODE_TIMEOUT_MS),
      // Kept logs are for finding a failure: the servers say everything.
      ...(process.env.NODES_TEST_LOGS ? { LOG_LEVEL: 'debug' } : {}),
    };
  });
  afterEach(async () => {
    if (process.env.NODES_TEST_LOGS && procs.length) {
      // One folder per case: a later case does not overwrite an earlier one's logs.
      const { mkdirSync, writeFileSync } = await import('node:fs');
      const dir = join(process.env.NODES_TEST_LOGS, String(expect.getState().currentTestName ?? Date.now()).replace(/[^\w.-]+/g, '_').slice(0, 80));
      mkdirSync(dir, { recursive: true });
      for (const [i, p] of procs.entries()) writeFileSync(join(dir, `node-${i}.log`), p.lines.map((l) => JSON.stringify(l)).join('\n'));
      // And the event log as it stands (the stream is shared by the cases: every case's events so far).
      const nc = await connect({ servers: nats.url });
      try {
        const jsm = await jetstreamManager(nc);
        const last = (await jsm.streams.info(env.NATS_EVENT_STREAM!)).state.last_seq;
        const lines: string[] = [];
        for (let seq = 1; seq <= last; seq++) {
          const m = await jsm.streams.getMessage(env.NATS_EVENT_STREAM!, { seq }).catch(() => null);
          if (m) lines.push(m.string());
        }
        writeFileSync(join(dir, 'events.jsonl'), lines.join('\n'));
      } finally {
        await nc.close();
      }
    }
    await Promise.allSettled(people.map((p) => p.close()));
    await proxy?.close();
    await Promise.allSettled(procs.map((p) => p.kill('SIGKILL')));
    people = [];
    proxy = null;
    procs = [];
  });
  afterAll(async () => {
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    for (const s of [env.NATS_EVENT_STREAM!, env.NATS_COMPOSE_STREAM!, `${env.NATS_EVENT_STREAM!}_TAKEOVER`]) await jsm.streams.delete(s).catch(() => {});
    await nc.close();
    await nats.stop();
    rmSync(root, { recursive: true, force: true });
  });

  /** Three nodes behind the proxy; host, p1, p2 join one room through it, in that order (so one per node). */
  async function meeting(run: string, room: string) {
    procs = await Promise.all(
      ['a', 'b', 'c'].map((n) => startServerProcess({ ...env, NODE_ID: `${run}-${n}` }, { inheritNatsUrl: false, timeoutMs: 30_000 })),
    );
    proxy = await startTcpProxy(procs.map((p) => () => p.url));
    const host = await Participant.join(proxy.url, room, { name: 'Host', media });
    const p1 = await Participant.join(proxy.url, room, { name: 'P1', media });
    const p2 = await Participant.join(proxy.url, room, { name: 'P2', media });
    people = [host, p1, p2];
    expect(proxy.routed).toEqual([0, 1, 2]);
    expect(host.role).toBe('host');
    // Each member's join was taken by a different node.
    for (const [i, p] of people.entries()) {
      const logged = () => procs[i]!.lines.some((l) => l.msg === 'member joined' && l.participantId === p.participantId);
      expect(await poll(async () => logged(), Boolean, { timeoutMs: 5_000, stepMs: 50 })).toBe(true);
    }
    // Everyone sees everyone, whatever node they are on.
    for (const p of people) {
      const m = await p.client.next('members', (x) => x.members.length === 3, 10_000);
      expect(m.members.map((x: any) => x.participantId).sort()).toEqual(people.map((x) => x.participantId).sort());
    }
    return { host, p1, p2 };
  }

  /** Every sender's ffmpeg is up (under load it starts a second or two after ICE). */
  const mediaFlowing = () =>
    poll(async () => people.every((p) => p.current?.sender.stats.audio?.firstSentAt && p.current?.sender.stats.video?.firstSentAt), Boolean, { timeoutMs: 20_000 });

  /** The recording's track sidecars, by participant. */
  async function sidecars(room: string, recordingId: string) {
    const dir = join(root, room);
    const out: Record<string, any[]> = {};
    for (const f of await readdir(dir)) {
      if (!f.includes(recordingId) || !f.endsWith('.json') || f.includes('levels') || f.includes('composed')) continue;
      const meta = JSON.parse(await readFile(join(dir, f), 'utf8'));
      (out[meta.participantId] ??= []).push(meta);
    }
    return out;
  }

  /** Media time of the last audio packet in a track file (ms after its first). */
  async function lastAudioMs(room: string, meta: any): Promise<number> {
    const r = await runProcess('ffprobe', ['-v', 'error', '-select_streams', 'a', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', join(root, room, meta.file)]);
    const times = r.stdout.toString('utf8').trim().split('\n').map(Number).filter(Number.isFinite);
    return Math.round(Math.max(...times) * 1000);
  }

  const completedJob = (http: ReturnType<typeof httpClient>, room: string, recordingId: string) =>
    poll(
      async () => (await http.get(`/api/recording-compositions?meetingId=${room}`)).json.jobs?.find((j: any) => j.recordingId === recordingId),
      (j) => j?.status === 'completed' || j?.status === 'failed',
      { timeoutMs: 120_000, stepMs: 500 },
    );

  it("a participant's node dies: it leaves (node-lost), the recording goes on and holds it up to its node's death", async () => {
    const room = 'noderoom1';
    const { host, p1, p2 } = await meeting('r1', room);
    const [nodeA, nodeB, nodeC] = procs as [ServerProcess, ServerProcess, ServerProcess];

    // Meeting media is relayed across nodes: host (node a) → p1 (node b), named; p2 → everyone.
    host.client.send({ type: 'offer', to: p1.participantId, data: { connectionId: room, sdp: 'v=0 host-offer' } });
    const offer = await p1.client.next('offer', (m) => m.data.sdp === 'v=0 host-offer', 5_000);
    expect(offer).toMatchObject({ from: room, to: '', fromParticipantId: host.participantId });
    p2.client.send({ type: 'candidate', data: { connectionId: room, candidate: 'c-from-p2', sdpMid: '0', sdpMLineIndex: 0 } });
    for (const p of [host, p1]) await p.client.next('candidate', (m) => m.data.candidate === 'c-from-p2', 5_000);
    await p2.client.none('offer');

    // The host records through node a; every participant's recorder peer runs on its own node.
    const http = httpClient(nodeA.url);
    const started = await http.post('/api/recording-sessions', { connectionId: room, layout: 'grid', format: 'webm' });
    expect(started.status).toBe(201);
    const recordingId = started.json.session.id as string;
    await Promise.all(people.map((p) => p.client.next('recording-answer', () => true, 15_000)));
    await mediaFlowing();
    await sleep(2_500);

    const killedAt = Date.now();
    // What p2 had sent when its node died (in media time: RTP timestamps since its first packet).
    const sentAtDeath = p2.current!.sender.stats.audio!.spanMs;
    expect(await nodeC.kill('SIGKILL')).toBe(null);
    await p2.close();
    // The taker (node a, the lowest live id) writes p2's leave; the host hears it as protocol.md says.
    const left = await host.client.next('participant-left', (m) => m.participantId === p2.participantId, 20_000);
    expect(left.connectionId).toBe(room);
    const leftAfterMs = Date.now() - killedAt;
    // Not before the lease lapsed: the timeout after the node's last heartbeat (sent every timeout/3).
    expect(leftAfterMs).toBeGreaterThanOrEqual(NODE_TIMEOUT_MS - NODE_TIMEOUT_MS / 3 - 200);
    const takeover = await poll(async () => nodeA.lines.find((l) => l.msg === 'takeover done' && l.lostNode === 'r1-c'), Boolean, { timeoutMs: 10_000 });
    expect(takeover).toMatchObject({ membersLeft: 1, roomsClosed: 0 });
    await sleep(2_000);

    // Stopped through node b: node a closes the host's peer, node b p1's.
    const stopped = await httpClient(nodeB.url).delete(`/api/recording-sessions/${recordingId}`);
    expect(stopped.status).toBe(200);
    const job = await completedJob(http, room, recordingId);
    expect(job?.status, JSON.stringify(job)).toBe('completed');
    const session = (await http.get(`/api/recording-sessions/${recordingId}`)).json.session;
    expect(session).toMatchObject({ status: 'stopped', stopReason: 'api' });
    const startedAt = Date.parse(session.startedAt);
    const recordedMs = Date.parse(session.stoppedAt) - startedAt;

    const byParticipant = await sidecars(room, recordingId);
    // Host and surviving participant: finalized, holding all they sent, from their first packet to the stop (±1 s).
    const stoppedAt = Date.parse(session.stoppedAt);
    for (const p of [host, p1]) {
      const metas = byParticipant[p.participantId] ?? [];
      expect(metas.map((m) => m.kind).sort(), p.role).toEqual(['audio', 'video']);
      for (const m of metas) {
        const sent = p.current!.sender.stats[m.kind as 'audio' | 'video']!;
        const what = JSON.stringify({ role: p.role, recordedMs, sent, m });
        expect(m.finalized, what).toBe(true);
        expect(Math.abs(m.startedAt - sent.firstSentAt!), what).toBeLessThan(1_000);
        // Media time (ffmpeg runs slower than real time on a loaded machine): what was written is what was sent.
        expect(Math.abs(m.durationMs - sent.spanMs), what).toBeLessThan(1_000);
        expect(sent.lastSentAt!, what).toBeGreaterThan(stoppedAt - 1_000);
      }
    }
    // The lost participant: what reached disk, up to its node's death (±1 s).
    const lost = byParticipant[p2.participantId] ?? [];
    expect(lost.map((m) => m.kind).sort()).toEqual(['audio', 'video']);
    const lostAudio = lost.find((m) => m.kind === 'audio');
    expect(lostAudio.finalized).toBe(false);
    const lostMediaMs = await lastAudioMs(room, lostAudio);
    expect(Math.abs(lostMediaMs - sentAtDeath), JSON.stringify({ lostMediaMs, sentAtDeath })).toBeLessThan(1_000);

    // The composition holds all three for as long as the recording lasted.
    for (const p of people) expect(job.inputFiles.some((f: string) => f.includes(p.participantId))).toBe(true);
    const composed = await probeFile(join(root, room, job.output.filename));
    expect(composed.decodeErrors).toBe('');
    expect(Math.abs(composed.durationMs! - recordedMs)).toBeLessThan(500);
    // One shared RECORDING_DIR: no node complained about the others' files.
    for (const p of procs) expect(p.lines.filter((l) => l.module === 'health/shared-dir' && l.level >= 50)).toEqual([]);
  }, 180_000);

  it("the host's node dies: the room closes within the timeout, the recording is interrupted and composed", async () => {
    const room = 'noderoom2';
    const { host, p1, p2 } = await meeting('r2', room);
    const [nodeA, nodeB] = procs as [ServerProcess, ServerProcess, ServerProcess];
    const http = httpClient(nodeB.url);
    const started = await http.post('/api/recording-sessions', { connectionId: room, layout: 'grid', format: 'webm' });
    expect(started.status).toBe(201);
    const recordingId = started.json.session.id as string;
    await Promise.all(people.map((p) => p.client.next('recording-answer', () => true, 15_000)));
    await mediaFlowing();
    await sleep(2_500);

    const killedAt = Date.now();
    expect(await nodeA.kill('SIGKILL')).toBe(null);
    await host.close();
    // Participants on the live nodes are told the room is gone, then that the recording stopped.
    for (const p of [p1, p2]) {
      const d = await p.client.next('disconnect', () => true, NODE_TIMEOUT_MS + 10_000);
      expect(d).toMatchObject({ connectionId: room, reason: 'host-left' });
      await p.client.next('recording-stopped', (m) => m.recordingId === recordingId, 10_000);
    }
    const closedAfterMs = Date.now() - killedAt;
    expect(closedAfterMs).toBeLessThan(NODE_TIMEOUT_MS + 3_000);
    const takeover = await poll(async () => nodeB.lines.find((l) => l.msg === 'takeover done' && l.lostNode === 'r2-a'), Boolean, { timeoutMs: 10_000 });
    expect(takeover).toMatchObject({ roomsClosed: 1, recordingsStopped: 1 });

    const job = await completedJob(http, room, recordingId);
    expect(job?.status, JSON.stringify(job)).toBe('completed');
    const session = (await http.get(`/api/recording-sessions/${recordingId}`)).json.session;
    expect(session).toMatchObject({ status: 'stopped', stopReason: 'interrupted' });
    for (const p of people) expect(job.inputFiles.some((f: string) => f.includes(p.participantId)), `${p.role} ${JSON.stringify(job.inputFiles)}`).toBe(true);
    const composed = await probeFile(join(root, room, job.output.filename));
    expect(composed.decodeErrors).toBe('');
    const recordedMs = Date.parse(session.stoppedAt) - Date.parse(session.startedAt);
    expect(Math.abs(composed.durationMs! - recordedMs)).toBeLessThan(500);
  }, 180_000);

  it('a node whose RECORDING_DIR is not the others\' says so in its log and /readyz', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'mr-nodes-other-'));
    try {
      procs = await Promise.all([
        startServerProcess({ ...env, NODE_ID: 'r3-a' }, { inheritNatsUrl: false, timeoutMs: 30_000 }),
        startServerProcess({ ...env, NODE_ID: 'r3-b', RECORDING_DIR: elsewhere }, { inheritNatsUrl: false, timeoutMs: 30_000 }),
      ]);
      const ready = await poll(
        async () => (await httpClient(procs[1]!.url).get('/readyz')),
        (r) => r.status === 503,
        { timeoutMs: 20_000, stepMs: 250 },
      );
      expect(ready.status).toBe(503);
      expect(ready.json.reasons.join(' ')).toContain("node r3-a's files are not visible here");
      expect(procs[1]!.lines.some((l) => l.level === 50 && l.peerNode === 'r3-a' && /RECORDING_DIR is not shared/.test(l.msg))).toBe(true);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  }, 60_000);
});
