/**
 * Operator replay: reads the event log (a JSONL file, or the JetStream stream
 * when NATS_URL is set) and prints what happened, the final state of every
 * actor, and the first thing that went wrong.
 *
 *   npm run replay -- [--file recordings/.eventlog/events.jsonl] [--recording ID] [--until SEQ] [--json]
 *   npm run replay -- --html report.html [--recording ID] [--recordings DIR]   the timeline picture as one self-contained page
 *   NATS_URL=nats://127.0.0.1:4222 npm run replay -- [--stream MR_EVENTS] [--recording ID]
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseArgs } from 'node:util';
import { createEmbeddedLog } from '../src/log/embedded.js';
import { createNatsLog } from '../src/log/nats.js';
import type { EventLog } from '../src/log/types.js';
import { allTimelines, formatEntry, formatOutcome, recordingTimeline, replay, timelineReportHtml, withSpeech, type TimelineEntry } from '../src/replay/index.js';
import { readRecordingLevels } from '../src/replay/levels.js';

const { values } = parseArgs({
  options: {
    file: { type: 'string' },
    recording: { type: 'string' },
    until: { type: 'string' },
    json: { type: 'boolean', default: false },
    html: { type: 'string' },
    recordings: { type: 'string' },
    stream: { type: 'string' },
    prefix: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log('usage: npm run replay -- [--file PATH | (NATS_URL set) --stream NAME] [--recording ID] [--until SEQ] [--json | --html FILE [--recordings DIR]]');
  process.exit(0);
}

async function main() {
  const natsUrl = values.file ? undefined : process.env.NATS_URL;
  const file = values.file ?? join(process.env.EVENTLOG_DIR ?? join(process.env.RECORDING_DIR ?? 'recordings', '.eventlog'), 'events.jsonl');
  const until = values.until !== undefined ? Number(values.until) : undefined;
  if (until !== undefined && !(Number.isInteger(until) && until > 0)) throw new Error('--until takes a positive event sequence number');
  if (!natsUrl && !existsSync(file)) throw new Error(`no event log at ${file} (pass --file, or set NATS_URL)`);
  const log: EventLog = natsUrl
    ? await createNatsLog({ servers: natsUrl, stream: values.stream, subjectPrefix: values.prefix })
    : await createEmbeddedLog({ file, readOnly: true });
  const problems: string[] = [];
  try {
    if (values.html !== undefined) return await writeHtml(log, values.html, until);
    // The timeline is printed as it is folded, so a long log replays in bounded memory.
    if (!values.json) console.log('TIMELINE');
    const onEntry = values.json ? (t: TimelineEntry) => console.log(JSON.stringify({ kind: 'event', ...t })) : (t: TimelineEntry) => console.log(formatEntry(t));
    const result = await replay(log.read({ untilSeq: until }, (p) => problems.push(p)), { recordingId: values.recording, untilSeq: until, onEntry });
    if (values.json) {
      for (const f of result.finals) console.log(JSON.stringify({ kind: 'final', ...f }));
      for (const p of result.problems) console.log(JSON.stringify({ kind: 'problem', ...p }));
      for (const p of problems) console.log(JSON.stringify({ kind: 'unreadable', problem: p }));
    } else {
      for (const p of problems) console.log(`skipped unreadable log entry: ${p}`);
      console.log('');
      console.log(formatOutcome(result));
    }
  } finally {
    await log.close();
  }
}

/** The timeline picture of the recording (or of every recording in the log) as one self-contained HTML file. */
async function writeHtml(log: EventLog, out: string, until: number | undefined) {
  if (out === '') throw new Error('--html takes the file to write');
  const root = values.recordings ?? process.env.RECORDING_DIR ?? 'recordings';
  const logger = pino({ level: 'silent' });
  const read = () => log.read({ untilSeq: until });
  let timelines;
  if (values.recording) {
    const t = await recordingTimeline(read(), values.recording);
    if (!t) throw new Error(`the log holds no recording ${values.recording}`);
    timelines = [t];
  } else {
    timelines = await allTimelines(read());
  }
  timelines = await Promise.all(timelines.map(async (t) => withSpeech(t, t.roomId ? await readRecordingLevels(root, t.roomId, t.recordingId, logger) : [])));
  const { problems } = await replay(read(), { recordingId: values.recording, untilSeq: until, onEntry: () => {} });
  const rendererSource = await readFile(new URL('../public/console-timeline.js', import.meta.url), 'utf8');
  const source = values.file ?? (process.env.NATS_URL ? `JetStream ${values.stream ?? 'MR_EVENTS'}` : 'the event log');
  const title = values.recording ? `Recording ${values.recording}` : 'Recordings timeline';
  await writeFile(out, timelineReportHtml({ timelines, problems, rendererSource, title, source }));
  console.log(`wrote ${out}: ${timelines.length} recording(s), ${problems.length} problem(s)`);
}

main().catch((err) => {
  console.error(`replay: ${(err as Error).message}`);
  process.exit(1);
});
