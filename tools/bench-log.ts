/**
 * Throughput of the event log, embedded and NATS, against a raw JetStream
 * baseline, and how long opening a long embedded log takes with and without
 * its saved index. Usage: npx tsx tools/bench-log.ts [events] [events to open]
 * (NATS_URL: a loopback server; without one, nats://127.0.0.1:4222 or a
 * private nats-server).
 * The measuring functions are exported for tools/bench-core.ts.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { NewEvent } from '../events/envelope.js';
import { createEmbeddedLog } from '../src/log/embedded.js';
import { createNatsLog } from '../src/log/nats.js';
import type { EventLog } from '../src/log/types.js';
import { serialize, toStored } from '../src/log/validate.js';
import { startNats } from './lib/nats-server.js';

export interface Rate {
  events: number;
  ms: number;
  perSecond: number;
}

export const PAYLOAD_BYTES = 214;

function rate(events: number, started: number): Rate {
  const ms = performance.now() - started;
  return { events, ms: Math.round(ms), perSecond: Math.round((events / ms) * 1000) };
}

const runTag = randomBytes(4).toString('hex');

/** A NewEvent whose stored JSON is about `bytes` long; ids are unique per process run. */
export function sampleEvent(stream: string, i: number, bytes = PAYLOAD_BYTES): NewEvent {
  const e: NewEvent = {
    id: `b-${runTag}-${i.toString(36)}`,
    type: 'peer.track.received',
    stream,
    time: 1_700_000_000_000 + i,
    causationId: null,
    correlationId: 'rec-bench',
    version: 1,
    data: { trackId: `t${i % 4}`, kind: 'audio', pad: '' },
  };
  const size = JSON.stringify({ ...e, position: i + 1 }).length;
  e.data.pad = 'x'.repeat(Math.max(0, bytes - size));
  return e;
}

/** Runs task(0..count-1) with at most `inFlight` pending, stopping early after maxMs. */
async function windowed(count: number, inFlight: number, maxMs: number, task: (i: number) => Promise<unknown>): Promise<Rate> {
  const started = performance.now();
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < count && performance.now() - started < maxMs) {
      await task(next++);
      done++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
  return rate(done, started);
}

/** Raw JetStream publish of PAYLOAD_BYTES messages with `inFlight` acks outstanding: the ceiling. */
export async function measureRawPublish(url: string, { count = 50_000, inFlight = 256, maxMs = 30_000 } = {}): Promise<Rate> {
  const nc = await connect({ servers: url, noAsyncTraces: true }); // as the NATS log connects
  const jsm = await jetstreamManager(nc);
  const tag = randomBytes(5).toString('hex');
  const name = `BENCH_RAW_${tag}`;
  await jsm.streams.add({ name, subjects: [`bench${tag}.>`] });
  try {
    const js = jetstream(nc);
    const payload = new Uint8Array(PAYLOAD_BYTES).fill(120);
    return await windowed(count, inFlight, maxMs, (i) => js.publish(`bench${tag}.raw`, payload, { msgID: `r${i}` }));
  } finally {
    await jsm.streams.delete(name).catch(() => {});
    await nc.close();
  }
}

/** Single-event appends spread over `streams` streams, `inFlight` at a time (events made before the clock starts). */
export function measureAppend(log: EventLog, { count = 50_000, streams = 256, inFlight = 256, maxMs = 30_000 } = {}): Promise<Rate> {
  const events = Array.from({ length: count }, (_, i) => sampleEvent(`peer:bench.${i % streams}`, i));
  return windowed(count, inFlight, maxMs, (i) => log.append(events[i].stream, [events[i]]));
}

/** Reads the whole log once. */
export async function measureReplay(log: EventLog): Promise<Rate> {
  const started = performance.now();
  let n = 0;
  for await (const _ of log.read()) n++;
  return rate(n, started);
}

/** Appends then replays on a NATS log in a stream of its own, deleted afterwards. */
export async function benchNats(url: string, options: { count?: number; streams?: number; inFlight?: number } = {}) {
  const tag = randomBytes(5).toString('hex');
  const stream = `BENCH_LOG_${tag}`;
  const log = await createNatsLog({ servers: url, stream, subjectPrefix: `bench${tag}.ev` });
  try {
    const append = await measureAppend(log, options);
    const replay = await measureReplay(log);
    return { append, replay };
  } finally {
    await log.close();
    const nc = await connect({ servers: url });
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => {});
    await nc.close();
  }
}

/** Appends (fdatasync on) then replays after a reopen, on an embedded log in a temp dir. */
export async function benchEmbedded(options: { count?: number; streams?: number; inFlight?: number; fsync?: boolean } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'mr-bench-log-'));
  const file = join(dir, 'events.jsonl');
  try {
    const log = await createEmbeddedLog({ file, fsync: options.fsync ?? true });
    const append = await measureAppend(log, options);
    await log.close();
    const reopened = await createEmbeddedLog({ file });
    const replay = await measureReplay(reopened);
    await reopened.close();
    return { append, replay };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Opening an embedded log of `count` events (written straight to the file):
 * without a saved index (the whole file is read), then with the index the
 * first open saved. Heap growth is what the open index holds.
 */
export async function benchOpen(count: number, streams = 2000) {
  const dir = await mkdtemp(join(tmpdir(), 'mr-bench-open-'));
  const file = join(dir, 'events.jsonl');
  try {
    const out = createWriteStream(file);
    const positions = new Map<string, number>();
    for (let i = 0; i < count; i++) {
      const stream = `peer:b${i % streams}`;
      const position = (positions.get(stream) ?? 0) + 1;
      positions.set(stream, position);
      const line = `${serialize(toStored(sampleEvent(stream, i), position))}\n`;
      if (!out.write(line)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    await new Promise<void>((r) => out.end(() => r()));
    const open = async () => {
      globalThis.gc?.();
      const heap = process.memoryUsage().heapUsed;
      const started = performance.now();
      const log = await createEmbeddedLog({ file });
      const r = rate(count, started);
      globalThis.gc?.();
      const heapMB = Math.round((process.memoryUsage().heapUsed - heap) / 1e6);
      await log.close(); // saves the index
      return { ...r, heapMB };
    };
    const scan = await open();
    const indexed = await open();
    return { scan, indexed };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** NATS_URL if set (must be loopback), else 127.0.0.1:4222 if it answers, else a private server. */
export async function loopbackNats(): Promise<{ url: string; stop(): Promise<void> }> {
  const url = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
  const host = new URL(url.includes('://') ? url : `nats://${url}`).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host)) throw new Error(`refusing non-loopback NATS ${url}`);
  const previous = process.env.NATS_URL;
  process.env.NATS_URL = url;
  try {
    return await startNats();
  } finally {
    if (previous === undefined) delete process.env.NATS_URL;
    else process.env.NATS_URL = previous;
  }
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 50_000);
  const nats = await loopbackNats();
  const show = (label: string, r: Rate) =>
    console.log(`${label.padEnd(44)} ${String(r.perSecond).padStart(9)} events/s  (${r.events} in ${r.ms} ms)`);
  try {
    console.log(`event log bench: ${count} events of ~${PAYLOAD_BYTES} bytes, NATS at ${nats.url}`);
    show('raw JetStream publish, 256 in flight', await measureRawPublish(nats.url, { count }));
    const n = await benchNats(nats.url, { count });
    show('NATS log append, 256 streams, 256 in flight', n.append);
    show('NATS log replay', n.replay);
    const e = await benchEmbedded({ count });
    show('embedded append, fdatasync, 256 in flight', e.append);
    show('embedded replay', e.replay);
    const openCount = Number(process.argv[3] ?? 1_000_000);
    const o = await benchOpen(openCount);
    const heap = (h: number) => (globalThis.gc ? `, heap +${h} MB` : ' (run node with --expose-gc for heap figures)');
    console.log(`embedded open, ${openCount} events, no saved index: ${o.scan.ms} ms${heap(o.scan.heapMB)}`);
    console.log(`embedded open, ${openCount} events, saved index:    ${o.indexed.ms} ms${heap(o.indexed.heapMB)}`);
  } finally {
    await nats.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
