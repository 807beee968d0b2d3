import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

export interface MotoServer {
  endpoint: string;
  port: number;
  /** Creates a bucket (a plain `PUT /bucket`). */
  createBucket(name: string): Promise<void>;
  /** Stops the server; safe to call twice. */
  stop(): Promise<void>;
}

/** A free loopback port (listened on, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * moto's S3-compatible HTTP server (`pip install 'moto[server]'`) on a
 * loopback port: a real HTTP endpoint for the object-storage tests and the
 * upload benchmark, not an SDK mock. Keeps everything in memory.
 */
export async function startMoto(port?: number): Promise<MotoServer> {
  const p = port ?? (await freePort());
  const child = spawn(process.env.MOTO_SERVER ?? 'moto_server', ['-H', '127.0.0.1', '-p', String(p)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = `http://127.0.0.1:${p}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited: ${stderr}`);
    const ok = await fetch(`${endpoint}/`).then((r) => r.status < 500, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`moto_server did not answer on ${endpoint}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint,
    port: p,
    async createBucket(name) {
      const r = await fetch(`${endpoint}/${name}`, { method: 'PUT' });
      if (r.status >= 300) throw new Error(`PUT /${name}: ${r.status} ${await r.text()}`);
    },
    stop,
  };
}
