/**
 * The one rule for a member's name (issue 16): the access token's name, then
 * host-userInfo's, then connect's `name`; a name plate without any of them
 * says "Host" or "Participant N" (N counts participants in order of joining,
 * from 1). Never an id. Pure; used by the room machine and the composer.
 */
export interface NameSources {
  token?: string | null;
  userInfo?: string | null;
  connect?: string | null;
}

const usable = (s: string | null | undefined): s is string => typeof s === 'string' && s.trim() !== '';

/** The member's display name, or null when no source gave a usable one. */
export function memberDisplayName(s: NameSources): string | null {
  return [s.token, s.userInfo, s.connect].find(usable) ?? null;
}

/** What a name plate says. `ordinal`: the participant's place among participants (not the host), from 1. */
export function plateName(s: NameSources, who: { role: 'host' | 'participant'; ordinal: number }): string {
  return memberDisplayName(s) ?? (who.role === 'host' ? 'Host' : `Participant ${who.ordinal}`);
}
