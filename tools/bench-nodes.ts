/**
 * NATS mode with two nodes, in one run:
 * - join latency of a socket on node B whose room is hosted on node A
 *   (`connect` sent → `connect` reply), median and p99;
 * - relay latency of an `offer` from a host on node A to a member on node B;
 * - the event core with two processes appending to the same streams at once:
 *   events/s (both together) and conflicts retried per second.
 *
 *   npm run bench:nodes [-- --joins 200 --relays 500 --events 20000 --streams 64 --in-flight 64]
 *
 * Starts a private nats-server and two real server processes (tools/lib/server.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { pino } from 'pino';
import WebSocket from 'ws';
import { createNatsLog } from '../src/log/nats.js';
import { createRuntime } from '../src/runtime/runtime.js';
import { startNats } from './lib/nats-server.js';
import { startServerProcess } from './lib/server.js';

const { values } = parseArgs({
  options: {
    joins: { type: 'string', default: '200' },
    relays: { type: 'string', default: '500' },
    events: { type: 'string', default: '20000' },
    streams: { type: 'string', default: '64' },
    'in-flight': { type: 'string', default: '64' },
    writer: { type: 'string' }, // internal: `<natsUrl>,<stream>,<prefix>,<tag>` — one appending process
  },
});
const silent = pino({ level: 'silent' });
const noop = async () => {};
const effects = { openRecorderPeer: noop, addRemoteCandidate: noop, closeRecorderPeer: noop, enqueueComposition: noop, abortComposition: noop };
const STREAMS = Number(values.streams);
const COUNT = Number(values.events);
const IN_FLIGHT = Number(values['in-flight']);

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const summary = (xs: number[]) => ({ n: xs.length, medianMs: +quantile(xs, 0.5).toFixed(2), p99Ms: +quantile(xs, 0.99).toFixed(2) });

/** A signaling socket that hands out its messages by type. */
async function socket(url: string) {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + '/');
  const waiting: { type: string; resolve: (m: any) => void }[] = [];
  const unread: any[] = [];
  ws.on('message', (raw) => {
    const m = JSON.parse(String(raw));
    const i = waiting.findIndex((w) => w.type === m.type);
    if (i !== -1) waiting.splice(i, 1)[0]!.resolve(m);
    else unread.push(m);
  });
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  return {
    ws,
    next: (type: string) =>
      new Promise<any>((resolve) => {
        const i = unread.findIndex((m) => m.type === type);
        if (i !== -1) resolve(unread.splice(i, 1)[0]);
        else waiting.push({ type, resolve });
      }),
    send: (m: unknown) => ws.send(JSON.stringify(m)),
    close: () => ws.close(),
  };
}

const streamsOf = (tag: string) => Array.from({ length: STREAMS }, (_, i) => `peer:bench${tag}.p${i}`);

/** One of the two appending processes: loads the log, then dispatches its share onto the shared streams. */
async function writer(spec: string) {
  const [url, stream, prefix, tag] = spec.split(',') as [string, string, string, string];
  const log = await createNatsLog({ servers: url, stream, subjectPrefix: prefix });
  const rt = createRuntime({ log, logger: silent, effects });
  await rt.load();
  rt.follow();
  const streams = streamsOf(tag);
  let next = 0;
  let accepted = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < COUNT) {
        const i = next++;
        const r = await rt.dispatch({ stream: streams[i % STREAMS]!, type: 'peer.media.stats', data: { offerNumber: 1, packets: 100, bytes: 120_000, lost: 0 } });
        if (r.accepted) accepted++;
      }
    }),
  );
  const ms = performance.now() - started;
  process.stdout.write(JSON.stringify({ accepted, ms, conflictsRetried: rt.stats().conflictsRetried }) + '\n');
  await rt.close();
  await log.close();
}

async function twoWriters(url: string) {
  const tag = randomBytes(3).toString('hex');
  const stream = `BENCH_NODES_${tag}`;
  const prefix = `bnodes${tag}.ev`;
  const log = await createNatsLog({ servers: url, stream, subjectPrefix: prefix });
  const rt = createRuntime({ log, logger: silent, effects });
  // The shared streams, brought to `flowing` once.
  await Promise.all(
    streamsOf(tag).map(async (s, i) => {
      const d = (type: string, data: object) => rt.dispatch({ stream: s, type, data });
      await d('peer.requested', { recordingId: `bench${tag}`, roomId: 'bench', participantId: `p${i}`, role: 'participant', name: null, layout: 'grid', format: 'webm', startedAt: 1, segmentBase: 0 });
      await d('peer.offer.received', { sdp: 'v=0' });
      await d('peer.connected', { offerNumber: 1 });
      await d('peer.media.started', { offerNumber: 1, kind: 'video' });
    }),
  );
  await rt.close();
  const self = fileURLToPath(import.meta.url);
  const one = () =>
    new Promise<{ accepted: number; ms: number; conflictsRetried: number }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', self, '--writer', [url, stream, prefix, tag].join(','), '--events', String(COUNT), '--streams', String(STREAMS), '--in-flight', String(IN_FLIGHT)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!)) : reject(new Error(`writer exited ${code}`))));
    });
  const results = await Promise.all([one(), one()]);
  const ms = Math.max(...results.map((r) => r.ms));
  const accepted = results.reduce((n, r) => n + r.accepted, 0);
  const conflicts = results.reduce((n, r) => n + r.conflictsRetried, 0);
  await log.close();
  return { events: accepted, ms: Math.round(ms), eventsPerSecond: Math.round((accepted / ms) * 1000), conflictsRetried: conflicts, conflictsPerSecond: Math.round((conflicts / ms) * 1000), streams: STREAMS, inFlightPerProcess: IN_FLIGHT };
}

async function main() {
  if (values.writer) return writer(values.writer);
  const nats = await startNats();
  const tag = randomBytes(3).toString('hex');
  const root = await mkdtemp(join(tmpdir(), 'mr-bench-nodes-'));
  const env = { NATS_URL: nats.url, NATS_EVENT_STREAM: `BN_EV_${tag}`, NATS_SUBJECT_PREFIX: `bn${tag}.ev`, NATS_COMPOSE_STREAM: `BN_CO_${tag}`, RECORDING_DIR: root, LOG_LEVEL: 'warn', MAX_SOCKETS_PER_ADDRESS: '10000',
    // One socket sends every offer as fast as they come back: the abuse limits (50/s, bursts of 200) would
    // drop some, and this measures the relay, not them.
    MAX_MESSAGES_PER_SECOND: '100000', MAX_MESSAGE_BURST: '100000' };
  console.error(`nats at ${nats.url}; starting two nodes`);
  const nodes = await Promise.all(['a', 'b'].map((n) => startServerProcess({ ...env, NODE_ID: `bench-${n}`, LOG_LEVEL: 'info' }, { inheritNatsUrl: false, timeoutMs: 60_000 })));
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
  try {
    console.error('nodes up; measuring joins');
    // Join latency: a room opened by a host on node a, joined by a socket on node b.
    const joins: number[] = [];
    for (let i = 0; i < Number(values.joins); i++) {
      const room = `join${tag}${i}`;
      const host = await socket(a.url);
      host.send({ type: 'connect', connectionId: room });
      await host.next('connect');
      const guest = await socket(b.url);
      const t0 = performance.now();
      guest.send({ type: 'connect', connectionId: room });
      const reply = await guest.next('connect');
      joins.push(performance.now() - t0);
      if (reply.role !== 'participant') throw new Error(`joined as ${reply.role}: node b did not see the room`);
      guest.close();
      host.close();
    }
    console.error('measuring relays');
    // Relay latency: offers from a host on node a to a member on node b.
    const room = `relay${tag}`;
    const host = await socket(a.url);
    host.send({ type: 'connect', connectionId: room });
    await host.next('connect');
    const guest = await socket(b.url);
    guest.send({ type: 'connect', connectionId: room });
    const { participantId } = await guest.next('connect');
    await host.next('members');
    const relays: number[] = [];
    for (let i = 0; i < Number(values.relays); i++) {
      const got = guest.next('offer');
      const t0 = performance.now();
      host.send({ type: 'offer', to: participantId, data: { connectionId: room, sdp: `v=0 ${i}` } });
      await got;
      relays.push(performance.now() - t0);
    }
    guest.close();
    host.close();
    console.error('two writers');
    const core = await twoWriters(nats.url);
    console.log(JSON.stringify({ joinAcrossNodes: summary(joins), offerRelayAcrossNodes: summary(relays), coreTwoWritersSameStreams: core }, null, 2));
  } finally {
    await Promise.allSettled(nodes.map((n) => n.kill('SIGKILL')));
    await nats.stop();
    await rm(root, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
