import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startApp, type App, type AppOptions } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';

export interface TestApp extends App {
  root: string;
  url: string;
  api(path: string, init?: RequestInit): Promise<{ status: number; body: any }>;
  cleanup(): Promise<void>;
}

/** The real app (werift recorder, ffmpeg composer, embedded log unless NATS_URL is given) on a free loopback port. */
export async function startTestApp(env: Record<string, string> = {}, opts: AppOptions & { root?: string } = {}): Promise<TestApp> {
  const root = opts.root ?? (await mkdtemp(join(tmpdir(), 'mr-app-')));
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', RECORDING_DIR: root, RECORDER_ICE_LOOPBACK: '1', EVENTLOG_FSYNC: '0', ...env });
  const app = await startApp(config, { logger: pino({ level: process.env.LOG_LEVEL ?? 'warn' }), ...opts });
  const url = app.url!;
  return {
    ...app,
    root,
    url,
    async api(path, init) {
      const res = await fetch(url + path, { ...init, headers: { 'content-type': 'application/json', ...(init?.headers ?? {}) } });
      const text = await res.text();
      let body: any = text;
      try {
        body = JSON.parse(text);
      } catch {}
      return { status: res.status, body };
    },
    async cleanup() {
      await app.stop();
      if (!opts.root) await rm(root, { recursive: true, force: true });
    },
  };
}
