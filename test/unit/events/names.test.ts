import { describe, expect, it } from 'vitest';
import { memberDisplayName, plateName } from '../../../events/names.js';

describe('the name rule (events/names.ts)', () => {
  it("takes the token's name, then host-userInfo's, then connect's", () => {
    expect(memberDisplayName({ token: 'Tok', userInfo: 'Info', connect: 'Conn' })).toBe('Tok');
    expect(memberDisplayName({ token: null, userInfo: 'Info', connect: 'Conn' })).toBe('Info');
    expect(memberDisplayName({ userInfo: '', connect: 'Conn' })).toBe('Conn');
    expect(memberDisplayName({ token: '   ', connect: 'Conn' })).toBe('Conn');
    expect(memberDisplayName({})).toBeNull();
  });

  it('falls back to Host or Participant N, never an id', () => {
    expect(plateName({ connect: 'Ann' }, { role: 'participant', ordinal: 3 })).toBe('Ann');
    expect(plateName({}, { role: 'host', ordinal: 0 })).toBe('Host');
    expect(plateName({ connect: ' ' }, { role: 'participant', ordinal: 2 })).toBe('Participant 2');
  });
});
