import { describe, expect, it } from 'vitest';
import { MalformedJoinTokenError } from './errors';
import { formatApiToken, formatJoinToken, hashSecret, newTokenSecret, parseApiToken, parseJoinToken, secretMatches } from './join-token';

describe('join tokens', () => {
  it('round-trip and carry the CA hash', () => {
    const { id, secret } = newTokenSecret();
    const caHash = 'ab'.repeat(32);
    const text = formatJoinToken({ id, secret, caHash });
    expect(text).toMatch(/^fj1_/);
    expect(parseJoinToken(` ${text}\n`)).toEqual({ id, secret, caHash });
  });
  it('refuse anything else', () => {
    for (const bad of ['', 'fj1_', 'fa1_0123456789ab_' + '0'.repeat(40), `fj1_${'g'.repeat(12)}_${'0'.repeat(40)}_${'0'.repeat(64)}`]) {
      expect(() => parseJoinToken(bad), bad).toThrow(MalformedJoinTokenError);
    }
  });
});

describe('api tokens and secrets', () => {
  it('parse, and match only their own hash', () => {
    const { id, secret } = newTokenSecret();
    expect(parseApiToken(formatApiToken(id, secret))).toEqual({ id, secret });
    expect(parseApiToken('Bearer nope')).toBeNull();
    expect(secretMatches(secret, hashSecret(secret))).toBe(true);
    expect(secretMatches(secret + '0', hashSecret(secret))).toBe(false);
    expect(secretMatches(secret, 'short')).toBe(false);
  });
});
