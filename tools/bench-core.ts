/**
 * The event-sourced core's throughput, in one run:
 * - events/s dispatched through the runtime (validated, transitioned, appended
 *   durably, effects run), embedded and NATS;
 * - replay events/s (read + fold through the machines) from the file log and
 *   from JetStream;
 * - the raw JetStream windowed publish rate on this machine as the baseline.
 *
 *   npm run bench:core [-- --events 60000 --streams 512 --in-flight 512]
 *
 * Talks only to loopback (NATS_URL, else 127.0.0.1:4222, else a private server).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { createEmbeddedLog } from '../src/log/embedded.js';
import { createNatsLog } from '../src/log/nats.js';
import type { EventLog } from '../src/log/types.js';
import { replay } from '../src/replay.js';
import { createRuntime } from '../src/runtime/runtime.js';
import { loopbackNats, measureRawPublish, type Rate } from './bench-log.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '60000' },
    streams: { type: 'string', default: '512' },
    'in-flight': { type: 'string', default: '512' },
  },
});
const COUNT = Number(values.events);
const STREAMS = Number(values.streams);
const IN_FLIGHT = Number(values['in-flight']);
const silent = pino({ level: 'silent' });
const noop = async () => {};

function rate(events: number, started: number): Rate {
  const ms = performance.now() - started;
  return { events, ms: Math.round(ms), perSecond: Math.round((events / ms) * 1000) };
}

/**
 * Brings STREAMS recorder-peer actors to `flowing`, then dispatches COUNT
 * `peer.media.stats` events across them with IN_FLIGHT outstanding.
 */
async function measureRuntime(log: EventLog): Promise<Rate> {
  const rt = createRuntime({
    log,
    logger: silent,
    effects: { openRecorderPeer: noop, addRemoteCandidate: noop, closeRecorderPeer: noop, enqueueComposition: noop, abortComposition: noop },
  });
  const tag = randomBytes(3).toString('hex');
  const streams = Array.from({ length: STREAMS }, (_, i) => `peer:bench${tag}.p${i}`);
  await Promise.all(
    streams.map(async (stream, i) => {
      const d = (type: string, data: object) => rt.dispatch({ stream, type, data });
      await d('peer.requested', {
        recordingId: `bench${tag}`, roomId: 'bench', participantId: `p${i}`, role: 'participant', name: null,
        layout: 'grid', format: 'webm', startedAt: 1, segmentBase: 0,
      });
      await d('peer.offer.received', { sdp: 'v=0' });
      await d('peer.connected', { offerNumber: 1 });
      await d('peer.media.started', { offerNumber: 1, kind: 'video' });
    }),
  );
  const started = performance.now();
  let next = 0;
  let accepted = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < COUNT) {
        const i = next++;
        const r = await rt.dispatch({
          stream: streams[i % STREAMS],
          type: 'peer.media.stats',
          data: { offerNumber: 1, packets: 100, bytes: 120_000, lost: 0 },
        });
        if (r.accepted) accepted++;
      }
    }),
  );
  const r = rate(accepted, started);
  await rt.close();
  if (accepted !== COUNT) throw new Error(`only ${accepted} of ${COUNT} events were accepted`);
  return r;
}

async function measureReplayFold(log: EventLog): Promise<Rate> {
  const started = performance.now();
  const r = await replay(log.read());
  return rate(r.events, started);
}

async function main() {
  const fmt = (r: Rate) => `${r.perSecond.toLocaleString('en-US').padStart(9)} events/s  (${r.events} events in ${r.ms} ms)`;
  console.log(`bench-core: ${COUNT} events over ${STREAMS} streams, ${IN_FLIGHT} in flight; node ${process.version}`);

  // Embedded: fsync on, as the server runs by default.
  const dir = await mkdtemp(join(tmpdir(), 'mr-bench-core-'));
  const file = join(dir, 'events.jsonl');
  const embedded = await createEmbeddedLog({ file, fsync: true });
  const embRuntime = await measureRuntime(embedded);
  await embedded.close();
  const reopened = await createEmbeddedLog({ file });
  const embReplay = await measureReplayFold(reopened);
  await reopened.close();
  await rm(dir, { recursive: true, force: true });

  const nats = await loopbackNats();
  const tag = randomBytes(4).toString('hex');
  const streamName = `BENCH_CORE_${tag}`;
  let raw: Rate, natsRuntime: Rate, natsReplay: Rate;
  try {
    raw = await measureRawPublish(nats.url, { count: COUNT, inFlight: 256 });
    const log = await createNatsLog({ servers: nats.url, stream: streamName, subjectPrefix: `benchcore${tag}.ev` });
    natsRuntime = await measureRuntime(log);
    await log.close();
    const again = await createNatsLog({ servers: nats.url, stream: streamName, subjectPrefix: `benchcore${tag}.ev` });
    natsReplay = await measureReplayFold(again);
    await again.close();
  } finally {
    const nc = await connect({ servers: nats.url });
    await (await jetstreamManager(nc)).streams.delete(streamName).catch(() => {});
    await nc.close();
    await nats.stop();
  }

  const ratio = (a: Rate, b: Rate) => `${(a.perSecond / b.perSecond).toFixed(2)}x`;
  console.log('');
  console.log(`raw JetStream publish (256 in flight)     ${fmt(raw)}   baseline`);
  console.log(`runtime, NATS (append + apply + act)      ${fmt(natsRuntime)}   ${ratio(natsRuntime, raw)} of raw   target >= 10,000`);
  console.log(`runtime, embedded, fsync on               ${fmt(embRuntime)}   ${ratio(embRuntime, raw)} of raw   target >= 50,000`);
  console.log(`replay through the machines, JetStream    ${fmt(natsReplay)}   ${ratio(natsReplay, raw)} of raw   target >= 50,000`);
  console.log(`replay through the machines, file         ${fmt(embReplay)}   ${ratio(embReplay, raw)} of raw   target >= 200,000`);
  const misses = [
    natsRuntime.perSecond < 10_000 && 'runtime NATS',
    embRuntime.perSecond < 50_000 && 'runtime embedded',
    natsReplay.perSecond < 50_000 && 'replay JetStream',
    embReplay.perSecond < 200_000 && 'replay file',
  ].filter(Boolean);
  console.log(misses.length ? `\nbelow target: ${misses.join(', ')}` : '\nall targets met');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
