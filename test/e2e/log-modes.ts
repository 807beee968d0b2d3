import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startNats, type NatsServer } from '../../tools/lib/nats-server.js';

export const LOG_MODES = ['embedded', 'nats'] as const;
export type LogMode = (typeof LOG_MODES)[number];

/**
 * The app's environment for one log mode: nothing for the embedded file log;
 * for NATS, a JetStream server (NATS_URL, or a private one) with streams named
 * for this test alone, deleted again by `release`.
 */
export async function logModeEnv(mode: LogMode): Promise<{ env: Record<string, string>; release(): Promise<void> }> {
  if (mode === 'embedded') return { env: {}, release: async () => {} };
  const nats: NatsServer = await startNats();
  const tag = randomBytes(4).toString('hex');
  const streams = [`T_E2E_EV_${tag}`, `T_E2E_CO_${tag}`];
  return {
    env: { NATS_URL: nats.url, NATS_EVENT_STREAM: streams[0]!, NATS_SUBJECT_PREFIX: `te2e${tag}.ev`, NATS_COMPOSE_STREAM: streams[1]! },
    async release() {
      const nc = await connect({ servers: nats.url });
      const jsm = await jetstreamManager(nc);
      for (const s of streams) await jsm.streams.delete(s).catch(() => {});
      await nc.close();
      await nats.stop();
    },
  };
}
