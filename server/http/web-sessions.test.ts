// Cookie sessions, CSRF checks and the sign-in limiter, with a fake clock. (The cookie's flags on
// the wire are checked through the web app itself: install-server.test.ts.)
import { describe, expect, it } from 'vitest';
import { SignInLimiter } from '../sign-in-limiter';
import { Role } from '../store';
import { CsrfError, NotSignedInError, TooManySignInsError } from './errors';
import { WebSessions } from './web-sessions';

const principal = { tokenId: 't1', role: Role.Operator, description: 'test', scope: '' };

describe('WebSessions', () => {
  it('finds a session by its cookie until it expires, and never by a guessed id', () => {
    let now = 1000;
    const sessions = new WebSessions({ ttlMs: 60_000, now: () => now });
    const { id, session } = sessions.create(principal);
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sessions.find(id)).toBe(session);
    expect(sessions.find(`${id.slice(0, -1)}A`)).toBeUndefined();
    expect(sessions.find(undefined)).toBeUndefined();
    now += 60_000;
    expect(() => sessions.require(id)).toThrow(NotSignedInError);
    expect(sessions.size).toBe(0);
  });

  it('checks the CSRF token exactly', () => {
    const sessions = new WebSessions();
    const { session } = sessions.create(principal);
    expect(() => sessions.checkCsrf(session, session.csrf)).not.toThrow();
    for (const bad of [undefined, '', session.csrf.slice(1), `${session.csrf}x`, ['x']]) expect(() => sessions.checkCsrf(session, bad)).toThrow(CsrfError);
  });

  it('signs out one browser, or every browser of a token', () => {
    const sessions = new WebSessions();
    const a = sessions.create(principal);
    const b = sessions.create(principal);
    const c = sessions.create({ ...principal, tokenId: 't2' });
    sessions.delete(a.id);
    expect(sessions.find(a.id)).toBeUndefined();
    expect(sessions.find(b.id)).toBeDefined();
    sessions.deleteForToken('t1');
    expect(sessions.find(b.id)).toBeUndefined();
    expect(sessions.find(c.id)).toBeDefined();
  });
});

describe('SignInLimiter', () => {
  it('holds an address back after five failures in a minute, until the oldest ages out', () => {
    let now = 0;
    const limiter = new SignInLimiter({ max: 5, windowMs: 60_000, now: () => now });
    for (let i = 0; i < 5; i++) {
      limiter.failed('10.0.0.1');
      now += 1000;
    }
    const heldBack = (address: string) => {
      try {
        limiter.failed(address);
      } catch (err) {
        return err;
      }
      return null;
    };
    const refused = heldBack('10.0.0.1');
    expect(refused).toBeInstanceOf(TooManySignInsError);
    expect((refused as TooManySignInsError).retryAfterSeconds).toBe(55);
    // Held-back failures are not counted: the address is free once its counted ones age out.
    expect(heldBack('10.0.0.1')).toBeInstanceOf(TooManySignInsError);
    expect(heldBack('10.0.0.2')).toBeNull();
    now = 60_001;
    expect(heldBack('10.0.0.1')).toBeNull();
  });
});
