import { describe, expect, it as vitestIt } from 'vitest';
import { FAILED_ITEM_DELAY_MS, type CompositionQueue, type QueueItem } from '../../../src/queue/types.js';

/** Delivery rules a fixture's queues are opened with (JetStream sets them on its consumer at creation). */
export const ACK_WAIT_MS = 1_000;
export const MAX_DELIVER = 3;

/** One empty store (nothing, a JetStream stream) that instances of a queue open. */
export interface QueueFixture {
  /** Opens an instance with ACK_WAIT_MS and MAX_DELIVER; again after close() it is a restart. */
  open(): Promise<CompositionQueue>;
  cleanup(): Promise<void>;
}

export interface QueueHarness {
  fresh(): Promise<QueueFixture>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function eventually(check: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** A handler's promise that the test ends when it likes. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

interface Seen {
  jobId: string;
  position: number;
  delivery: number;
  at: number;
}

let n = 0;
const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;
const jobId = () => `job-${run}-${++n}`;
const dedupe = () => `ev-${run}-${++n}`;

/** The behaviour every CompositionQueue implementation must show; what the composition worker relies on. */
export function compositionQueueContract(name: string, harness: QueueHarness): void {
  // Its cases mostly wait out delivery delays: each has a store of its own, so they run side by side.
  describe.concurrent(`CompositionQueue contract: ${name}`, () => {
    /** One case's store, its first instance, and what the case started (closed after it). */
    async function setup() {
      const fixture = await harness.fresh();
      const opened: CompositionQueue[] = [];
      const stops: (() => Promise<void>)[] = [];
      const gates: ReturnType<typeof gate>[] = [];
      const open = async () => {
        const q = await fixture.open();
        opened.push(q);
        return q;
      };
      /** Consumes into `seen`, running `act` on every item (default: return, which acks). */
      const consume = (q: CompositionQueue, seen: Seen[], act: (item: QueueItem) => Promise<void> | void = () => {}, concurrency = 1) => {
        const stop = q.consume(async (item) => {
          seen.push({ jobId: item.jobId, position: item.position, delivery: item.delivery, at: Date.now() });
          await act(item);
        }, concurrency);
        stops.push(stop);
        return stop;
      };
      const held = () => {
        const g = gate();
        gates.push(g);
        return g.opened;
      };
      const queue = await open();
      const teardown = async () => {
        for (const g of gates) g.open();
        await Promise.all(stops.map((s) => s()));
        for (const q of opened) await q.close();
        await fixture.cleanup();
      };
      return { queue, open, consume, held, gates, teardown };
    }
    type Case = Omit<Awaited<ReturnType<typeof setup>>, 'teardown'>;
    const it = (title: string, body: (c: Case) => unknown, timeoutMs?: number) =>
      vitestIt(
        title,
        async () => {
          const { teardown, ...c } = await setup();
          try {
            await body(c);
          } finally {
            await teardown();
          }
        },
        timeoutMs,
      );

    it('says how long an item may stay silent', ({ queue }) => {
      expect(queue.ackWaitMs).toBe(ACK_WAIT_MS);
    });

    it('delivers an entry with its job id and position, first as delivery 1; a handler that returns acks it', async ({ queue, consume }) => {
      const seen: Seen[] = [];
      const id = jobId();
      await queue.enqueue({ jobId: id, position: 7 }, dedupe());
      consume(queue, seen);
      await eventually(() => seen.length === 1);
      expect(seen[0]).toMatchObject({ jobId: id, position: 7, delivery: 1 });
      await sleep(ACK_WAIT_MS * 2);
      expect(seen).toHaveLength(1);
    });

    it('delivers entries already waiting and entries enqueued later, in enqueue order to one consumer', async ({ queue, consume }) => {
      const seen: Seen[] = [];
      const ids = Array.from({ length: 6 }, jobId);
      for (const id of ids.slice(0, 3)) await queue.enqueue({ jobId: id, position: 1 }, dedupe());
      consume(queue, seen);
      await eventually(() => seen.length === 3);
      for (const id of ids.slice(3)) await queue.enqueue({ jobId: id, position: 1 }, dedupe());
      await eventually(() => seen.length === 6);
      expect(seen.map((s) => s.jobId)).toEqual(ids);
    });

    it('runs up to `concurrency` handlers at once', async ({ queue, consume, held, gates }) => {
      const seen: Seen[] = [];
      consume(queue, seen, () => held(), 2);
      for (let i = 0; i < 3; i++) await queue.enqueue({ jobId: jobId(), position: 1 }, dedupe());
      await eventually(() => seen.length === 2);
      await sleep(300);
      expect(seen).toHaveLength(2); // the third waits for a free slot
      gates[0]!.open();
      await eventually(() => seen.length === 3);
    });

    it('hands each entry to one of several competing consumers', async ({ queue, consume }) => {
      const seen: Seen[] = [];
      consume(queue, seen, () => sleep(5), 2);
      consume(queue, seen, () => sleep(5), 1);
      const ids = Array.from({ length: 20 }, jobId);
      await Promise.all(ids.map((id) => queue.enqueue({ jobId: id, position: 1 }, dedupe())));
      await eventually(() => seen.length >= 20);
      await sleep(200);
      expect(seen.map((s) => s.jobId).sort()).toEqual([...ids].sort());
      expect(seen.every((s) => s.delivery === 1)).toBe(true);
    });

    it('makes one entry of the same dedupe id enqueued twice, and a new entry of a new dedupe id for the same job', async ({ queue, consume }) => {
      const seen: Seen[] = [];
      const id = jobId();
      const d = dedupe();
      await queue.enqueue({ jobId: id, position: 1 }, d);
      await queue.enqueue({ jobId: id, position: 1 }, d); // a retried effect
      await queue.enqueue({ jobId: id, position: 2 }, dedupe()); // the job queued again by a later event
      consume(queue, seen);
      await eventually(() => seen.length === 2);
      await sleep(300);
      expect(seen.map((s) => [s.jobId, s.position, s.delivery])).toEqual([
        [id, 1, 1],
        [id, 2, 1],
      ]);
    });

    it('delivers a nak’d item again after the delay asked for, as the next delivery', async ({ queue, consume }) => {
      const seen: Seen[] = [];
      consume(queue, seen, (item) => (item.delivery === 1 ? item.nak(600) : undefined));
      await queue.enqueue({ jobId: jobId(), position: 3 }, dedupe());
      await eventually(() => seen.length === 2, 5_000);
      expect(seen.map((s) => s.delivery)).toEqual([1, 2]);
      expect(seen[1]!.position).toBe(3);
      expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(550);
    });

    it('hands back the item of a handler that throws, after a delay', async ({ queue, consume }) => {
      const seen: Seen[] = [];
      consume(queue, seen, (item) => {
        if (item.delivery === 1) throw new Error('worker broke');
      });
      await queue.enqueue({ jobId: jobId(), position: 1 }, dedupe());
      await eventually(() => seen.length === 1);
      await sleep(ACK_WAIT_MS * 1.5);
      expect(seen).toHaveLength(1); // not at once, and not as a silent item
      await eventually(() => seen.length === 2, FAILED_ITEM_DELAY_MS + 3_000);
      expect(seen[1]!.delivery).toBe(2);
      expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(FAILED_ITEM_DELAY_MS - 100);
    });

    it('delivers again an item whose consumer went silent (no settle, no working) for the ack wait', async ({ queue, consume, held }) => {
      const seen: Seen[] = [];
      // The first delivery's handler never returns: a worker that hung or died holding it.
      consume(queue, seen, (item) => (item.delivery === 1 ? held() : undefined), 2);
      await queue.enqueue({ jobId: jobId(), position: 1 }, dedupe());
      await eventually(() => seen.length === 2, ACK_WAIT_MS * 4);
      expect(seen.map((s) => s.delivery)).toEqual([1, 2]);
      expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(ACK_WAIT_MS - 100);
    });

    it('keeps an item with its consumer while the consumer says it is working', async ({ queue, consume }) => {
      const seen: Seen[] = [];
      consume(
        queue,
        seen,
        async (item) => {
          for (let t = 0; t < ACK_WAIT_MS * 2.5; t += ACK_WAIT_MS / 4) {
            item.working();
            await sleep(ACK_WAIT_MS / 4);
          }
        },
        2,
      );
      await queue.enqueue({ jobId: jobId(), position: 1 }, dedupe());
      await eventually(() => seen.length === 1);
      await sleep(ACK_WAIT_MS * 3.5);
      expect(seen).toHaveLength(1);
    });

    it('never delivers a terminated item again', async ({ queue, consume }) => {
      const seen: Seen[] = [];
      consume(queue, seen, (item) => item.term('cannot be done'), 2);
      await queue.enqueue({ jobId: jobId(), position: 1 }, dedupe());
      await eventually(() => seen.length === 1);
      await sleep(ACK_WAIT_MS * 2);
      expect(seen).toHaveLength(1);
    });

    it('delivers an entry at most maxDeliver times', async ({ queue, consume }) => {
      const seen: Seen[] = [];
      consume(queue, seen, (item) => item.nak(50));
      await queue.enqueue({ jobId: jobId(), position: 1 }, dedupe());
      await eventually(() => seen.length === MAX_DELIVER);
      await sleep(ACK_WAIT_MS * 1.5);
      expect(seen.map((s) => s.delivery)).toEqual(Array.from({ length: MAX_DELIVER }, (_, i) => i + 1));
    });

    it('keeps the first settlement of an item: an ack then a nak is an ack', async ({ queue, consume }) => {
      const seen: Seen[] = [];
      consume(queue, seen, (item) => {
        item.ack();
        item.nak(0);
        item.term();
        item.working();
      });
      await queue.enqueue({ jobId: jobId(), position: 1 }, dedupe());
      await eventually(() => seen.length === 1);
      await sleep(ACK_WAIT_MS * 2);
      expect(seen).toHaveLength(1);
    });

    it('stop waits for the handlers under way; later entries go to another consumer', async ({ queue, consume }) => {
      const a: Seen[] = [];
      const b: Seen[] = [];
      let finished = false;
      const stopA = consume(queue, a, async () => {
        await sleep(400);
        finished = true;
      });
      await queue.enqueue({ jobId: jobId(), position: 1 }, dedupe());
      await eventually(() => a.length === 1);
      await stopA();
      expect(finished).toBe(true);
      await queue.enqueue({ jobId: jobId(), position: 1 }, dedupe());
      consume(queue, b);
      await eventually(() => b.length === 1);
      await sleep(300);
      expect(a).toHaveLength(1);
      expect(b[0]!.delivery).toBe(1);
    });

    it('keeps a waiting entry over close and reopen exactly when it says it is durable', async ({ queue, open, consume }) => {
      const id = jobId();
      await queue.enqueue({ jobId: id, position: 4 }, dedupe());
      await queue.close();
      const again = await open();
      expect(again.durable).toBe(queue.durable);
      const seen: Seen[] = [];
      consume(again, seen);
      if (again.durable) {
        await eventually(() => seen.length === 1);
        expect(seen[0]).toMatchObject({ jobId: id, position: 4, delivery: 1 });
      } else {
        await sleep(500);
        expect(seen).toEqual([]);
      }
    });

    it('close is safe to call twice, ends consumers, and refuses enqueues after it', async ({ queue, consume }) => {
      const seen: Seen[] = [];
      consume(queue, seen);
      await Promise.all([queue.close(), queue.close()]);
      await queue.close();
      await expect(queue.enqueue({ jobId: jobId(), position: 1 }, dedupe())).rejects.toThrow();
    });
  });
}
