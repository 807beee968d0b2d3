/**
 * Operator replay: reads the event log (a JSONL file, or the JetStream stream
 * when NATS_URL is set) and prints what happened, the final state of every
 * actor, and the first thing that went wrong.
 *
 *   npm run replay -- [--file recordings/.eventlog/events.jsonl] [--recording ID] [--until SEQ] [--json]
 *   NATS_URL=nats://127.0.0.1:4222 npm run replay -- [--stream MR_EVENTS] [--recording ID]
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createEmbeddedLog } from '../src/log/embedded.js';
import { createNatsLog } from '../src/log/nats.js';
import type { EventLog } from '../src/log/types.js';
import { formatEntry, formatOutcome, replay, type TimelineEntry } from '../src/replay/index.js';

const { values } = parseArgs({
  options: {
    file: { type: 'string' },
    recording: { type: 'string' },
    until: { type: 'string' },
    json: { type: 'boolean', default: false },
    stream: { type: 'string' },
    prefix: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log('usage: npm run replay -- [--file PATH | (NATS_URL set) --stream NAME] [--recording ID] [--until SEQ] [--json]');
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

main().catch((err) => {
  console.error(`replay: ${(err as Error).message}`);
  process.exit(1);
});
