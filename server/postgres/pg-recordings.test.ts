// Shell recordings on a real PostgreSQL: the RecordingStore contract, a recording played back by
// another replica while it is written and never taken over by a second one, and the writer's
// backlog while the database stalls: `backlogged` and `whenCaughtUp` as a session relies on them
// (server/shells/sessions.ts), batches in order, and the rest of a recording given up (not the
// session) once a stalled database would make it hold too much.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RECORDING_BACKLOG_BYTES, RECORDING_HELD_BYTES } from '../shells';
import { readAll, recordingStoreContract } from '../shells/test-recording-store';
import { CHUNK_BYTES } from './pg-chunks';
import type { PgPool } from './pg-database';
import { PgRecordings } from './pg-recordings';
import { usePostgres } from './test-databases';

const pg = usePostgres();

recordingStoreContract('PgRecordings', async () => new PgRecordings((await pg.fresh()).pool));

/** A logger whose warnings land in `lines`. */
function capture() {
  const lines: { msg: string; recording: string }[] = [];
  return { lines, log: pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) }) };
}

/** Holds every append to a recording back, as a database that stalls would; resolves with what lets them go. */
async function stall(pool: PgPool): Promise<() => Promise<void>> {
  const client = await pool.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE recording_chunks IN EXCLUSIVE MODE');
  return async () => {
    await client.query('COMMIT');
    client.release();
  };
}

/** True once an append waits for the stall. */
async function appendWaiting(pool: PgPool): Promise<boolean> {
  const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
  return rows[0]!.n > 0;
}

const line = (i: number) => `[${i}, "o", "${'x'.repeat(60)} ${i}"]\n`;

describe('PgRecordings', () => {
  it('plays a recording back on another replica while it is written, and lets no second replica take it over', async () => {
    const { pool, url } = await pg.fresh();
    const { lines, log } = capture();
    const a = new PgRecordings(pool, { log });
    const b = new PgRecordings(await pg.pool(url), { log });
    const out = a.create('s1');
    out.write('first\n');
    await expect.poll(async () => (await b.exists('s1')) && readAll((await b.open('s1'))!)).toBe('first\n');
    // Both replicas start a recording under one id at once: one of them keeps it, whole.
    const [x, y] = [a.create('s2'), b.create('s2')];
    x.write('from a\n');
    y.write('from b\n');
    out.write('second\n');
    await Promise.all([out.close(), x.close(), y.close()]);
    expect(await readAll((await b.open('s1'))!)).toBe('first\nsecond\n');
    expect(['from a\n', 'from b\n']).toContain(await readAll((await a.open('s2'))!));
    expect(lines).toEqual([expect.objectContaining({ recording: 's2', msg: expect.stringMatching(/already exists/) })]);
  });

  it('is backlogged while the database stalls, and catches up in order, in batches', async () => {
    const { pool } = await pg.fresh();
    const store = new PgRecordings(pool);
    const release = await stall(pool);
    const out = store.create('s');
    await expect.poll(() => store.exists('s')).toBe(true);
    let written = '';
    for (let i = 0; written.length <= RECORDING_BACKLOG_BYTES + 100_000; i++) {
      out.write(line(i));
      written += line(i);
    }
    expect(out.backlogged).toBe(true);
    let caughtUp = false;
    out.whenCaughtUp(() => (caughtUp = true));
    await expect.poll(() => appendWaiting(pool)).toBe(true);
    expect(caughtUp).toBe(false);
    await release();
    await expect.poll(() => caughtUp).toBe(true);
    expect(out.backlogged).toBe(false);
    out.write('end\n');
    await out.close();
    expect(await readAll((await store.open('s'))!)).toBe(`${written}end\n`);
    // What piled up went out in rows of up to 256 KiB, not a row a line.
    const { rows } = await pool.query<{ n: number; largest: number }>('SELECT count(*)::int AS n, max(octet_length(data))::int AS largest FROM recording_chunks');
    expect(rows[0]!.largest).toBe(CHUNK_BYTES);
    expect(rows[0]!.n).toBeLessThanOrEqual(3 + written.length / CHUNK_BYTES);
  });

  it('gives up the rest of a recording, not the session, when a stalled database would make it hold too much', async () => {
    const { pool } = await pg.fresh();
    const { lines, log } = capture();
    const store = new PgRecordings(pool, { log });
    const release = await stall(pool);
    const out = store.create('s');
    await expect.poll(() => store.exists('s')).toBe(true);
    out.write(line(0));
    await expect.poll(() => appendWaiting(pool)).toBe(true);
    const block = 'y'.repeat(64 * 1024);
    for (let i = 0; i < RECORDING_BACKLOG_BYTES / block.length + 1; i++) out.write(block);
    expect(out.backlogged).toBe(true);
    let caughtUp = false;
    out.whenCaughtUp(() => (caughtUp = true));
    for (let i = 0; i < RECORDING_HELD_BYTES / block.length; i++) out.write(block);
    // Nobody waits for what will not be stored: the session's acks go on.
    expect(caughtUp).toBe(true);
    expect(out.backlogged).toBe(false);
    expect(lines).toEqual([expect.objectContaining({ recording: 's', msg: expect.stringMatching(/lost: more than/) })]);
    await release();
    out.write('after\n');
    await out.close();
    expect(await readAll((await store.open('s'))!)).toBe(line(0));
  });

  it('loses the rest of a recording removed while it is written, and the writer still closes', async () => {
    const { pool } = await pg.fresh();
    const { lines, log } = capture();
    const store = new PgRecordings(pool, { log });
    const out = store.create('s');
    out.write('one\n');
    await expect.poll(async () => (await store.exists('s')) && readAll((await store.open('s'))!)).toBe('one\n');
    await store.remove('s');
    out.write('two\n');
    await out.close();
    expect(await store.exists('s')).toBe(false);
    expect(lines).toEqual([expect.objectContaining({ recording: 's', msg: expect.stringMatching(/lost: the store failed/) })]);
  });
});
