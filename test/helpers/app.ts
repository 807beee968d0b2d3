import { pino } from 'pino';
import { startApp, type App, type AppOptions } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { httpClient, type HttpClient } from './http.js';
import { removeDir, tempDir } from './tmp.js';

export interface TestApp extends App {
  root: string;
  url: string;
  http: HttpClient;
  cleanup(): Promise<void>;
}

/** The real app (werift recorder, ffmpeg composer, embedded log unless NATS_URL is given) on a free loopback port. */
export async function startTestApp(env: Record<string, string> = {}, opts: AppOptions & { root?: string } = {}): Promise<TestApp> {
  const root = opts.root ?? (await tempDir('mr-app-'));
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', RECORDING_DIR: root, RECORDER_ICE_LOOPBACK: '1', EVENTLOG_FSYNC: '0', MIN_FREE_DISK_MB: '64', ...env });
  const app = await startApp(config, { logger: pino({ level: process.env.LOG_LEVEL ?? 'warn' }), ...opts });
  const url = app.url!;
  return {
    ...app,
    root,
    url,
    http: httpClient(url),
    async cleanup() {
      await app.stop();
      if (!opts.root) await removeDir(root);
    },
  };
}
