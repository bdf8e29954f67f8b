// The JobStore contract on a real PostgreSQL, and what several servers writing one job's output
// at once rely on: a chunk two servers store together is new to exactly one of them, and the
// replay boundary stays exact while another server's write is still being committed.
import { describe, expect, it } from 'vitest';
import { chunk, jobStoreContract, replay } from '../store/test-job-store';
import { PgJobStore } from './pg-job-store';
import { usePostgres } from './test-databases';

const pg = usePostgres();

/** Waits until `ready` answers true (polling), or fails after 10 s. */
async function until(ready: () => Promise<boolean>): Promise<void> {
  for (const end = Date.now() + 10_000; !(await ready()); ) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

jobStoreContract('PgJobStore', async () => new PgJobStore(await pg.empty()));

describe('PgJobStore with several servers', () => {
  it('stores a chunk that two servers write at once once, and tells exactly one of them it is new', async () => {
    const [a, b] = [new PgJobStore(await pg.empty()), new PgJobStore(await pg.pool())];
    const chunks = Array.from({ length: 300 }, (_, i) => chunk('j-1', `n-${i % 10}`, i));
    // Each server gets every chunk, in batches of other sizes and in the other order.
    const batches = (list: typeof chunks, size: number) => Array.from({ length: Math.ceil(list.length / size) }, (_, i) => list.slice(i * size, (i + 1) * size));
    const writes = [...batches(chunks, 7).map((batch) => ({ store: a, batch })), ...batches([...chunks].reverse(), 11).map((batch) => ({ store: b, batch }))];
    const answers = await Promise.all(writes.map(async ({ store, batch }) => ({ batch, fresh: await store.write({ output: batch }) })));
    const news = new Map<string, number>();
    for (const { batch, fresh } of answers) batch.forEach((c, i) => fresh[i] && news.set(`${c.nodeId}/${c.seq}`, (news.get(`${c.nodeId}/${c.seq}`) ?? 0) + 1));
    expect(news.size).toBe(300);
    expect([...news.values()].every((n) => n === 1)).toBe(true);
    const stored = await replay(a, 'j-1', await b.lastOutputRowid('j-1'));
    expect(stored.map((c) => `${c.nodeId}/${c.seq}`).sort()).toEqual([...news.keys()].sort());
  });

  it('keeps the replay boundary exact while another server is still committing its write', async () => {
    // A database of its own: this test adds a trigger.
    const { pool: admin, url } = await pg.fresh();
    const [a, b] = [new PgJobStore(await pg.pool(url)), new PgJobStore(await pg.pool(url))];
    // A slow commit on purpose: the insert of chunk 999 waits for a lock the test holds, after its
    // position is drawn and before its transaction commits.
    await admin.query('CREATE FUNCTION wait_for_test() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock(1, 1); RETURN NEW; END $$');
    await admin.query('CREATE TRIGGER slow AFTER INSERT ON job_output FOR EACH ROW WHEN (NEW.seq = 999) EXECUTE FUNCTION wait_for_test()');
    const gate = await admin.connect();
    await gate.query('SELECT pg_advisory_lock(1, 1)');
    const waiting = async () => (await admin.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).rows[0]!.n;
    const slow = a.write({ output: [chunk('j-1', 'n-1', 999)] });
    await until(async () => (await waiting()) === 1);
    // Another server stores a chunk of the same job meanwhile: it waits for the slow one, or
    // (were positions not kept in commit order) commits first with the larger position.
    let quickDone = false;
    const quick = b.write({ output: [chunk('j-1', 'n-2', 1)] }).finally(() => (quickDone = true));
    await until(async () => quickDone || (await waiting()) === 2);
    // A follower starts replaying now.
    const last = await b.lastOutputRowid('j-1');
    const seen = await replay(b, 'j-1', last);
    await gate.query('SELECT pg_advisory_unlock(1, 1)');
    gate.release();
    expect(await Promise.all([slow, quick])).toEqual([[true], [true]]);
    // Nothing turned up at or below the boundary afterwards (the follower would miss it) and both
    // chunks lie above what the follower saw (it hears them live).
    expect(await replay(b, 'j-1', last)).toEqual(seen);
    const after = await b.outputPage('j-1', last, await b.lastOutputRowid('j-1'), 10);
    expect([...seen, ...after].map((c) => c.seq).sort()).toEqual([1, 999]);
  });
});
