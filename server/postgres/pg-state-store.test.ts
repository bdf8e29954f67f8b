// The StateStore contract on a real PostgreSQL, and what several servers writing desired state at
// once rely on: each new revision of a spec gets a number of its own, and two reports of one
// node's checks replace one after the other.
import { describe, expect, it } from 'vitest';
import { revisionInput, stateStoreContract } from '../store/test-state-store';
import { PgStateStore } from './pg-state-store';
import { usePostgres } from './test-databases';

const pg = usePostgres();

stateStoreContract('PgStateStore', async () => new PgStateStore(await pg.empty()));

describe('PgStateStore with several servers', () => {
  it('numbers revisions that two servers add at once one each, none refused', async () => {
    const [a, b] = [new PgStateStore(await pg.empty()), new PgStateStore(await pg.pool())];
    const added = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).addRevision(revisionInput(i % 4 < 2 ? 'web' : 'db', `v${i}`))));
    for (const spec of ['web', 'db']) {
      const numbers = added.filter((r) => r.spec === spec).map((r) => r.revision);
      expect(numbers.sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect((await a.revisions(spec)).map((r) => r.yaml).sort()).toEqual(added.filter((r) => r.spec === spec).map((r) => r.yaml).sort());
    }
  });

  it('replaces a node\'s checks with one report or the other when two servers store them at once', async () => {
    const [a, b] = [new PgStateStore(await pg.empty()), new PgStateStore(await pg.pool())];
    const report = (names: string[]) => names.map((name) => ({ spec: 'web', name, passing: true, output: '', sinceUnixMs: 1, checkedUnixMs: 2 }));
    const nodes = Array.from({ length: 20 }, (_, i) => `n-${i}`);
    await Promise.all(nodes.flatMap((node) => [a.replaceChecks(node, report(['a1', 'a2'])), b.replaceChecks(node, report(['b1']))]));
    for (const node of nodes) expect([['a1', 'a2'], ['b1']]).toContainEqual((await a.checks(node)).map((c) => c.name));
  });
});
