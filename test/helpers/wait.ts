/** Waiting in tests: a pause, a condition, a polled value. */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves once `check()` holds; throws when it still does not after timeoutMs. */
export async function eventually(check: () => boolean, timeoutMs = 5000, stepMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(stepMs);
  }
}

/**
 * Reads a value every stepMs until `done(value)` or timeoutMs, and returns the
 * last one read either way: the caller's assertion on it says what was expected
 * (and shows what there was).
 */
export async function poll<T>(read: () => Promise<T>, done: (value: T) => boolean, { timeoutMs = 10_000, stepMs = 100 } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() >= deadline) return value;
    await sleep(stepMs);
  }
}
