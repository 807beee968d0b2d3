/**
 * A full garbage collection of another Node process through its inspector
 * (the process runs with `--inspect=127.0.0.1:0`): `HeapProfiler.collectGarbage`,
 * which also shrinks the young generation and gives freed pages back. The soak
 * uses it to read RSS at like-for-like points: what the process holds, not how
 * much garbage the last scavenge happened to leave (with
 * `--max-semi-space-size=64` that alone swings RSS by over 100 MB).
 */
import WebSocket from 'ws';

/** The inspector's WebSocket URL from the process's stderr ("Debugger listening on ws://…"). */
export function inspectorUrlOf(stderr: string): string | null {
  return /Debugger listening on (ws:\/\/\S+)/.exec(stderr)?.[1] ?? null;
}

/** Connects, asks for a full GC, waits for its answer and disconnects. Rejects after timeoutMs. */
export async function collectGarbage(url: string, timeoutMs = 30_000): Promise<void> {
  const ws = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`inspector ${url}: no answer in ${timeoutMs} ms`)), timeoutMs);
      ws.once('error', (e) => (clearTimeout(t), reject(e)));
      ws.once('open', () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' })));
      ws.on('message', (raw) => {
        const m = JSON.parse(String(raw)) as { id?: number; error?: { message: string } };
        if (m.id !== 1) return;
        clearTimeout(t);
        if (m.error) reject(new Error(`HeapProfiler.collectGarbage: ${m.error.message}`));
        else resolve();
      });
    });
  } finally {
    ws.close();
  }
}
