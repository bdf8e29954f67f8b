// Cookie sessions and CSRF checks over the in-memory store, with a fake clock, and the
// WebSessionStore contract run on that store. (The cookie's flags on the wire are checked through
// the web app itself: install-server.test.ts.)
import { describe, expect, it } from 'vitest';
import { Role } from '../store';
import { CsrfError, NotSignedInError } from './errors';
import { MemoryWebSessions } from './memory-web-sessions';
import { webSessionStoreContract } from './test-web-session-store';
import { WebSessions } from './web-sessions';

const principal = { tokenId: 't1', role: Role.Operator, description: 'test', scope: '' };

webSessionStoreContract('MemoryWebSessions', () => new MemoryWebSessions());

describe('WebSessions', () => {
  it('finds a session by its cookie until it expires, and never by a guessed id', async () => {
    let now = 1000;
    const store = new MemoryWebSessions();
    const sessions = new WebSessions(store, { ttlMs: 60_000, now: () => now });
    const { id, session } = await sessions.create(principal);
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await sessions.find(id)).toBe(session);
    expect(await sessions.find(`${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
    expect(await sessions.find(undefined)).toBeUndefined();
    now += 60_000;
    await expect(sessions.require(id)).rejects.toThrow(NotSignedInError);
    expect(store.size).toBe(0);
  });

  it('keeps no cookie value in the store, only its hash', async () => {
    const store = new MemoryWebSessions();
    const sessions = new WebSessions(store);
    const { id } = await sessions.create(principal);
    expect(await store.get(id, Date.now())).toBeUndefined();
    expect(store.size).toBe(1);
  });

  it('checks the CSRF token exactly', async () => {
    const sessions = new WebSessions(new MemoryWebSessions());
    const { session } = await sessions.create(principal);
    expect(() => sessions.checkCsrf(session, session.csrf)).not.toThrow();
    for (const bad of [undefined, '', session.csrf.slice(1), `${session.csrf}x`, ['x']]) expect(() => sessions.checkCsrf(session, bad)).toThrow(CsrfError);
  });

  it('signs out one browser, or every browser of a token', async () => {
    const sessions = new WebSessions(new MemoryWebSessions());
    const a = await sessions.create(principal);
    const b = await sessions.create(principal);
    const c = await sessions.create({ ...principal, tokenId: 't2' });
    await sessions.delete(a.id);
    expect(await sessions.find(a.id)).toBeUndefined();
    expect(await sessions.find(b.id)).toBeDefined();
    await sessions.deleteForToken('t1');
    expect(await sessions.find(b.id)).toBeUndefined();
    expect(await sessions.find(c.id)).toBeDefined();
  });

  it('sweeps expired sessions out of the store', async () => {
    let now = 0;
    const store = new MemoryWebSessions();
    const sessions = new WebSessions(store, { ttlMs: 1000, now: () => now });
    await sessions.create(principal);
    now = 500;
    const live = await sessions.create(principal);
    now = 1000;
    await sessions.sweep();
    expect(store.size).toBe(1);
    expect(await sessions.find(live.id)).toBe(live.session);
  });
});
