/**
 * The full app in either of its modes: `embedded` (JSONL log, in-process
 * queue) or `nats` (JetStream log and work queue on NATS_URL or a private
 * nats-server), with stream names of its own so runs never share state.
 */
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { AppOptions } from '../../src/app.js';
import { startNats, type NatsServer } from '../../tools/lib/nats-server.js';
import { startTestApp, type TestApp } from './app.js';

export type AppMode = 'embedded' | 'nats';
export const APP_MODES: AppMode[] = ['embedded', 'nats'];

/** NATS env of a fresh deployment on `url`: its own event stream, subject prefix, compose stream and node id. */
export function natsEnv(url: string): Record<string, string> {
  const tag = randomBytes(4).toString('hex');
  return {
    NATS_URL: url,
    NATS_EVENT_STREAM: `T_E2E_EV_${tag}`,
    NATS_SUBJECT_PREFIX: `te2e${tag}.ev`,
    NATS_COMPOSE_STREAM: `T_E2E_CO_${tag}`,
    NODE_ID: `e2e-${tag}`,
  };
}

/** startTestApp in `mode`; cleanup also deletes the app's JetStream streams and stops a private nats-server. */
export async function startModeApp(mode: AppMode, env: Record<string, string> = {}, opts: AppOptions & { root?: string } = {}): Promise<TestApp> {
  if (mode === 'embedded') return startTestApp(env, opts);
  const nats: NatsServer = await startNats();
  const ne = natsEnv(nats.url);
  let app: TestApp;
  try {
    app = await startTestApp({ ...ne, ...env }, opts);
  } catch (err) {
    await nats.stop();
    throw err;
  }
  return {
    ...app,
    async cleanup() {
      await app.cleanup();
      const nc = await connect({ servers: nats.url });
      try {
        const jsm = await jetstreamManager(nc);
        for (const s of [ne.NATS_EVENT_STREAM!, ne.NATS_COMPOSE_STREAM!]) await jsm.streams.delete(s).catch(() => false);
      } finally {
        await nc.close();
        await nats.stop();
      }
    },
  };
}
