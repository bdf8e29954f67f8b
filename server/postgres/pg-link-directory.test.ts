// The agent-link directory on a real PostgreSQL: which replica holds each link, a move to another
// replica, a drop by a replica that no longer holds the link, and the links of a replica that
// stopped beating counted as gone.
import { describe, expect, it } from 'vitest';
import { PgLinkDirectory } from './pg-link-directory';
import { usePostgres } from './test-databases';

const pg = usePostgres();

describe('PgLinkDirectory', () => {
  it('records which replica holds each link; a drop by a replica that lost the link to another changes nothing', async () => {
    const [p1, p2] = await pg.replicas(2);
    const r1 = new PgLinkDirectory(p1!);
    const r2 = new PgLinkDirectory(p2!);
    expect((await r1.beat('r1', 10_000)).sort()).toEqual(['r1']);
    expect((await r2.beat('r2', 10_000)).sort()).toEqual(['r1', 'r2']);
    await r1.hold('n-1', 'r1');
    await r1.hold('n-2', 'r1');
    // n-2's agent reconnects to r2 before r1 notices its old link has dropped.
    await r2.hold('n-2', 'r2');
    await r1.release('n-2', 'r1');
    expect((await r1.links(10_000)).sort((x, y) => x.nodeId.localeCompare(y.nodeId))).toEqual([
      { nodeId: 'n-1', replica: 'r1' },
      { nodeId: 'n-2', replica: 'r2' },
    ]);
    await r2.releaseAll('r2');
    expect(await r1.links(10_000)).toEqual([{ nodeId: 'n-1', replica: 'r1' }]);
    expect(await r1.beat('r1', 10_000)).toEqual(['r1']);
  });

  it('counts a replica that stopped beating as gone, with its links', async () => {
    const [p1, p2] = await pg.replicas(2);
    const r1 = new PgLinkDirectory(p1!);
    const r2 = new PgLinkDirectory(p2!);
    await r1.beat('r1', 10_000);
    await r2.beat('r2', 10_000);
    await r2.hold('n-9', 'r2');
    expect(await r1.links(10_000)).toEqual([{ nodeId: 'n-9', replica: 'r2' }]);
    // r2 is silent for longer than the limit (here 200 ms).
    await new Promise((r) => setTimeout(r, 300));
    expect(await r1.links(200)).toEqual([]);
    expect(await r1.beat('r1', 200)).toEqual(['r1']);
    // The beat forgot r2's links: they do not come back when it is counted alive again.
    expect(await r1.links(10_000)).toEqual([]);
  });
});
