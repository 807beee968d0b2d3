import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { toIdChars } from '../../events/ids.js';

/** Where each node leaves its probe: a dot folder, never a room's (room ids may not begin with `.`). */
export const PROBE_DIR = '.nodes';

const probeSchema = z.object({ nodeId: z.string(), writtenAt: z.number() });

export interface SharedDirOptions {
  root: string;
  nodeId: string;
  /** The other live nodes (from the leases): each must have left its probe here. */
  peers: () => string[];
  /** How often the probe is rewritten and the others' are looked for. */
  intervalMs: number;
  logger: Logger;
}

export interface SharedDir {
  /** One line per live node whose probe this node cannot see (empty: RECORDING_DIR is shared). */
  problems(): string[];
  close(): void;
}

/**
 * NATS mode: RECORDING_DIR must be one folder shared by every node and
 * composer (a recorder writes its participant's tracks where the socket
 * landed; the composition reads them all). Each node writes
 * `<root>/.nodes/<nodeId>.json` and looks for the probes of the nodes its
 * leases say are alive; one it cannot see (after it had time to write it) is
 * logged at error level once and named by /readyz until it shows up.
 */
export async function startSharedDirCheck(o: SharedDirOptions): Promise<SharedDir> {
  const log = o.logger.child({ module: 'health/shared-dir', nodeId: o.nodeId });
  const dir = join(o.root, PROBE_DIR);
  const fileOf = (id: string) => join(dir, `${toIdChars(id)}.json`);
  /** When each peer was first seen alive, and which are missing now. */
  const firstSeen = new Map<string, number>();
  let missing: string[] = [];
  const reported = new Set<string>();
  let closed = false;

  async function writeProbe() {
    await mkdir(dir, { recursive: true });
    const tmp = `${fileOf(o.nodeId)}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ nodeId: o.nodeId, writtenAt: Date.now() }));
    await rename(tmp, fileOf(o.nodeId));
  }

  async function sees(id: string): Promise<boolean> {
    try {
      const p = probeSchema.safeParse(JSON.parse(await readFile(fileOf(id), 'utf8')));
      return p.success && p.data.nodeId === id;
    } catch {
      return false;
    }
  }

  async function round() {
    try {
      await writeProbe();
    } catch (err) {
      log.error({ err: (err as Error).message, dir }, 'cannot write the probe into RECORDING_DIR');
    }
    const now = Date.now();
    const peers = o.peers().filter((id) => id !== o.nodeId);
    for (const id of [...firstSeen.keys()]) if (!peers.includes(id)) firstSeen.delete(id);
    const next: string[] = [];
    for (const id of peers) {
      if (!firstSeen.has(id)) firstSeen.set(id, now);
      if (await sees(id)) {
        if (reported.delete(id)) log.info({ peerNode: id }, "now sees the other node's files in RECORDING_DIR");
        continue;
      }
      // A node that just joined gets two rounds to write its probe.
      if (now - firstSeen.get(id)! < 2 * o.intervalMs) continue;
      next.push(id);
      if (!reported.has(id)) {
        reported.add(id);
        log.error(
          { peerNode: id, dir, recordingDir: o.root },
          `RECORDING_DIR is not shared with node ${id}: its probe ${fileOf(id)} is not visible here. Track files recorded on other nodes cannot be composed here; mount one shared folder on every node and composer`,
        );
      }
    }
    missing = next;
  }

  await round();
  const timer = setInterval(() => void (closed || round()), o.intervalMs);
  timer.unref();
  return {
    problems: () => missing.map((id) => `RECORDING_DIR: node ${id}'s files are not visible here (${o.root} must be shared by every node)`),
    close() {
      closed = true;
      clearInterval(timer);
    },
  };
}
