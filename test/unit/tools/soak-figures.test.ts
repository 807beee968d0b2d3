import { describe, expect, it } from 'vitest';
import { parseActors } from '../../../tools/lib/soak-figures.js';

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
