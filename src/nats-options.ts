import { readFileSync } from 'node:fs';
import { credsAuthenticator, type NodeConnectionOptions } from '@nats-io/transport-node';
import type { Config } from './config.js';

/**
 * Credentials and TLS for every NATS connection this process opens (the
 * event log and the composition queue), from NATS_USER/NATS_PASSWORD,
 * NATS_TOKEN, NATS_CREDS and NATS_TLS_CA. Spread into `connect({...})`.
 */
export function natsConnectOptions(config: Pick<Config, 'nats'>): Partial<NodeConnectionOptions> {
  const { user, password, token, credsFile, tlsCaFile } = config.nats;
  const opts: Partial<NodeConnectionOptions> = {};
  if (user) Object.assign(opts, { user, pass: password });
  if (token) opts.token = token;
  // Read once at start: a missing file is a startup error naming it, not a reconnect loop.
  if (credsFile) opts.authenticator = credsAuthenticator(readSecretFile(credsFile, 'NATS_CREDS'));
  if (tlsCaFile) opts.tls = { ca: readSecretFile(tlsCaFile, 'NATS_TLS_CA').toString('utf8') };
  return opts;
}

function readSecretFile(file: string, variable: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${variable}: cannot read ${file}: ${(err as Error).message}`);
  }
}
