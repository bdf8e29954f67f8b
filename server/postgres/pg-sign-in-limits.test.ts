// Sign-in limits on a real PostgreSQL: the SignInLimits contract, one count shared by replicas
// failing at once, limits that share the table but not their counts, and aged-out addresses swept.
import { describe, expect, it } from 'vitest';
import { TooManySignInsError } from '../errors';
import { signInLimitsContract } from '../test-sign-in-limits';
import { PgSignInLimits } from './pg-sign-in-limits';
import { usePostgres } from './test-databases';

const pg = usePostgres();

signInLimitsContract('PgSignInLimits', async (options, now) => new PgSignInLimits((await pg.fresh()).pool, 'api', { ...options, now }));

/** How many of these attempts were counted (the others were refused as held back). */
async function counted(attempts: Promise<void>[]): Promise<number> {
  const results = await Promise.allSettled(attempts);
  for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(TooManySignInsError);
  return results.filter((r) => r.status === 'fulfilled').length;
}

describe('PgSignInLimits', () => {
  it('lets two replicas failing at once through only up to the limit together', async () => {
    const { pool, url } = await pg.fresh();
    const a = new PgSignInLimits(pool, 'api', { max: 5, now: () => 1000 });
    const b = new PgSignInLimits(await pg.pool(url), 'api', { max: 5, now: () => 1000 });
    const attempts = Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).failed('10.0.0.1'));
    expect(await counted(attempts)).toBe(5);
    // Either replica now holds the address back.
    await expect(a.failed('10.0.0.1')).rejects.toBeInstanceOf(TooManySignInsError);
    await expect(b.failed('10.0.0.1')).rejects.toBeInstanceOf(TooManySignInsError);
  });

  it('keeps each limit its own count in the shared table', async () => {
    const { pool } = await pg.fresh();
    const api = new PgSignInLimits(pool, 'api', { max: 2, now: () => 1000 });
    const join = new PgSignInLimits(pool, 'join', { max: 4, now: () => 1000 });
    expect(await counted(Array.from({ length: 3 }, () => api.failed('10.0.0.2')))).toBe(2);
    expect(await counted(Array.from({ length: 5 }, () => join.failed('10.0.0.2')))).toBe(4);
  });

  it('forgets addresses whose failures aged out, as other failures are counted', async () => {
    let now = 0;
    const { pool } = await pg.fresh();
    const limits = new PgSignInLimits(pool, 'web', { max: 5, windowMs: 60_000, now: () => now });
    for (let i = 0; i < 40; i++) await limits.failed(`10.0.1.${i}`);
    now = 60_000;
    await limits.failed('10.0.2.1');
    const { rows } = await pool.query<{ address: string }>('SELECT address FROM sign_in_failures');
    expect(rows).toEqual([{ address: '10.0.2.1' }]);
  });
});
