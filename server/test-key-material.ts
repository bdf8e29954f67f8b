// The contract every KeyMaterialStore keeps (key-material.ts), as a test suite a store runs on
// itself: the data directory's files (key-material.test.ts) and PostgreSQL
// (postgres/pg-key-material.test.ts), with the same cases. Several stores on one backing stand for
// replicas sharing it.
import { describe, expect, it } from 'vitest';
import type { KeyMaterialStore } from './key-material';

/** Opens one more store (one more replica) on the backing a test was given. */
export type OpenKeyMaterial = () => Promise<KeyMaterialStore>;

const PEM = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';

/**
 * Runs the KeyMaterialStore contract. `backing` makes a fresh, empty backing per test (a data
 * directory, a database) and resolves to a function that opens a store on it; each call opens
 * another one (its own connections), as another replica would.
 */
export function keyMaterialContract(name: string, backing: () => Promise<OpenKeyMaterial>): void {
  describe(`KeyMaterialStore contract: ${name}`, () => {
    it('has no item before it is created, and replaces nothing that does not exist', async () => {
      const store = await (await backing())();
      expect(await store.get('pki/ca.key')).toBeUndefined();
      expect(await store.replace('pki/ca.key', '', PEM)).toBe(false);
      expect(await store.get('pki/ca.key')).toBeUndefined();
    });

    it('creates an item once and gives back exactly its text, to this replica and the next', async () => {
      const open = await backing();
      const store = await open();
      expect(await store.createIfAbsent('pki/ca.key', () => PEM)).toEqual({ value: PEM, created: true });
      expect(await store.get('pki/ca.key')).toBe(PEM);
      let made = 0;
      const again = await store.createIfAbsent('pki/ca.key', () => `${++made}`);
      expect(again).toEqual({ value: PEM, created: false });
      expect(made).toBe(0);
      const other = await open();
      expect(await other.get('pki/ca.key')).toBe(PEM);
      expect(await other.createIfAbsent('pki/ca.key', async () => 'other')).toEqual({ value: PEM, created: false });
    });

    it('keeps items apart', async () => {
      const store = await (await backing())();
      await store.createIfAbsent('nats/operator.nk', () => 'SOoperator\n');
      await store.createIfAbsent('nats/operator.jwt', () => 'eyJ.operator\n');
      expect(await store.get('nats/operator.nk')).toBe('SOoperator\n');
      expect(await store.get('nats/operator.jwt')).toBe('eyJ.operator\n');
      expect(await store.get('nats/account.nk')).toBeUndefined();
    });

    it('stores one text when replicas create the same item at once, and every one of them gets it', async () => {
      const open = await backing();
      const stores = await Promise.all([1, 2, 3, 4].map(() => open()));
      const results = await Promise.all(stores.map((s, i) => s.createIfAbsent('pki/command-signing.key', async () => `key of replica ${i}\n`)));
      const winner = results[0]!.value;
      expect(winner).toMatch(/^key of replica \d\n$/);
      expect(results.map((r) => r.value)).toEqual([winner, winner, winner, winner]);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(results.find((r) => r.created)!.value).toBe(winner);
      for (const s of stores) expect(await s.get('pki/command-signing.key')).toBe(winner);
    });

    it('replaces an item only while it holds the text expected', async () => {
      const store = await (await backing())();
      await store.createIfAbsent('pki/server.crt', () => 'first\n');
      expect(await store.replace('pki/server.crt', 'not it\n', 'second\n')).toBe(false);
      expect(await store.get('pki/server.crt')).toBe('first\n');
      expect(await store.replace('pki/server.crt', 'first\n', 'second\n')).toBe(true);
      expect(await store.get('pki/server.crt')).toBe('second\n');
      expect(await store.replace('pki/server.crt', 'first\n', 'third\n')).toBe(false);
      expect(await store.get('pki/server.crt')).toBe('second\n');
    });

    it('lets exactly one of several replicas replacing the same text at once win', async () => {
      const open = await backing();
      const stores = await Promise.all([1, 2, 3, 4].map(() => open()));
      let current = (await stores[0]!.createIfAbsent('pki/server.crt', () => 'round 0\n')).value;
      for (let round = 1; round <= 5; round++) {
        const texts = stores.map((_, i) => `round ${round} by replica ${i}\n`);
        const won = await Promise.all(stores.map((s, i) => s.replace('pki/server.crt', current, texts[i]!)));
        expect(won.filter(Boolean)).toHaveLength(1);
        current = texts[won.indexOf(true)]!;
        for (const s of stores) expect(await s.get('pki/server.crt')).toBe(current);
      }
    });
  });
}
