/**
 * Recorder load generator and benchmark.
 *
 *   npx tsx tools/loadgen.ts --participants 24 --rooms 6 --seconds 60 [--url http://127.0.0.1:8080]
 *
 * N synthetic participants (werift send-only peers, Opus + ~1 Mbps VP8 each)
 * in M rooms join over the real signaling socket; every room is recorded via
 * the HTTP API; after --seconds of media the generator goes quiet for --drain
 * seconds (so the recorder's last 5 s stats period covers every packet), then
 * stops each recording with DELETE ?compose=false and reports, in one run:
 *   - the SERVER process's CPU (utime+stime from /proc/<pid>/stat) over the
 *     steady-state window, total and per participant, in cores;
 *   - packets lost at the recorder (sum of `lost` over `peer.media.stats` in
 *     the event log vs packets received) and packets sent by the generator vs
 *     packets the recorder counted;
 *   - the .webm files written, their size, and ffprobe durations;
 *   - the generator's own CPU, and the whole machine's.
 *
 * Media is encoded ONCE (a short looped VP8 + Opus clip held in memory) and
 * fanned out to every participant's track, so the generator does not need one
 * encoder per participant. Without --url it starts its own server process
 * (src/main.ts) in a temporary RECORDING_DIR with RECORDER_ICE_LOOPBACK=1 and
 * EVENTLOG_FSYNC=1. Loopback only; bounded in time.
 *
 * Other options: --warmup 5 (s excluded from the CPU window) --drain 7
 * --probe 0 (ffprobe at most this many files; 0 = all) --video-kbps 1000
 * --clip-seconds 10 --video-loss 0 (fraction of video packets withheld per
 * participant: unrepairable loss, to see what loss costs the recorder)
 * --stagger-stop S (after the window, stop the rooms one by one S seconds
 * apart while the others keep recording: does finalizing one room hurt the
 * rest? Sent-vs-counted then undercounts the early rooms' last stats period)
 * --server-cpu-prof DIR (own server: node --cpu-prof into
 * DIR) --server-pid PID --recording-dir DIR (with --url, when they cannot be
 * found from /proc) --keep (keep the temp RECORDING_DIR) --json FILE.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ClipPlayer } from './lib/clip-player.js';
import { readServerProfile, summarizeProfile } from './lib/cpuprofile.js';
import { encodeClip } from './lib/media-clip.js';
import { LoadParticipant, type SenderCounters } from './lib/participant.js';
import { clockTicks, findListeningPid, loadAverage, processCwd, processEnv, readProcCpu, schedWaitNs, udpRcvbufErrors } from './lib/proc.js';
import { listTrackFiles, lossTimeline, probeAll, readEventLog, spreadSample, summarizePeerEvents } from './lib/results.js';
import { startServerProcess, type ServerProcess } from './lib/server.js';
import { api, isLoopbackUrl, machineCpu, median, pct, roomAssignment, type MachineCpu } from './lib/util.js';

const { values: args } = parseArgs({
  options: {
    participants: { type: 'string', default: '24' },
    rooms: { type: 'string', default: '6' },
    seconds: { type: 'string', default: '60' },
    url: { type: 'string' },
    warmup: { type: 'string', default: '5' },
    drain: { type: 'string', default: '7' },
    probe: { type: 'string', default: '0' },
    'video-kbps': { type: 'string', default: '1000' },
    'video-loss': { type: 'string', default: '0' },
    'stagger-stop': { type: 'string', default: '0' },
    'clip-seconds': { type: 'string', default: '10' },
    'server-cpu-prof': { type: 'string' },
    'server-pid': { type: 'string' },
    'recording-dir': { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    keep: { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});

const N = Number(args.participants);
const M = Number(args.rooms);
const SECONDS = Number(args.seconds);
const WARMUP = Number(args.warmup);
const DRAIN = Number(args.drain);
const STAGGER = Number(args['stagger-stop']);
if (!(N >= 1 && M >= 1 && M <= N && SECONDS > WARMUP && WARMUP >= 0 && DRAIN >= 0)) {
  console.error('need --participants >= --rooms >= 1 and --seconds > --warmup >= 0');
  process.exit(2);
}
if (args.url && !isLoopbackUrl(args.url)) {
  console.error(`--url must be a loopback address (127.0.0.0/8, ::1, localhost): ${args.url}`);
  process.exit(2);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => console.log(`[loadgen ${new Date().toISOString().slice(11, 19)}] ${msg}`);
const f2 = (x: number) => x.toFixed(2);
const f3 = (x: number) => x.toFixed(3);

async function waitUntil(what: string, cond: () => boolean, timeoutMs: number, stepMs = 100): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

const addCounters = (a: SenderCounters, b: SenderCounters): SenderCounters => ({
  packets: a.packets + b.packets,
  bytes: a.bytes + b.bytes,
  retransmitted: a.retransmitted + b.retransmitted,
  nacksReceived: a.nacksReceived + b.nacksReceived,
  plisReceived: a.plisReceived + b.plisReceived,
});
const zero = (): SenderCounters => ({ packets: 0, bytes: 0, retransmitted: 0, nacksReceived: 0, plisReceived: 0 });

async function main() {
  const startedAt = Date.now();
  // Hard bound on the whole run.
  const budgetMs = (SECONDS + DRAIN + STAGGER * M + 240) * 1000;
  const watchdog = setTimeout(() => {
    console.error(`loadgen: run exceeded ${budgetMs / 1000} s; aborting`);
    void cleanup().finally(() => process.exit(3));
  }, budgetMs);
  watchdog.unref();

  let server: ServerProcess | null = null;
  let tempDir: string | null = null;
  let player: ClipPlayer | null = null;
  const participants: LoadParticipant[] = [];
  async function cleanup() {
    player?.stop();
    await Promise.allSettled(participants.map((p) => p.close()));
    if (server) await server.stop();
    if (tempDir && !args.keep) await rm(tempDir, { recursive: true, force: true }).catch(() => undefined);
  }

  const loadBefore = loadAverage();
  log(`load average before: ${loadBefore} (${cpus().length} cores)`);

  // 1. The clip, encoded once.
  const clip = await encodeClip({
    seconds: Number(args['clip-seconds']),
    width: 640,
    height: 360,
    fps: 30,
    gopFrames: 30,
    videoKbps: Number(args['video-kbps']),
    audioKbps: 48,
    ffmpegPath: process.env.FFMPEG_PATH ?? 'ffmpeg',
  });
  log(
    `clip: ${clip.video.length} VP8 frames ${clip.width}x${clip.height}@${clip.fps} (${clip.videoKbps.toFixed(0)} kbps, GOP 30), ` +
      `${clip.audio.length} Opus packets (${clip.audioKbps.toFixed(0)} kbps); encoded once in ${clip.encodeWallMs} ms, ${f2(clip.encodeCpuSeconds)} CPU s`,
  );

  // 2. The server.
  let baseUrl: string;
  let serverPid: number | null;
  let recordingDir: string | null;
  if (args.url) {
    baseUrl = args.url.replace(/\/+$/, '');
    const port = Number(new URL(baseUrl).port || 80);
    serverPid = args['server-pid'] ? Number(args['server-pid']) : findListeningPid(port);
    recordingDir = args['recording-dir'] ?? null;
    if (!recordingDir && serverPid) {
      try {
        const dir = processEnv(serverPid).RECORDING_DIR ?? 'recordings';
        recordingDir = isAbsolute(dir) ? dir : resolve(processCwd(serverPid), dir);
      } catch {
        recordingDir = null;
      }
    }
    log(`server ${baseUrl}: pid ${serverPid ?? 'unknown (pass --server-pid)'}, RECORDING_DIR ${recordingDir ?? 'unknown (pass --recording-dir)'}`);
  } else {
    tempDir = await mkdtemp(join(tmpdir(), 'loadgen-rec-'));
    const env: Record<string, string> = {
      RECORDING_DIR: tempDir,
      RECORDER_ICE_LOOPBACK: '1',
      EVENTLOG_FSYNC: '1',
      LOG_LEVEL: args['log-level']!,
    };
    // Node 20 refuses --cpu-prof in NODE_OPTIONS: pass it on the server's command line.
    const nodeArgs = args['server-cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${resolve(args['server-cpu-prof'])}`] : [];
    server = await startServerProcess(env, { nodeArgs });
    baseUrl = server.url.replace(/\/+$/, '');
    if (!isLoopbackUrl(baseUrl)) throw new Error(`server listens on a non-loopback URL ${baseUrl}`);
    serverPid = server.pid;
    recordingDir = tempDir;
    log(`started server pid ${serverPid} at ${baseUrl}, RECORDING_DIR ${tempDir}${args['server-cpu-prof'] ? `, --cpu-prof into ${args['server-cpu-prof']}` : ''}`);
  }

  try {
    // 3. Participants join (hosts first).
    player = new ClipPlayer(clip);
    player.start();
    const tag = Math.random().toString(36).slice(2, 8);
    const rooms = Array.from({ length: M }, (_, r) => `lg-${tag}-r${r}`);
    const assignment = roomAssignment(N, M);
    const t0 = Date.now();
    const join = (i: number) => LoadParticipant.join(baseUrl, rooms[assignment[i]!]!, player!, `p${i}`, Number(args['video-loss']));
    const hostIdx = rooms.map((_, r) => assignment.indexOf(r));
    for (const i of hostIdx) participants[i] = await join(i);
    await Promise.all(
      assignment.map(async (_, i) => {
        if (!hostIdx.includes(i)) participants[i] = await join(i);
      }),
    );
    for (const [r, i] of hostIdx.entries()) {
      if (participants[i]!.role !== 'host') throw new Error(`first socket in room ${rooms[r]} is not its host`);
    }
    log(`${N} participants joined ${M} rooms in ${Date.now() - t0} ms`);

    // 4. Record every room.
    const t1 = Date.now();
    const udpErrors0 = udpRcvbufErrors();
    const recordingIds: string[] = [];
    for (const room of rooms) {
      const r = await api(baseUrl, 'POST', '/api/recording-sessions', { connectionId: room });
      if (r.status !== 201) throw new Error(`POST /api/recording-sessions ${room}: ${r.status} ${JSON.stringify(r.json)}`);
      recordingIds.push(r.json.session.id);
    }
    const ridSet = new Set(recordingIds);
    await waitUntil(
      'every recorder peer to connect',
      () => participants.every((p) => p.current?.connectedAt != null),
      30_000,
    ).catch((err) => {
      const missing = participants.filter((p) => p.current?.connectedAt == null).map((p) => `${p.participantId}(${p.errors.join('; ')})`);
      throw new Error(`${(err as Error).message}: ${missing.join(', ')}`);
    });
    const allConnectedAt = Date.now();
    const connectMs = participants.map((p) => p.current!.connectedAt! - p.current!.offeredAt);
    log(`${M} recordings started; all ${N} recorder peers connected ${allConnectedAt - t1} ms after the first POST (offer→connected median ${median(connectMs)} ms, max ${Math.max(...connectMs)} ms)`);

    // 5. Warm-up, then the steady-state window.
    await sleep(WARMUP * 1000);
    const w0 = {
      at: Date.now(),
      hr: performance.now(),
      monoUs: Number(process.hrtime.bigint() / 1000n),
      server: serverPid ? readProcCpu(serverPid).self : null,
      serverWait: serverPid ? schedWaitNs(serverPid) : NaN,
      gen: process.cpuUsage(),
      machine: machineCpu(),
      player: { ...player.stats },
    };
    const windowS = SECONDS - WARMUP;
    log(`steady-state window: ${windowS} s (load average ${loadAverage()})`);
    await sleep(windowS * 1000);
    const w1 = {
      at: Date.now(),
      hr: performance.now(),
      monoUs: Number(process.hrtime.bigint() / 1000n),
      server: serverPid ? readProcCpu(serverPid).self : null,
      serverWait: serverPid ? schedWaitNs(serverPid) : NaN,
      gen: process.cpuUsage(w0.gen),
      machine: machineCpu(),
      player: { ...player.stats },
    };
    const loadDuring = loadAverage();

    // 6a. Optionally stop all rooms but the last one by one while media keeps flowing.
    const earlyStops: { status: number; json: any }[] = [];
    const earlyStopMs: number[] = [];
    if (STAGGER > 0) {
      for (const id of recordingIds.slice(0, -1)) {
        const t = Date.now();
        const mono = Number(process.hrtime.bigint() / 1000n);
        earlyStops.push(await api(baseUrl, 'DELETE', `/api/recording-sessions/${id}?compose=false`));
        earlyStopMs.push(Date.now() - t);
        log(`stopped ${id} while ${recordingIds.length - earlyStops.length} rooms keep recording (${earlyStopMs.at(-1)} ms; sent at CLOCK_MONOTONIC ${mono} µs, the clock of --server-cpu-prof profiles)`);
        await sleep(STAGGER * 1000);
      }
    }
    const stopAtS = (Date.now() - allConnectedAt) / 1000;

    // 6. Quiet period: the recorder's next stats sample then covers every packet sent.
    player.stop();
    log(`media stopped after ${stopAtS.toFixed(1)} s; draining ${DRAIN} s`);
    await sleep(DRAIN * 1000);
    const udpErrors = udpRcvbufErrors() - udpErrors0;
    const sent = { video: zero(), audio: zero() };
    for (const p of participants) {
      for (const peer of p.peers) {
        const c = peer.counters();
        sent.video = addCounters(sent.video, c.video);
        sent.audio = addCounters(sent.audio, c.audio);
      }
    }
    const peerFailures = participants.flatMap((p) => p.peers.filter((x) => x.failed).map((x) => `${p.participantId}: ${x.failed}`));

    // 7. Stop (no composition).
    const t2 = Date.now();
    const stops = [
      ...earlyStops,
      ...(await Promise.all(recordingIds.slice(earlyStops.length).map((id) => api(baseUrl, 'DELETE', `/api/recording-sessions/${id}?compose=false`)))),
    ];
    for (const [i, r] of stops.entries()) {
      if (r.status !== 200) throw new Error(`DELETE ${recordingIds[i]}: ${r.status} ${JSON.stringify(r.json)}`);
    }
    const stopMs = Date.now() - t2;
    const statuses = stops.map((r) => r.json.session?.status);
    await waitUntil('recording-stopped on every socket', () => participants.every((p) => recordingIds.some((id) => p.stopped.has(id))), 30_000).catch(
      (err) => log(`warning: ${(err as Error).message}`),
    );
    log(`stopped ${M} recordings in ${stopMs} ms (statuses: ${[...new Set(statuses)].join(',')})`);
    const clientErrors = participants.flatMap((p) => p.errors.map((e) => `${p.participantId}: ${e}`));
    for (const p of participants) await p.close();
    participants.length = 0;

    // 8. Read what the recorder left.
    let events: Awaited<ReturnType<typeof readEventLog>> = [];
    if (recordingDir) {
      const need = N; // one peer.closed per participant
      const deadline = Date.now() + 30_000;
      for (;;) {
        events = await readEventLog(recordingDir).catch(() => []);
        const closed = summarizePeerEvents(events, ridSet).closed;
        if (closed >= need || Date.now() > deadline) break;
        await sleep(500);
      }
    }
    const serverLog = server ? { levels: { ...server.levels }, problems: [...server.problems] } : null;
    if (server) {
      const t3 = Date.now();
      const code = await server.stop();
      log(`server stopped (exit ${code}) in ${Date.now() - t3} ms`);
      server = null;
    }
    // Stats periods that end inside the window (each event covers the 5 s before it).
    const summary = summarizePeerEvents(events, ridSet, w0.at + 5000, w1.at);
    const files = recordingDir ? await listTrackFiles(recordingDir, rooms, ridSet) : [];
    const probeN = Number(args.probe);
    const sample = probeN > 0 ? spreadSample(files, probeN) : files;
    const probes = await probeAll(process.env.FFPROBE_PATH ?? 'ffprobe', sample.map((f) => f.path));
    const loadAfter = loadAverage();

    // 9. Figures.
    const wallS = (w1.hr - w0.hr) / 1000;
    const tck = clockTicks();
    const serverCores = w0.server !== null && w1.server !== null ? (w1.server - w0.server) / tck / wallS : null;
    const genCores = (w1.gen.user + w1.gen.system) / 1e6 / wallS;
    const m = w1.machine.minus(w0.machine);
    const sentPackets = sent.video.packets + sent.audio.packets;
    const received = summary.packets;
    const sidecarPackets = files.reduce((s, f) => s + (f.sidecarPackets ?? 0), 0);
    const totalBytes = files.reduce((s, f) => s + f.bytes, 0);
    const durations = probes.filter((p) => p.ok).map((p) => p.durationS!);
    const perParticipant = serverCores === null ? null : serverCores / N;
    const lossPct = pct(summary.lost, received + summary.lost);
    const sentVsCountedPct = pct(sentPackets - received, sentPackets);
    const expectedS = stopAtS;

    const lines = [
      '',
      `=== meeting-recorder load: ${N} participants in ${M} rooms, ${SECONDS} s (window ${f2(wallS)} s after ${WARMUP} s warm-up) ===`,
      `command: npx tsx tools/loadgen.ts ${process.argv.slice(2).join(' ')}`,
      `load average (1/5/15 min): before ${loadBefore} | end of window ${loadDuring} | after ${loadAfter}`,
      `machine CPU in window: ${f2(m.busyCores)} of ${m.cores} cores busy = server + generator + irq/softirq ${f2(m.irqCores)} (loopback UDP) + others ≈ ${f2(
        Math.max(0, m.busyCores - (serverCores ?? 0) - genCores - m.irqCores),
      )} cores (other processes on the machine)`,
      serverCores === null
        ? 'recorder CPU: n/a (server pid unknown)'
        : `recorder CPU (server pid ${serverPid}): ${f3(serverCores)} cores total, ${f3(perParticipant!)} cores per participant ` +
          `[target < 0.050: ${perParticipant! < 0.05 ? 'MET' : 'MISSED'}]`,
      `load generator CPU (node, ${N} werift senders + fan-out): ${f3(genCores)} cores (${f3(genCores / N)} per participant); ` +
        `one-off clip encode ${f2(clip.encodeCpuSeconds)} CPU s; scheduler max lateness ${player.stats.maxLateMs.toFixed(0)} ms`,
      `contention: server main thread waited for a CPU ${Number.isFinite(w1.serverWait - w0.serverWait) ? f3((w1.serverWait - w0.serverWait) / 1e9 / wallS) : 'n/a'} s per s of window; ` +
        `kernel UDP receive-buffer drops (machine-wide, whole media period): ${udpErrors}`,
      `packets at the recorder (event log, ${summary.statsEvents} peer.media.stats from ${summary.peers} peers): received ${received}, lost ${summary.lost} ` +
        `= ${lossPct.toFixed(3)} % [target < 0.5 %: ${lossPct < 0.5 ? 'MET' : 'MISSED'}]; in window: lost ${summary.window.lost} of ${summary.window.packets + summary.window.lost} = ${pct(
          summary.window.lost,
          summary.window.packets + summary.window.lost,
        ).toFixed(3)} %`,
      ...(player.stats.droppedOnPurpose ? [`withheld on purpose (--video-loss): ${player.stats.droppedOnPurpose} video packets, not counted as sent`] : []),
      `sent by generator ${sentPackets} (video ${sent.video.packets}, audio ${sent.audio.packets}; ${sent.video.retransmitted} video retransmissions for ${sent.video.nacksReceived} NACKs; ${
        sent.video.plisReceived
      } PLIs) vs counted by recorder ${received}: ${sentVsCountedPct.toFixed(3)} % not counted; segment sidecars: ${sidecarPackets} packets (${pct(
        sentPackets - sidecarPackets,
        sentPackets,
      ).toFixed(3)} % not written)`,
      `bitrate received: ${((summary.bytes * 8) / 1000 / expectedS / N).toFixed(0)} kbps per participant (payload)`,
      `files: ${files.length} .webm (${files.filter((f) => f.kind === 'video').length} video, ${files.filter((f) => f.kind === 'audio').length} audio; expected ${2 * N}), ` +
        `${(totalBytes / 1e6).toFixed(1)} MB; ffprobe ${probes.length} of them: ${probes.filter((p) => p.ok).length} ok (duration > 0)` +
        (durations.length
          ? `, duration min/median/max ${f2(Math.min(...durations))}/${f2(median(durations))}/${f2(Math.max(...durations))} s (media ran ≈ ${f2(expectedS)} s)`
          : ''),
      `peers: ${summary.connected} connected, ${summary.mediaStarted} media-started, ${summary.stalled} stalled (the drain makes each track stall once: expected ${2 * N}), ` +
        `${summary.failed} failed, ${summary.offerFailed} offer-failed, ${summary.segmentsFinalized} segments finalized, ${summary.closed} closed; generator-side peer failures: ${peerFailures.length}`,
      ...(STAGGER > 0
        ? [`staggered stop: ${earlyStops.length} rooms stopped ${STAGGER} s apart while the others recorded, DELETE answered in ${earlyStopMs.join(', ')} ms (media in the remaining rooms ran until ${f2(stopAtS)} s; see the loss timeline)`]
        : []),
      `stop: DELETE x${M - earlyStops.length} answered in ${stopMs} ms; whole run ${((Date.now() - startedAt) / 1000).toFixed(0)} s`,
    ];
    if (lossPct >= 0.05 || summary.failed > 0 || STAGGER > 0) {
      const tl = lossTimeline(events, ridSet, allConnectedAt);
      lines.push(
        `loss timeline (s after all peers connected: lost % of packets in the 5 s ending there): ` +
          tl.buckets.map((b) => `${b.atS}s ${pct(b.lost, b.packets + b.lost).toFixed(1)}%${b.packets + b.lost === 0 ? '(no media)' : ''}`).join(' '),
        ...(tl.failedAtS.length ? [`peer.failed at s: ${tl.failedAtS.join(',')}`] : []),
      );
    }
    if (serverLog) lines.push(`server log: ${JSON.stringify(serverLog.levels)}${serverLog.problems.length ? `; first problems: ${serverLog.problems.slice(0, 5).join(' | ')}` : ''}`);
    const badProbes = probes.filter((p) => !p.ok);
    if (badProbes.length) lines.push(`undecodable: ${badProbes.slice(0, 5).map((p) => `${p.file}: ${p.error}`).join(' | ')}`);
    if (args['server-cpu-prof'] && serverPid) {
      const prof = await readServerProfile(resolve(args['server-cpu-prof']), serverPid);
      if (!prof) lines.push('server CPU profile: none written');
      else {
        const pctS = (x: number) => `${(x * 100).toFixed(1)}%`;
        const win = summarizeProfile(prof.profile, 15, { from: w0.monoUs, to: w1.monoUs });
        const whole = summarizeProfile(prof.profile, 8);
        lines.push(
          `server CPU profile ${prof.file} — steady-state window only (${(win.sampledMs / 1000).toFixed(1)} s sampled, idle ${pctS(win.idleShare)}):`,
          '  self time: ' + win.self.map((r) => `${pctS(r.share)} ${r.name}`).join('\n             '),
          '  inclusive: ' + win.inclusive.filter((r) => !/^\(|node:/.test(r.name)).slice(0, 12).map((r) => `${pctS(r.share)} ${r.name}`).join('\n             '),
          `  whole run incl. start and stop (${(whole.sampledMs / 1000).toFixed(1)} s, idle ${pctS(whole.idleShare)}), self: ` +
            whole.self.map((r) => `${pctS(r.share)} ${r.name}`).join(' | '),
        );
      }
    }
    if (clientErrors.length) lines.push(`client errors (${clientErrors.length}): ${clientErrors.slice(0, 5).join(' | ')}`);
    console.log(lines.join('\n'));

    if (args.json) {
      await writeFile(
        args.json,
        JSON.stringify(
          {
            participants: N,
            rooms: M,
            seconds: SECONDS,
            windowS: wallS,
            load: { before: loadBefore, endOfWindow: loadDuring, after: loadAfter },
            machine: { cores: m.cores, busyCores: m.busyCores, irqCores: m.irqCores },
            serverCores,
            serverCoresPerParticipant: perParticipant,
            generatorCores: genCores,
            clip: { videoKbps: clip.videoKbps, audioKbps: clip.audioKbps, encodeCpuSeconds: clip.encodeCpuSeconds },
            sent,
            recorder: summary,
            lossPct,
            sentVsCountedPct,
            sidecarPackets,
            udpRcvbufErrors: udpErrors,
            serverRunqueueWaitPerS: (w1.serverWait - w0.serverWait) / 1e9 / wallS,
            files: { count: files.length, bytes: totalBytes, probed: probes.length, ok: probes.filter((p) => p.ok).length, durations },
            stopMs,
            serverLog,
          },
          null,
          2,
        ),
      );
    }
  } finally {
    await cleanup();
    clearTimeout(watchdog);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error('loadgen failed:', err instanceof Error ? err.stack : err);
    process.exit(1);
  },
);
