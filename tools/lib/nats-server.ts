import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';

export interface NatsServer {
  url: string;
  /** Stops the server if this helper started it; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * A JetStream-enabled server: NATS_URL when it is set and answers, otherwise a
 * private nats-server on a free loopback port with its store in a temp dir.
 */
export async function startNats(): Promise<NatsServer> {
  const external = process.env.NATS_URL;
  if (external && (await answers(external))) return { url: external, stop: async () => {} };

  const dir = await mkdtemp(join(tmpdir(), 'mr-nats-'));
  const child = spawn(
    process.env.NATS_SERVER ?? 'nats-server',
    ['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', dir, '--ports_file_dir', dir],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const url = await waitForPortsFile(dir, () => child.exitCode !== null || child.signalCode !== null);
    if (!(await answers(url))) throw new Error(`nats-server at ${url} does not answer`);
    return { url, stop };
  } catch (err) {
    await stop();
    throw new Error(`could not start nats-server: ${(err as Error).message}\n${stderr}`);
  }
}

async function waitForPortsFile(dir: string, died: () => boolean): Promise<string> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (died()) throw new Error('nats-server exited');
    const file = (await readdir(dir)).find((f) => f.endsWith('.ports'));
    if (file) {
      try {
        const ports = JSON.parse(await readFile(join(dir, file), 'utf8')) as { nats?: string[]; client?: string[] };
        const url = (ports.nats ?? ports.client)?.[0];
        if (url) return url;
      } catch {
        // written but not complete yet
      }
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('no ports file after 10 s');
}

async function answers(url: string): Promise<boolean> {
  try {
    const nc = await connect({ servers: url, timeout: 1000, reconnect: false });
    await nc.close();
    return true;
  } catch {
    return false;
  }
}
