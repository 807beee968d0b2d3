import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventLog } from '../../../src/log/index.js';

// The NATS branch would create the default MR_EVENTS stream, which may be shared: not tested here.
describe('createEventLog', () => {
  const logger = pino({ level: 'silent' });
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mr-create-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('is embedded at <recordingDir>/.eventlog/events.jsonl without natsUrl', async () => {
    const log = await createEventLog({ recordingDir: join(dir, 'recordings'), logger });
    expect(log.kind).toBe('embedded');
    expect((await stat(join(dir, 'recordings', '.eventlog', 'events.jsonl'))).isFile()).toBe(true);
    await log.close();
  });
});
