import { describe, expect, it } from 'vitest';
import { parseActors, parseReport } from '../../../tools/lib/soak-figures.js';

describe('the soak reads the runtime actors off GET /metrics', () => {
  it('counts live actors by kind, the kept and the finishing ones', () => {
    const text = [
      '# HELP mr_runtime_actors Actors in memory',
      '# TYPE mr_runtime_actors gauge',
      'mr_runtime_actors{kind="room"} 2',
      'mr_runtime_actors{kind="recording"} 3',
      'mr_runtime_actors{kind="peer"} 6',
      'mr_runtime_actors{kind="composition"} 1',
      'mr_runtime_actors{kind="kept"} 40',
      'mr_runtime_actors{kind="finishing"} 4',
      'mr_rooms_live 2',
    ].join('\n');
    expect(parseActors(text)).toEqual({ live: 12, byKind: { room: 2, recording: 3, peer: 6, composition: 1 }, kept: 40, finishing: 4 });
  });

  it('says so when the gauge is absent', () => {
    expect(parseActors('mr_rooms_live 2\n')).toBeNull();
  });
});

describe('the soak reads heap spaces off a diagnostic report', () => {
  it('keeps the young generation apart from what survives, and the native memory beside them', () => {
    const MB = 1024 * 1024;
    const report = JSON.stringify({
      javascriptHeap: {
        usedMemory: 60 * MB,
        totalMemory: 150 * MB,
        externalMemory: 12 * MB,
        mallocedMemory: 2 * MB,
        heapSpaces: { new_space: { memorySize: 128 * MB, committedMemory: 96 * MB, used: 30 * MB }, old_space: { used: 25 * MB } },
      },
      libuv: [{ type: 'timer', is_active: true }, { type: 'udp', is_active: false }],
    });
    expect(parseReport(report)).toEqual({
      heap: { usedMb: 60, totalMb: 150, newSpaceMb: 96, oldSpaceUsedMb: 25, externalMb: 12, mallocedMb: 2 },
      handles: { timer: 1 },
    });
  });
});
