import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CheckpointMismatchError, ConcurrencyError, type EventLog, type LoggedEvent, type ReadOptions } from '../../../src/log/types.js';
import { InvalidEventError } from '../../../src/log/validate.js';
import { ev } from '../../helpers/events.js';
import { eventually } from '../../helpers/wait.js';
import { readAll } from './read-all.js';

/** One empty store (a file, a JetStream stream) that instances of a log open. */
export interface LogFixture {
  /** Opens an instance on the store; again after close() it is a restart. */
  open(): Promise<EventLog>;
  /** Stores a record that bypasses append, with every instance closed (a foreign or corrupt writer). */
  injectRaw(stream: string, text: string): Promise<void>;
  cleanup(): Promise<void>;
}

export interface LogHarness {
  fresh(): Promise<LogFixture>;
  /** Several instances (processes) may have the store open at once. */
  sharedStore: boolean;
}

/** The behaviour every EventLog implementation must show. */
export function eventLogContract(name: string, harness: LogHarness): void {
  describe(`EventLog contract: ${name}`, () => {
    let fixture: LogFixture;
    let opened: EventLog[];
    let log: EventLog;
    const open = async () => {
      const l = await fixture.open();
      opened.push(l);
      return l;
    };

    beforeEach(async () => {
      fixture = await harness.fresh();
      opened = [];
      log = await open();
    });
    afterEach(async () => {
      for (const l of opened) await l.close();
      await fixture.cleanup();
    });

    it('assigns positions in order, per stream', async () => {
      const first = await log.append('room:a', [ev('room:a'), ev('room:a'), ev('room:a')]);
      expect(first.map((e) => e.position)).toEqual([1, 2, 3]);
      const next = await log.append('room:a', [ev('room:a'), ev('room:a')]);
      expect(next.map((e) => e.position)).toEqual([4, 5]);
      expect(await log.append('room:b', [ev('room:b')])).toMatchObject([{ position: 1 }]);
      expect(await log.position('room:a')).toBe(5);
      expect(await log.position('room:b')).toBe(1);
      expect(await log.position('room:none')).toBe(0);
    });

    it('keeps per-stream call order under concurrent appends to many streams', async () => {
      const streams = Array.from({ length: 20 }, (_, i) => `peer:p.${i}`);
      const sent = new Map(streams.map((s) => [s, Array.from({ length: 15 }, () => ev(s))]));
      const results = await Promise.all(
        [...sent].flatMap(([s, events]) => events.map((e) => log.append(s, [e]))),
      );
      expect(results.flat()).toHaveLength(300);
      const all = await readAll(log);
      expect(all).toHaveLength(300);
      const seqs = all.map((e) => e.seq);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
      expect(new Set(seqs).size).toBe(300);
      for (const [s, events] of sent) {
        const read = all.filter((e) => e.event.stream === s).map((e) => e.event);
        expect(read.map((e) => e.id)).toEqual(events.map((e) => e.id));
        expect(read.map((e) => e.position)).toEqual(events.map((_, i) => i + 1));
      }
    });

    it('refuses a stale expectedPosition with ConcurrencyError and writes nothing', async () => {
      await log.append('recording:r1', [ev('recording:r1')], { expectedPosition: 0 });
      await log.append('recording:r1', [ev('recording:r1')], { expectedPosition: 1 });
      const refused = log.append('recording:r1', [ev('recording:r1'), ev('recording:r1')], { expectedPosition: 1 });
      await expect(refused).rejects.toBeInstanceOf(ConcurrencyError);
      await expect(refused).rejects.toMatchObject({ stream: 'recording:r1', expected: 1, actual: 2 });
      expect(await log.position('recording:r1')).toBe(2);
      expect(await readAll(log, { stream: 'recording:r1' })).toHaveLength(2);
      expect(await log.append('recording:r1', [ev('recording:r1')], { expectedPosition: 2 })).toMatchObject([{ position: 3 }]);
    });

    it('refuses every later append of a lineage once one of them was refused for concurrency', async () => {
      await log.append('recording:l', [ev('recording:l')], { expectedPosition: 0 });
      const lineage = { broken: false };
      // Decided on position 0 (stale), then one on top of it: both queued before either is answered.
      const first = log.append('recording:l', [ev('recording:l')], { expectedPosition: 0, lineage });
      const second = log.append('recording:l', [ev('recording:l')], { expectedPosition: 1, lineage });
      await expect(first).rejects.toBeInstanceOf(ConcurrencyError);
      // Position 1 is there (the first writer's), but what the second was decided on never happened.
      await expect(second).rejects.toBeInstanceOf(ConcurrencyError);
      expect(lineage.broken).toBe(true);
      expect(await log.position('recording:l')).toBe(1);
      // A decision on the fresh state, in a fresh lineage, passes.
      expect(await log.append('recording:l', [ev('recording:l')], { expectedPosition: 1, lineage: { broken: false } })).toMatchObject([{ position: 2 }]);
    });

    it('lets exactly one of two racing appends that expect the same position win', async () => {
      const race = await Promise.allSettled([
        log.append('room:race', [ev('room:race')], { expectedPosition: 0 }),
        log.append('room:race', [ev('room:race')], { expectedPosition: 0 }),
      ]);
      expect(race.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      expect(race.find((r) => r.status === 'rejected')).toMatchObject({ reason: expect.any(ConcurrencyError) });
      expect(await log.position('room:race')).toBe(1);
    });

    it('drops an event whose id was appended already and returns the stored copy', async () => {
      const e1 = ev('room:d');
      const [stored] = await log.append('room:d', [e1]);
      const again = await log.append('room:d', [{ ...e1, data: { changed: true } }]);
      expect(again).toEqual([stored]);
      // A retry of a fully stored append is answered even though its expectation is now stale.
      expect(await log.append('room:d', [e1], { expectedPosition: 0 })).toEqual([stored]);
      // Mixed: the stored one comes back, the new one is written after it.
      const e2 = ev('room:d');
      const mixed = await log.append('room:d', [e1, e2], { expectedPosition: 1 });
      expect(mixed).toMatchObject([{ id: e1.id, position: 1 }, { id: e2.id, position: 2 }]);
      expect(await log.position('room:d')).toBe(2);
      expect((await readAll(log)).map((e) => e.event.id)).toEqual([e1.id, e2.id]);
    });

    it('filters reads by stream, correlationId and untilSeq', async () => {
      await log.append('recording:x', [ev('recording:x', { correlationId: 'rec-x' })]);
      await log.append('peer:x1', [ev('peer:x1', { correlationId: 'rec-x' }), ev('peer:x1', { correlationId: 'rec-x' })]);
      await log.append('recording:y', [ev('recording:y', { correlationId: 'rec-y' })]);
      await log.append('room:r', [ev('room:r')]);
      await log.append('peer:x1', [ev('peer:x1', { correlationId: 'rec-x' })]);

      const all = await readAll(log);
      expect(all.map((e) => e.event.stream)).toEqual(['recording:x', 'peer:x1', 'peer:x1', 'recording:y', 'room:r', 'peer:x1']);
      const byStream = await readAll(log, { stream: 'peer:x1' });
      expect(byStream.map((e) => e.event.position)).toEqual([1, 2, 3]);
      expect(byStream.map((e) => e.seq)).toEqual([all[1].seq, all[2].seq, all[5].seq]);
      const byRecording = await readAll(log, { correlationId: 'rec-x' });
      expect(byRecording.map((e) => e.seq)).toEqual([all[0].seq, all[1].seq, all[2].seq, all[5].seq]);
      const until = await readAll(log, { untilSeq: all[3].seq });
      expect(until).toEqual(all.slice(0, 4));
      const combined = await readAll(log, { stream: 'peer:x1', correlationId: 'rec-x', untilSeq: all[4].seq });
      expect(combined.map((e) => e.seq)).toEqual([all[1].seq, all[2].seq]);
      expect(await readAll(log, { stream: 'room:empty' })).toEqual([]);
    });

    it('reads one stream of a long log exactly as a full read filtered to it, also after a restart', async () => {
      // The stream's events lie early, in the middle and at the end, more than a thousand others between them.
      const target = 'recording:one';
      for (let round = 0; round < 3; round++) {
        await log.append(target, [ev(target), ev(target)]);
        for (let i = 0; i < 12; i++) await log.append(`peer:other.${round}-${i}`, Array.from({ length: 100 }, () => ev(`peer:other.${round}-${i}`)));
      }
      await log.append(target, [ev(target)]);
      const expected = (await readAll(log)).filter((e) => e.event.stream === target);
      expect(expected.map((e) => e.event.position)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(await readAll(log, { stream: target })).toEqual(expected);
      await log.close();
      log = await open();
      expect(await readAll(log, { stream: target })).toEqual(expected);
      const [next] = await log.append(target, [ev(target)], { expectedPosition: 7 });
      expect((await readAll(log, { stream: target })).map((e) => e.event.id)).toEqual([...expected.map((e) => e.event.id), next.id]);
    });

    it('hands out in batches exactly what read() yields, filters included', async () => {
      // More than one NATS batch (1,024) and more than one stream.
      await Promise.all(
        Array.from({ length: 6 }, (_, s) =>
          (async () => {
            for (let i = 0; i < 50; i++) {
              await log.append(`peer:b${s}`, Array.from({ length: 5 }, () => ev(`peer:b${s}`)));
            }
          })(),
        ),
      );
      const batchesOf = async (options?: ReadOptions) => {
        const batches: LoggedEvent[][] = [];
        for await (const b of log.readBatches(options)) batches.push(b);
        return batches;
      };
      const all = await readAll(log);
      expect(all.length).toBeGreaterThanOrEqual(1500);
      const batches = await batchesOf();
      expect(batches.every((b) => b.length > 0)).toBe(true);
      expect(batches.flat()).toEqual(all);
      expect((await batchesOf({ stream: 'peer:b3' })).flat()).toEqual(await readAll(log, { stream: 'peer:b3' }));
      const until = all[1200].seq;
      expect((await batchesOf({ untilSeq: until })).flat()).toEqual(all.slice(0, 1201));
    });

    it('delivers appends to subscribers, in log order, until unsubscribed', async () => {
      const seen: LoggedEvent[] = [];
      const unsubscribe = log.subscribe((e) => seen.push(e));
      await log.append('room:s', [ev('room:s'), ev('room:s')]);
      await log.append('peer:s1', [ev('peer:s1')]);
      await eventually(() => seen.length === 3);
      expect(seen).toEqual(await readAll(log));
      unsubscribe();
      // A subscriber that stays is the marker: once it has the next event, the one that left would have had it too.
      const after: LoggedEvent[] = [];
      const stay = log.subscribe((e) => after.push(e));
      await log.append('room:s', [ev('room:s')]);
      await eventually(() => after.length === 1);
      stay();
      expect(seen).toHaveLength(3);
    });

    // Registered only where it applies (a store several processes open), so no test shows as skipped.
    if (harness.sharedStore) it('delivers appends made by another instance', async () => {
      const other = await open();
      const seen: LoggedEvent[] = [];
      const unsubscribe = other.subscribe((e) => seen.push(e));
      await log.append('room:o', [ev('room:o'), ev('room:o')]);
      await eventually(() => seen.length === 2);
      expect(seen).toEqual(await readAll(log));
      unsubscribe();
    });

    it('refuses an event failing the schema with a clear error, writing nothing', async () => {
      const bad = log.append('room:v', [ev('room:v'), ev('room:v', { type: 'RoomOpened' })]);
      await expect(bad).rejects.toBeInstanceOf(InvalidEventError);
      await expect(bad).rejects.toThrow(/dot-case/);
      await expect(log.append('room:v', [ev('room:w')])).rejects.toThrow(/belongs to stream room:w/);
      await expect(log.append('room:v', [{ ...ev('room:v'), data: { big: 1n } }])).rejects.toThrow(/JSON/);
      await expect(log.append('bogus', [ev('bogus')])).rejects.toBeInstanceOf(InvalidEventError);
      expect(await log.position('room:v')).toBe(0);
      expect(await readAll(log)).toEqual([]);
    });

    it('reads on from a checkpoint’s event, and refuses one that is not in the log', async () => {
      for (let i = 0; i < 5; i++) await log.append(`room:${i % 2}`, [ev(`room:${i % 2}`)]);
      const all = await readAll(log);
      const at = all[2];
      const rest = await readAll(log, { after: { seq: at.seq, eventId: at.event.id } });
      expect(rest.map((e) => [e.seq, e.event.id])).toEqual(all.slice(3).map((e) => [e.seq, e.event.id]));
      const last = all.at(-1)!;
      expect(await readAll(log, { after: { seq: last.seq, eventId: last.event.id } })).toEqual([]);
      await expect(readAll(log, { after: { seq: at.seq, eventId: 'not-there' } })).rejects.toBeInstanceOf(CheckpointMismatchError);
    });

    it('sees everything again after close and reopen', async () => {
      const e1 = ev('composition:c');
      await log.append('composition:c', [e1, ev('composition:c')]);
      await log.append('room:c', [ev('room:c')]);
      const before = await readAll(log);
      await log.close();
      await log.close(); // safe twice
      await expect(log.append('room:c', [ev('room:c')])).rejects.toThrow(/closed/);

      const reopened = await open();
      expect(await readAll(reopened)).toEqual(before);
      expect(await reopened.position('composition:c')).toBe(2);
      expect(await reopened.append('composition:c', [e1])).toEqual([before[0].event]);
      const [next] = await reopened.append('composition:c', [ev('composition:c')], { expectedPosition: 2 });
      expect(next.position).toBe(3);
    });

    it('skips and reports a stored record that fails the schema', async () => {
      await log.append('room:g', [ev('room:g')]);
      await log.close();
      await fixture.injectRaw('room:g', '{"id":"x","type":"NotDotCase"}');
      await fixture.injectRaw('room:g', 'not json at all');
      const reopened = await open();
      expect(await reopened.append('room:g', [ev('room:g')])).toMatchObject([{ position: 2 }]);
      const problems: string[] = [];
      const events = await readAll(reopened, {}, problems);
      expect(events.map((e) => e.event.position)).toEqual([1, 2]);
      expect(problems).toHaveLength(2);
      expect(problems[0]).toMatch(/dot-case/);
      expect(problems[1]).toMatch(/not JSON/);
    });
  });
}
