import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { roomStream } from '../../../events/streams.js';
import { createEmbeddedLog } from '../../../src/log/embedded.js';
import { createRuntime, type AppliedDomainEvent } from '../../../src/runtime/runtime.js';

const dir = mkdtempSync(join(tmpdir(), 'mr-runtime-types-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The @ts-expect-error lines are checked by `npx tsc --noEmit`: each must stay an error.
describe('the runtime API is typed by event type and stream kind', () => {
  it('dispatch takes the data of its event type; get and list answer the snapshot of the stream kind', async () => {
    const log = await createEmbeddedLog({ file: join(dir, 'events.jsonl'), fsync: false });
    const rt = createRuntime({ log, logger: pino({ level: 'silent' }) });
    const seen: AppliedDomainEvent[] = [];
    rt.onEvent((a) => seen.push(a));

    const joined = await rt.dispatch({ stream: roomStream('r'), type: 'room.member.joined', data: { participantId: 'h', name: null, nodeId: 'n' } });
    if (!joined.accepted) throw new Error(joined.message);
    const hostRole: 'host' | 'participant' | undefined = joined.snapshot.context.members.h?.role; // RoomContext, no cast
    expect(hostRole).toBe('host');

    // @ts-expect-error room.member.joined has no `sdp`, and needs participantId/name/nodeId
    const wrong = await rt.dispatch({ stream: roomStream('r'), type: 'room.member.joined', data: { sdp: 'v=0' } });
    expect(wrong).toMatchObject({ accepted: false, reason: 'invalid' });

    // A type known only as a string (read off the wire) is accepted by the compiler and checked at run time.
    const fromWire: string = 'room.nonsense';
    expect(await rt.dispatch({ stream: 'room:r', type: fromWire, data: {} })).toMatchObject({ accepted: false, reason: 'invalid' });

    const room = rt.get(roomStream('r'));
    const value: 'absent' | 'open' | 'closed' | undefined = room?.value;
    expect(value).toBe('open');
    // @ts-expect-error a room's context has no recordingId
    expect(room?.context.recordingId).toBeUndefined();
    expect(rt.list('room').map((a) => a.snapshot.context.hostId)).toEqual(['h']);

    const applied = seen[0]!;
    if (applied.type === 'room.member.joined') expect(applied.event.data.participantId + applied.after.context.roomId).toBe('hr');
    await rt.close();
    await log.close();
  });
});
