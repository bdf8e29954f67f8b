// The contract every TokenStore keeps (token-store.ts), as a test suite a store runs on itself: the
// SQLite one (token-store.test.ts) and the PostgreSQL one (server/postgres/pg-token-store.test.ts).
// The cases are what enrollment, PXE machines, API sign-in and the tokens service rely on,
// including two servers counting the uses of one join token at once.
import { describe, expect, it } from 'vitest';
import { Role, type ApiTokenRecord, type JoinTokenRecord, type TokenStore } from './token-store';

function joinToken(id: string, over: Partial<JoinTokenRecord> = {}): JoinTokenRecord {
  return { id, secretHash: `hash-${id}`, description: '', labels: {}, createdAt: 100, createdBy: 'api:admin', expiresAt: 1_900_000_000_000, maxUses: 1, used: 0, revokedAt: null, ...over };
}

function apiToken(id: string, over: Partial<ApiTokenRecord> = {}): ApiTokenRecord {
  return { id, secretHash: `hash-${id}`, role: Role.Viewer, description: '', scope: '', createdAt: 100, revokedAt: null, ...over };
}

/**
 * Runs the TokenStore contract against stores made by `make`: `make()` gives one store on a fresh,
 * empty database, `make(2)` two stores on one fresh database, as two servers sharing it.
 */
export function tokenStoreContract(name: string, make: (servers?: number) => Promise<TokenStore[]>): void {
  describe(`TokenStore contract: ${name}`, () => {
    const one = async () => (await make())[0]!;
    const used = async (tokens: TokenStore, id: string) => (await tokens.getJoin(id))!.used;

    it('keeps a join token as inserted, with its labels and the machine it is bound to', async () => {
      const tokens = await one();
      const bound = joinToken('j-1', { description: 'rack 4', labels: { role: 'web', site: 'ams' }, createdAt: 1_700_000_000_000, maxUses: 5, used: 2, machineId: 'm-1' });
      const { machineId: _, ...unbound } = joinToken('j-2', { revokedAt: 1_700_000_000_001 });
      await tokens.insertJoin(bound);
      await tokens.insertJoin(unbound);
      expect(await tokens.getJoin('j-1')).toEqual(bound);
      expect(await tokens.getJoin('j-2')).toEqual({ ...unbound, machineId: null });
      expect(await tokens.getJoin('j-3')).toBeUndefined();
      await expect(tokens.insertJoin(joinToken('j-1'))).rejects.toThrow();
    });

    it('lists join tokens newest first, then by id, revoked and used-up ones included', async () => {
      const tokens = await one();
      expect(await tokens.listJoin()).toEqual([]);
      await tokens.insertJoin(joinToken('b', { createdAt: 100 }));
      await tokens.insertJoin(joinToken('a', { createdAt: 100, revokedAt: 150 }));
      await tokens.insertJoin(joinToken('c', { createdAt: 200, used: 1 }));
      await tokens.insertJoin(joinToken('d', { createdAt: 50 }));
      expect((await tokens.listJoin()).map((t) => t.id)).toEqual(['c', 'a', 'b', 'd']);
    });

    it('counts uses up to the most allowed, and gives uses back down to none', async () => {
      const tokens = await one();
      await tokens.insertJoin(joinToken('j-1', { maxUses: 2 }));
      expect(await tokens.consumeJoin('j-1')).toBe(true);
      expect(await tokens.consumeJoin('j-1')).toBe(true);
      expect(await tokens.consumeJoin('j-1')).toBe(false);
      expect(await used(tokens, 'j-1')).toBe(2);
      await tokens.releaseJoin('j-1');
      expect(await used(tokens, 'j-1')).toBe(1);
      expect(await tokens.consumeJoin('j-1')).toBe(true);
      for (let i = 0; i < 3; i++) await tokens.releaseJoin('j-1');
      expect(await used(tokens, 'j-1')).toBe(0);
      expect(await tokens.consumeJoin('j-unknown')).toBe(false);
      await tokens.releaseJoin('j-unknown');
      expect(await tokens.getJoin('j-unknown')).toBeUndefined();
    });

    it('never counts more uses than allowed, however many servers count at once', async () => {
      const [a, b] = (await make(2)) as [TokenStore, TokenStore];
      await a.insertJoin(joinToken('j-1', { maxUses: 7 }));
      const counted = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).consumeJoin('j-1')));
      expect(counted.filter(Boolean)).toHaveLength(7);
      expect(await used(b, 'j-1')).toBe(7);
      // Uses given back at once, more than were counted, leave none counted and none below zero.
      await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).releaseJoin('j-1')));
      expect(await used(a, 'j-1')).toBe(0);
      expect(await b.consumeJoin('j-1')).toBe(true);
      expect(await used(a, 'j-1')).toBe(1);
    });

    it('revokes a join token once, keeping when it was first revoked', async () => {
      const tokens = await one();
      await tokens.insertJoin(joinToken('j-1'));
      await tokens.insertJoin(joinToken('j-2'));
      await tokens.revokeJoin('j-1', 10);
      await tokens.revokeJoin('j-1', 20);
      await tokens.revokeJoin('j-unknown', 30);
      expect((await tokens.getJoin('j-1'))!.revokedAt).toBe(10);
      expect((await tokens.getJoin('j-2'))!.revokedAt).toBeNull();
      expect(await tokens.listJoin()).toHaveLength(2);
    });

    it("revokes a machine's tokens that can still be used, and no others", async () => {
      const tokens = await one();
      await tokens.insertJoin(joinToken('unused', { machineId: 'm-1' }));
      await tokens.insertJoin(joinToken('partly-used', { machineId: 'm-1', maxUses: 3, used: 1 }));
      await tokens.insertJoin(joinToken('used-up', { machineId: 'm-1', used: 1 }));
      await tokens.insertJoin(joinToken('revoked', { machineId: 'm-1', revokedAt: 5 }));
      await tokens.insertJoin(joinToken('other-machine', { machineId: 'm-2' }));
      await tokens.insertJoin(joinToken('no-machine'));
      await tokens.revokeMachineTokens('m-1', 100);
      const revoked = Object.fromEntries((await tokens.listJoin()).map((t) => [t.id, t.revokedAt]));
      expect(revoked).toEqual({ unused: 100, 'partly-used': 100, 'used-up': null, revoked: 5, 'other-machine': null, 'no-machine': null });
    });

    it('keeps API tokens with their role and scope', async () => {
      const tokens = await one();
      const admin = apiToken('a-1', { role: Role.Admin, description: 'first admin' });
      const scoped = apiToken('a-2', { role: Role.Operator, scope: 'env=prod,role!=db', createdAt: 1_700_000_000_000 });
      await tokens.insertApi(admin);
      await tokens.insertApi(scoped);
      expect(await tokens.getApi('a-1')).toEqual(admin);
      expect(await tokens.getApi('a-2')).toEqual(scoped);
      expect(await tokens.getApi('a-3')).toBeUndefined();
      await expect(tokens.insertApi(apiToken('a-1'))).rejects.toThrow();
    });

    it('lists API tokens newest first, then by id, revoked ones included', async () => {
      const tokens = await one();
      expect((await tokens.listApi()).length).toBe(0);
      expect(await tokens.listApi()).toEqual([]);
      await tokens.insertApi(apiToken('b', { createdAt: 100 }));
      await tokens.insertApi(apiToken('a', { createdAt: 100, revokedAt: 150 }));
      await tokens.insertApi(apiToken('c', { createdAt: 200 }));
      await tokens.insertApi(apiToken('d', { createdAt: 50 }));
      expect((await tokens.listApi()).map((t) => t.id)).toEqual(['c', 'a', 'b', 'd']);
      expect((await tokens.listApi()).length).toBe(4);
    });

    it('revokes an API token once, keeping when', async () => {
      const tokens = await one();
      await tokens.insertApi(apiToken('a-1'));
      expect(await tokens.revokeApi('a-1', 10)).toBe(true);
      expect(await tokens.revokeApi('a-1', 20)).toBe(false);
      expect(await tokens.revokeApi('a-unknown', 30)).toBe(false);
      expect((await tokens.getApi('a-1'))!.revokedAt).toBe(10);
      expect((await tokens.listApi()).length).toBe(1);
    });

    it('inserts the first admin only into an empty table, once however many servers start at once', async () => {
      const [a, b] = (await make(2)) as [TokenStore, TokenStore];
      const firsts = await Promise.all(['f-1', 'f-2', 'f-3', 'f-4'].map((id, i) => (i % 2 ? b : a).insertFirstApi(apiToken(id, { role: Role.Admin }))));
      expect(firsts.filter(Boolean)).toHaveLength(1);
      expect((await a.listApi()).length).toBe(1);
      expect(await b.insertFirstApi(apiToken('f-5'))).toBe(false);
    });

    it('revokes an API token once when two servers revoke it at once', async () => {
      const [a, b] = (await make(2)) as [TokenStore, TokenStore];
      await a.insertApi(apiToken('a-1'));
      const revoked = await Promise.all([a.revokeApi('a-1', 10), b.revokeApi('a-1', 10), a.revokeApi('a-1', 10), b.revokeApi('a-1', 10)]);
      expect(revoked.filter(Boolean)).toHaveLength(1);
      expect((await b.getApi('a-1'))!.revokedAt).toBe(10);
    });
  });
}
