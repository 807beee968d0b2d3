import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh, empty directory under the OS temp dir (a recordings root, a log's folder). */
export const tempDir = (prefix: string): Promise<string> => mkdtemp(join(tmpdir(), prefix));

/**
 * Removes a test's directory. Retries (Node's rm retries ENOTEMPTY/EBUSY with backoff): one loaded run
 * of the whole suite failed access.test's teardown with ENOTEMPTY, a file appearing in a room folder
 * while rm walked it after app.stop() had returned (what wrote it is not found yet).
 */
export const removeDir = (dir: string): Promise<void> => rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
