/**
 * Soak: does the server's memory stay flat under meetings that come and go?
 *
 *   npm run soak -- --minutes 30 --rooms 5 --participants 4 --churn [--url http://127.0.0.1:8080]
 *
 * In waves until --minutes are up: --rooms new rooms, each with --participants
 * werift participants (the host included; a pre-encoded VP8 + Opus clip fanned
 * out, tools/lib/clip-player.ts), are recorded for --wave-seconds; with --churn
 * participants leave and others join, peers renegotiate (a fresh offer) and
 * recordings are stopped and started again meanwhile. At the end of a wave the
 * recordings stop (composed unless --compose false), everyone leaves, the
 * compositions are waited for, and the server's descriptors and sockets are
 * compared with their baseline (before the first wave).
 *
 * Every --interval seconds (60) it prints the SERVER process's figures: RSS
 * (/proc/<pid>/status VmRSS), file descriptors (/proc/<pid>/fd), UDP and TCP
 * sockets (/proc/<pid>/net/* matched to its socket inodes), threads; heap and
 * libuv handles from a Node diagnostic report (only for a server it started
 * itself, with --report-on-signal: there is no debug endpoint); the
 * sessions and composition jobs the API still lists; and the actors the
 * runtime holds in memory (GET /metrics, `mr_runtime_actors`). Growth is
 * judged between the points where every room is closed (a minute's sample may
 * fall mid-wave), and the descriptors there apart from the pipes of a
 * composition still running. For a server it starts, each such point is
 * sampled twice: as it is, and after a full GC through the server's inspector
 * (`--inspect=127.0.0.1:0`, tools/lib/inspector-gc.ts). The second is the
 * target's figure: RSS as it is depends on how much garbage the young
 * generation (up to 2 × 64 MB here) held at that instant, so two idle points
 * can differ by 130 MB with nothing retained; after the GC what differs is
 * what the server kept. Without --url it starts src/main.ts in a
 * temporary RECORDING_DIR (tools/lib/server.ts). Bounded: it stops by itself.
 *
 * Other options: --wave-seconds 40 --interval 60 --video-kbps 500 --seed 1
 * --server-pid PID (with --url) --keep (keep the temporary RECORDING_DIR).
 * --heap-snapshots DIR (a server this tool starts): a V8 heap snapshot of the
 * server at every point where every room is closed, into DIR; compare two with
 * `npm run heap-diff -- a.heapsnapshot b.heapsnapshot` to see what grew.
 * A snapshot stops the server for a few seconds: not for figures that count.
 */
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ClipPlayer } from './lib/clip-player.js';
import { encodeClip } from './lib/media-clip.js';
import { LoadParticipant } from './lib/participant.js';
import { findListeningPid, loadAverage } from './lib/proc.js';
import { startServerProcess, type ServerProcess } from './lib/server.js';
import { collectGarbage, inspectorUrlOf } from './lib/inspector-gc.js';
import { formatFigures, httpJson, serverFigures, type ServerFigures } from './lib/soak-figures.js';
import { isLoopbackUrl } from './lib/util.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    rooms: { type: 'string', default: '5' },
    participants: { type: 'string', default: '4' },
    churn: { type: 'boolean', default: false },
    compose: { type: 'string', default: 'true' },
    url: { type: 'string' },
    'server-pid': { type: 'string' },
    'wave-seconds': { type: 'string', default: '40' },
    interval: { type: 'string', default: '60' },
    'video-kbps': { type: 'string', default: '500' },
    seed: { type: 'string', default: '1' },
    keep: { type: 'boolean', default: false },
    'heap-snapshots': { type: 'string' },
  },
});

const MINUTES = Number(args.minutes);
const ROOMS = Number(args.rooms);
const PER_ROOM = Number(args.participants);
const WAVE_S = Number(args['wave-seconds']);
const INTERVAL_S = Number(args.interval);
const COMPOSE = args.compose !== 'false';
if (!(MINUTES > 0 && ROOMS >= 1 && PER_ROOM >= 1 && WAVE_S >= 5 && INTERVAL_S >= 5)) {
  console.error('need --minutes > 0, --rooms >= 1, --participants >= 1, --wave-seconds >= 5, --interval >= 5');
  process.exit(2);
}
if (args.url && !isLoopbackUrl(args.url)) {
  console.error(`--url must be a loopback address: ${args.url}`);
  process.exit(2);
}

const t0 = Date.now();
const stamp = () => `${((Date.now() - t0) / 60_000).toFixed(1).padStart(5)} min`;
const log = (msg: string) => console.log(`[soak ${stamp()}] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Seeded PRNG (mulberry32): the same --seed churns the same way. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(Number(args.seed));
const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;

const api = httpJson;

interface Room {
  id: string;
  members: LoadParticipant[];
  recordingId: string | null;
  joined: number;
}

/** The signal the server takes a heap snapshot on (--heap-snapshots); SIGUSR2 is the diagnostic report's. */
const HEAP_SIGNAL = 'SIGWINCH';

/** Asks the server for a heap snapshot and waits until its file is complete (its size settles). */
async function heapSnapshot(pid: number, dir: string): Promise<string> {
  const list = async () => (await readdir(dir)).filter((f) => f.endsWith('.heapsnapshot'));
  const before = new Set(await list());
  process.kill(pid, HEAP_SIGNAL);
  const end = Date.now() + 120_000;
  let last = -1;
  while (Date.now() < end) {
    await sleep(1000);
    const file = (await list()).find((f) => !before.has(f));
    if (!file) continue;
    const size = (await stat(join(dir, file))).size;
    if (size > 0 && size === last) return join(dir, file);
    last = size;
  }
  return 'none written within 120 s';
}

async function main() {
  const deadline = t0 + MINUTES * 60_000;
  const watchdog = setTimeout(() => {
    console.error('soak: over its time bound; aborting');
    void cleanup().finally(() => process.exit(3));
  }, (MINUTES * 60 + WAVE_S + 300) * 1000);
  watchdog.unref();

  let server: ServerProcess | null = null;
  let dir: string | null = null;
  let player: ClipPlayer | null = null;
  const everyone = new Set<LoadParticipant>();
  async function cleanup() {
    player?.stop();
    await Promise.allSettled([...everyone].map((p) => p.close()));
    if (server) await server.stop();
    if (dir && !args.keep) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }

  log(`load average before: ${loadAverage()} — other work on this machine moves these figures`);
  const clip = await encodeClip({ seconds: 10, width: 640, height: 360, fps: 30, gopFrames: 30, videoKbps: Number(args['video-kbps']), audioKbps: 48, ffmpegPath: process.env.FFMPEG_PATH ?? 'ffmpeg' });

  let base: string;
  let pid: number | null;
  let reportDir: string | null = null;
  let inspector: string | null = null;
  if (args.url) {
    base = args.url.replace(/\/+$/, '');
    pid = args['server-pid'] ? Number(args['server-pid']) : findListeningPid(Number(new URL(base).port || 80));
    log(`server ${base}, pid ${pid ?? 'unknown (pass --server-pid)'}; heap and handles: n/a (only for a server this tool starts)`);
  } else {
    const d = await mkdtemp(join(tmpdir(), 'soak-rec-'));
    dir = d;
    reportDir = join(d, '.reports');
    await mkdir(reportDir, { recursive: true });
    // info: the ready line startServerProcess waits for is an info line
    const snapshots = args['heap-snapshots'] ? [`--heapsnapshot-signal=${HEAP_SIGNAL}`, `--diagnostic-dir=${args['heap-snapshots']}`] : [];
    if (args['heap-snapshots']) await mkdir(args['heap-snapshots'], { recursive: true });
    server = await startServerProcess(
      { RECORDING_DIR: d, LOG_LEVEL: 'info' },
      // The inspector (loopback, a free port) lets this tool collect the server's garbage before the idle-point figures.
      { nodeArgs: ['--report-on-signal', '--report-signal=SIGUSR2', `--report-directory=${reportDir}`, '--inspect=127.0.0.1:0', ...snapshots] },
    );
    base = server.url.replace(/\/+$/, '');
    pid = server.pid;
    inspector = inspectorUrlOf(server.stderrTail());
    log(`started server pid ${pid} at ${base}, RECORDING_DIR ${dir}${inspector ? '' : '; no inspector URL on its stderr: no after-GC figures'}`);
  }
  if (!pid) throw new Error('no server pid: pass --server-pid');

  const samples: { label: string; f: ServerFigures }[] = [];
  const sample = async (label: string) => {
    const f = await serverFigures(pid!, base, reportDir);
    samples.push({ label, f });
    log(formatFigures(label.padEnd(14), f));
    return f;
  };
  /**
   * The same figures after a full GC through the inspector (young generation
   * shrunk, freed pages returned): at idle points, what the server holds, so
   * growth there is retained memory and not the garbage of the last scavenge.
   */
  const sampleAfterGc = async (label: string): Promise<ServerFigures | null> => {
    if (!inspector) return null;
    try {
      await collectGarbage(inspector);
    } catch (err) {
      log(`full GC through the inspector failed: ${(err as Error).message}`);
      return null;
    }
    await sleep(1000);
    return sample(label);
  };
  const baseline = await sample('baseline');
  const baselineGc = await sampleAfterGc('baseline, gc');
  let sampling = Promise.resolve();
  const ticker = setInterval(() => {
    sampling = sampling.then(() => sample('minute').then(() => undefined)).catch(() => undefined);
  }, INTERVAL_S * 1000);

  player = new ClipPlayer(clip);
  player.start();
  const tag = Math.random().toString(36).slice(2, 7);
  const closedChecks: string[] = [];
  /** Figures with every room closed, one per wave: the like-for-like points for growth (a minute's sample may fall mid-wave). */
  const idle: ServerFigures[] = [];
  /** The same points after a full GC (sampleAfterGc). */
  const idleGc: ServerFigures[] = [];
  let wave = 0;
  const counts = { joins: 0, leaves: 0, renegotiations: 0, restarts: 0, recordings: 0, errors: 0 };

  const joinRoom = async (room: Room) => {
    const p = await LoadParticipant.join(base, room.id, player!, `p${room.joined++}`);
    everyone.add(p);
    room.members.push(p);
    counts.joins++;
    return p;
  };
  const start = async (room: Room) => {
    const r = await api(base, 'POST', '/api/recording-sessions', { connectionId: room.id });
    if (r.status === 201) {
      room.recordingId = r.json.session.id;
      counts.recordings++;
    } else counts.errors++;
  };
  const stop = async (room: Room) => {
    if (!room.recordingId) return;
    const id = room.recordingId;
    room.recordingId = null;
    const r = await api(base, 'DELETE', `/api/recording-sessions/${id}${COMPOSE ? '' : '?compose=false'}`);
    if (r.status !== 200) counts.errors++;
  };
  const leave = async (room: Room, p: LoadParticipant) => {
    room.members = room.members.filter((x) => x !== p);
    p.send({ type: 'disconnect', connectionId: room.id });
    await p.close();
    everyone.delete(p);
    counts.leaves++;
  };

  try {
    while (Date.now() + WAVE_S * 1000 <= deadline) {
      wave++;
      const rooms: Room[] = Array.from({ length: ROOMS }, (_, r) => ({ id: `soak-${tag}-w${wave}-r${r}`, members: [], recordingId: null, joined: 0 }));
      for (const room of rooms) await joinRoom(room); // hosts first
      await Promise.all(rooms.flatMap((room) => Array.from({ length: PER_ROOM - 1 }, () => joinRoom(room))));
      await Promise.all(rooms.map(start));
      log(`wave ${wave}: ${ROOMS} rooms × ${PER_ROOM} participants recording${args.churn ? ', churning' : ''}`);
      const waveEnd = Math.min(deadline, Date.now() + WAVE_S * 1000);
      while (Date.now() < waveEnd) {
        await sleep(args.churn ? 1500 + random() * 3000 : waveEnd - Date.now());
        if (!args.churn || Date.now() >= waveEnd) continue;
        const room = pick(rooms);
        const action = pick(['rejoin', 'rejoin', 'renegotiate', 'renegotiate', 'restart']);
        try {
          if (action === 'rejoin' && room.members.length > 1) {
            await leave(room, pick(room.members.slice(1)));
            await joinRoom(room);
          } else if (action === 'renegotiate' && room.recordingId) {
            await pick(room.members).offer(room.recordingId);
            counts.renegotiations++;
          } else if (action === 'restart') {
            await stop(room);
            await start(room);
            counts.restarts++;
          }
        } catch (err) {
          counts.errors++;
          log(`churn ${action} in ${room.id}: ${(err as Error).message}`);
        }
      }
      // End of the wave: stop, everyone leaves (the host last), then let the server finish.
      await Promise.all(rooms.map(stop));
      for (const room of rooms) {
        for (const p of room.members.slice(1)) await leave(room, p);
        if (room.members[0]) await leave(room, room.members[0]);
      }
      const settleBy = Date.now() + 180_000;
      for (;;) {
        const f = (await serverFigures(pid, base, null)).api;
        if (!f || (f.recording === 0 && f.jobsOpen === 0) || Date.now() > settleBy) break;
        await sleep(1000);
      }
      await sleep(2000);
      const closed = await sample(`rooms closed ${wave}`);
      const diff = (k: 'fds' | 'udp' | 'tcpEstablished') => `${k} ${closed[k]} (baseline ${baseline[k]}${closed[k] === baseline[k] ? ', back' : `, ${closed[k] > baseline[k] ? '+' : ''}${closed[k] - baseline[k]}`})`;
      // A composition still running (the composer's backlog outlives the rooms) holds its ffmpeg child's pipes: not a room's.
      const childPipes = closed.children > baseline.children ? Math.max(0, closed.pipes - baseline.pipes) : 0;
      const fdsBack = closed.fds - childPipes === baseline.fds;
      const fdsNote = childPipes > 0 ? ` [${fdsBack ? 'back' : 'not back'} apart from ${childPipes} pipes of ${closed.children - baseline.children} composer child(ren) still running]` : '';
      closedChecks.push(`wave ${wave}: ${diff('fds')}${fdsNote}, ${diff('udp')}, ${diff('tcpEstablished')}, rss ${closed.rssMb.toFixed(1)} MB, heap ${closed.heap ? `${closed.heap.usedMb.toFixed(1)} MB` : 'n/a'}, jobs open ${closed.api?.jobsOpen ?? '?'}, actors ${closed.actors ? `${closed.actors.live} live, ${closed.actors.kept} kept` : 'n/a'}`);
      idle.push(closed);
      log(`every room closed after wave ${wave}: ${closedChecks.at(-1)}`);
      const gced = await sampleAfterGc(`closed ${wave}, gc`);
      if (gced) idleGc.push(gced);
      if (args['heap-snapshots'] && server) log(`heap snapshot: ${await heapSnapshot(server.pid, args['heap-snapshots'])}`);
    }
  } finally {
    clearInterval(ticker);
    await sampling;
  }
  const last = await sample('end');

  const minutes = samples.filter((s) => s.label === 'minute' || s.label === 'end');
  const after5 = samples.find((s) => s.f.at - t0 >= 5 * 60_000);
  const idleAfter5 = idle.filter((f) => f.at - t0 >= 5 * 60_000);
  const gcAfter5 = idleGc.filter((f) => f.at - t0 >= 5 * 60_000);
  const gcHeap = (f: ServerFigures | undefined) =>
    f?.heap ? `heap ${f.heap.usedMb.toFixed(1)} MB, old space used ${f.heap.oldSpaceUsedMb?.toFixed(1) ?? '?'}, new space ${f.heap.newSpaceMb?.toFixed(1) ?? '?'}, external ${f.heap.externalMb?.toFixed(1) ?? '?'}` : 'heap n/a';
  /** One heap figure at the first and the last idle point after minute 5. */
  const fromTo = (k: keyof NonNullable<ServerFigures['heap']>) =>
    [idleAfter5[0], idleAfter5.at(-1)].map((f) => f?.heap?.[k]?.toFixed(1) ?? '?').join(' → ');
  console.log(
    [
      '',
      `=== soak: ${MINUTES} min, ${ROOMS} rooms × ${PER_ROOM} participants${args.churn ? ', churn' : ''}, ${wave} waves of ${WAVE_S} s; compose ${COMPOSE} ===`,
      `command: npm run soak -- ${process.argv.slice(2).join(' ')}`,
      `load average at the end: ${loadAverage()} (the machine is shared: figures include other engineers' load)`,
      `activity: ${counts.joins} joins, ${counts.leaves} leaves, ${counts.renegotiations} renegotiations, ${counts.restarts} stop+start, ${counts.recordings} recordings, ${counts.errors} errors`,
      `rss: baseline ${baseline.rssMb.toFixed(1)} MB → end ${last.rssMb.toFixed(1)} MB (${(last.rssMb - baseline.rssMb).toFixed(1)} MB)` +
        (after5 ? `; after minute 5 ${after5.f.rssMb.toFixed(1)} MB → end: ${(last.rssMb - after5.f.rssMb).toFixed(1)} MB [target < 5 MB: ${last.rssMb - after5.f.rssMb < 5 ? 'MET' : 'MISSED'}]` : '; run shorter than 5 minutes: the after-minute-5 target is not measured'),
      idleAfter5.length >= 2
        ? `rss with every room closed, after minute 5: ${idleAfter5[0]!.rssMb.toFixed(1)} MB → ${idleAfter5.at(-1)!.rssMb.toFixed(1)} MB (${(idleAfter5.at(-1)!.rssMb - idleAfter5[0]!.rssMb).toFixed(1)} MB over ${((idleAfter5.at(-1)!.at - idleAfter5[0]!.at) / 60_000).toFixed(1)} min; heap ${fromTo('usedMb')} MB (old space used ${fromTo('oldSpaceUsedMb')}, new space ${fromTo('newSpaceMb')}, external ${fromTo('externalMb')}); jobs open ${idleAfter5[0]!.api?.jobsOpen ?? '?'} → ${idleAfter5.at(-1)!.api?.jobsOpen ?? '?'}) [target < 5 MB: ${idleAfter5.at(-1)!.rssMb - idleAfter5[0]!.rssMb < 5 ? 'MET' : 'MISSED'}]`
        : 'rss with every room closed after minute 5: fewer than two such points (a longer run, or shorter waves)',
      gcAfter5.length >= 2
        ? `rss after a full GC with every room closed, after minute 5: ${gcAfter5[0]!.rssMb.toFixed(1)} MB → ${gcAfter5.at(-1)!.rssMb.toFixed(1)} MB (${(gcAfter5.at(-1)!.rssMb - gcAfter5[0]!.rssMb).toFixed(1)} MB over ${((gcAfter5.at(-1)!.at - gcAfter5[0]!.at) / 60_000).toFixed(1)} min; ${gcHeap(gcAfter5[0])} → ${gcHeap(gcAfter5.at(-1))}) [target < 5 MB: ${gcAfter5.at(-1)!.rssMb - gcAfter5[0]!.rssMb < 5 ? 'MET' : 'MISSED'}]`
        : `rss after a full GC with every room closed after minute 5: ${inspector ? 'fewer than two such points' : 'not available (no inspector: a server this tool did not start)'}`,
      ...(idleGc.length ? [`rss after a full GC: baseline ${baselineGc ? baselineGc.rssMb.toFixed(1) : '?'} MB; with every room closed, by wave: ${idleGc.map((f) => `${f.rssMb.toFixed(1)} (${((f.at - t0) / 60_000).toFixed(1)} min)`).join(', ')} MB`] : []),
      `per minute: ${minutes.map((s) => `${s.f.rssMb.toFixed(0)}MB/${s.f.heap ? `${s.f.heap.usedMb.toFixed(0)}MBheap/` : ''}${s.f.fds}fd/${s.f.udp}udp/${s.f.actors?.live ?? '?'}actors`).join(' ')}`,
      'with every room closed:',
      ...closedChecks.map((c) => `  ${c}`),
      ...(reportDir ? [] : ['not available: heap and handles (server not started by this tool)']),
      ...(last.actors ? [] : ['not available: actors (GET /metrics not readable: METRICS_TOKEN or access control)']),
    ].join('\n'),
  );
  await cleanup();
  clearTimeout(watchdog);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error('soak failed:', err instanceof Error ? err.stack : err);
    process.exit(1);
  },
);
