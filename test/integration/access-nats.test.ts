import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { TestClient } from '../helpers/ws-client.js';

/**
 * Both NATS connections (the event log and the composition queue) take their
 * credentials from the environment: against a nats-server that wants a user
 * and a password, the app starts only with the right ones, and then logs to
 * JetStream and queues compositions there.
 */
let dir = '';
let child: ChildProcess;
let url = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mr-nats-auth-'));
  child = spawn('nats-server', ['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', dir, '--user', 'u', '--pass', 'p', '--ports_file_dir', dir], {
    stdio: 'ignore',
  });
  const deadline = Date.now() + 10_000;
  while (!url) {
    if (Date.now() > deadline) throw new Error('nats-server wrote no ports file');
    const file = (await readdir(dir)).find((f) => f.endsWith('.ports'));
    if (file) url = (JSON.parse(await readFile(join(dir, file), 'utf8')).nats ?? [])[0] ?? '';
    if (!url) await new Promise((r) => setTimeout(r, 50));
  }
});

afterAll(async () => {
  child?.kill('SIGTERM');
  await new Promise((r) => child?.once('exit', r));
  await rm(dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string>) => ({ NATS_URL: url, NODE_ID: `auth-${Math.random().toString(36).slice(2)}`, ...extra });

describe('NATS credentials', () => {
  it('without them, or with a wrong password, the app does not start', async () => {
    await expect(startTestApp(env({}))).rejects.toThrow(/authorization|auth/i);
    await expect(startTestApp(env({ NATS_USER: 'u', NATS_PASSWORD: 'wrong' }))).rejects.toThrow(/authorization|auth/i);
  });

  it('with NATS_USER/NATS_PASSWORD both connections work: events reach JetStream, the queue stream exists', async () => {
    let app: TestApp | null = null;
    try {
      app = await startTestApp(env({ NATS_USER: 'u', NATS_PASSWORD: 'p', NATS_EVENT_STREAM: 'AUTH_EVENTS', NATS_COMPOSE_STREAM: 'AUTH_COMPOSE' }));
      const c = await TestClient.open(app.url.replace(/^http/, 'ws') + '/');
      expect((await c.join('nats-room')).role).toBe('host');
      c.close();
      const nc = await connect({ servers: url, user: 'u', pass: 'p' });
      try {
        const jsm = await jetstreamManager(nc);
        expect((await jsm.streams.info('AUTH_EVENTS')).state.messages).toBeGreaterThan(0);
        expect((await jsm.streams.info('AUTH_COMPOSE')).config.name).toBe('AUTH_COMPOSE');
      } finally {
        await nc.close();
      }
    } finally {
      await app?.cleanup();
    }
  });
});
