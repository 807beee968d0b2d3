import { z } from 'zod';

/**
 * The one rule for ids that end up in stream names, NATS subjects and file
 * names (room / connection ids, recording, participant and job ids):
 * 1-128 characters of `A-Z a-z 0-9 . _ -`.
 */
export const ID_CHARS = 'A-Za-z0-9._-';
export const ID_MAX_LENGTH = 128;
export const ID_PATTERN = new RegExp(`^[${ID_CHARS}]{1,${ID_MAX_LENGTH}}$`);
export const ID_MESSAGE = `must be 1-${ID_MAX_LENGTH} characters of A-Z a-z 0-9 . _ -`;

export const isId = (v: unknown): boolean => typeof v === 'string' && ID_PATTERN.test(v);

export const idSchema = z.string().regex(ID_PATTERN, ID_MESSAGE);

/** Replaces every character the id rule does not allow with `_` (for names built from config values). */
export const toIdChars = (raw: string) => raw.replace(new RegExp(`[^${ID_CHARS}]`, 'g'), '_');
