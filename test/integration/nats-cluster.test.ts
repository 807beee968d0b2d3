import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeFile } from '../helpers/media-harness.js';
import { startNats, type NatsServer } from '../../tools/lib/nats-server.js';
import { Participant } from '../helpers/participant.js';
import { startServerProcess, type ServerProcess } from '../../tools/lib/server.js';
import { httpClient } from '../helpers/http.js';
import { poll, sleep } from '../helpers/wait.js';

/**
 * NATS mode with three real processes sharing one JetStream log: a signaling
 * node that records, and two composer workers. The worker that takes the
 * composition is SIGKILLed mid-job; the other must pick the job up and finish
 * it, and the signaling node (following the log) must see it completed.
 */
/** A real process: NATS mode only when the test says so. */
const startServer = (env: Record<string, string>, readyMsg?: string) => startServerProcess(env, { inheritNatsUrl: false, timeoutMs: 30_000, readyMsg });

describe('NATS mode: signaling node + two composer workers', () => {
  let nats: NatsServer;
  const tag = randomBytes(4).toString('hex');
  const root = mkdtempSync(join(tmpdir(), 'mr-cluster-'));
  const procs: ServerProcess[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    nats = await startNats();
    env = {
      NATS_URL: nats.url,
      NATS_EVENT_STREAM: `T_EV_${tag}`,
      NATS_SUBJECT_PREFIX: `t${tag}.ev`,
      NATS_COMPOSE_STREAM: `T_CO_${tag}`,
      COMPOSE_ACK_WAIT_MS: '3000',
      RECORDING_DIR: root,
    };
  });
  afterAll(async () => {
    await Promise.allSettled(procs.map((p) => p.kill('SIGKILL')));
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    for (const s of [env.NATS_EVENT_STREAM, env.NATS_COMPOSE_STREAM]) await jsm.streams.delete(s).catch(() => {});
    await nc.close();
    await nats.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('a worker dying mid-job has its job picked up by another', async () => {
    const signaling = await startServer({ ...env, ROLE: 'signaling', NODE_ID: 'sig-1' });
    procs.push(signaling);
    const workers = await Promise.all(
      ['w1', 'w2'].map((id) => startServer({ ...env, ROLE: 'composer', NODE_ID: id }, 'composition worker ready')),
    );
    procs.push(...workers);

    const a = await Participant.join(signaling.url, 'clusterroom', { name: 'A' });
    const b = await Participant.join(signaling.url, 'clusterroom', { name: 'B' });
    const http = httpClient(signaling.url);
    const started = await http.post('/api/recording-sessions', { connectionId: 'clusterroom', layout: 'grid', format: 'mp4' });
    expect(started.status).toBe(201);
    const recordingId = started.json.session.id;
    await sleep(6_000);
    const stopped = await http.delete(`/api/recording-sessions/${recordingId}`);
    expect(stopped.status).toBe(200);
    const jobId = stopped.json.compositionJob.id;
    await Promise.allSettled([a.close(), b.close()]);

    // wait until a worker runs it, then kill that worker
    const readJob = async () => (await http.get(`/api/recording-compositions/${jobId}`)).json.job;
    let job = await poll(readJob, (j) => j?.status === 'running', { timeoutMs: 20_000, stepMs: 100 });
    expect(job.status).toBe('running');
    const victimId = String(job.workerId);
    const victim = workers.find((w) => w.lines.some((l) => l.msg === 'composition worker ready' && l.workerId === victimId))!;
    expect(victim, `worker ${victimId}`).toBeTruthy();
    expect(await victim.kill('SIGKILL')).toBe(null);

    job = await poll(readJob, (j) => ['completed', 'failed'].includes(j.status), { timeoutMs: 120_000, stepMs: 1_000 });
    expect(job.status, JSON.stringify(job)).toBe('completed');
    expect(job.workerId).not.toBe(victimId);
    expect(job.attempts).toBe(2);
    const probed = await probeFile(join(root, 'clusterroom', job.output.filename));
    expect(probed.decodeErrors).toBe('');
    expect(job.output.filename.endsWith('.mp4')).toBe(true);
  }, 240_000);
});
