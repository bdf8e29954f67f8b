// The contract every WebSessionStore keeps (web-sessions.ts), as a test suite a store runs on
// itself: the in-memory one here (web-sessions.test.ts), a shared one later with the same cases.
import { describe, expect, it } from 'vitest';
import { Role } from '../store';
import type { WebSession, WebSessionStore } from './web-sessions';

const session = (tokenId: string, expiresAt: number): WebSession => ({
  principal: { tokenId, role: Role.Operator, description: 'test', scope: '' },
  csrf: `csrf-${tokenId}-${expiresAt}`,
  createdAt: 0,
  expiresAt,
});

/** Runs the WebSessionStore contract against stores made by `make` (a fresh, empty one per test). */
export function webSessionStoreContract(name: string, make: () => WebSessionStore | Promise<WebSessionStore>): void {
  describe(`WebSessionStore contract: ${name}`, () => {
    it('gives a session back by its key until it expires, then never again', async () => {
      const store = await make();
      const s = session('t1', 2000);
      await store.create('k1', s);
      expect(await store.get('k1', 1000)).toEqual(s);
      expect(await store.get('k2', 1000)).toBeUndefined();
      expect(await store.get('k1', 2000)).toBeUndefined();
      // Gone, not merely hidden: a clock turned back does not bring it back.
      expect(await store.get('k1', 1000)).toBeUndefined();
    });

    it('forgets one session, or every session of a token', async () => {
      const store = await make();
      await store.create('a', session('t1', 9000));
      await store.create('b', session('t1', 9000));
      await store.create('c', session('t2', 9000));
      await store.delete('a');
      await store.delete('never-there');
      expect(await store.get('a', 0)).toBeUndefined();
      expect(await store.get('b', 0)).toBeDefined();
      await store.deleteForToken('t1');
      expect(await store.get('b', 0)).toBeUndefined();
      expect(await store.get('c', 0)).toMatchObject({ principal: { tokenId: 't2' } });
    });

    it('drops the expired sessions and keeps the live ones', async () => {
      const store = await make();
      await store.create('old-1', session('t1', 100));
      await store.create('old-2', session('t2', 200));
      await store.create('live', session('t3', 5000));
      expect(await store.expire(200)).toBe(2);
      expect(await store.expire(200)).toBe(0);
      expect(await store.get('live', 200)).toMatchObject({ principal: { tokenId: 't3' } });
    });
  });
}
