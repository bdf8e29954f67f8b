// Answers kept for a retry on a real PostgreSQL: the ReplayCache contract, a retry answered by
// another replica, an enrollment answer that comes back whole (bytes included), and expired
// answers swept as new ones are kept.
import { describe, expect, it } from 'vitest';
import { EnrollResponse } from '../../proto/gen/fleet/v1/agent';
import { replayCacheContract } from '../test-replay-cache';
import { PgReplayCache } from './pg-replay-cache';
import { usePostgres } from './test-databases';

const pg = usePostgres();

replayCacheContract('PgReplayCache', async (now) => new PgReplayCache((await pg.fresh()).pool, 'enrollment', { now }));

describe('PgReplayCache', () => {
  it('answers a retry that reaches another replica, and keeps caches apart', async () => {
    const { pool, url } = await pg.fresh();
    const first = new PgReplayCache<{ nodeId: string }>(pool, 'enrollment');
    const other = new PgReplayCache<{ nodeId: string }>(await pg.pool(url), 'enrollment');
    await first.remember('tok:key', { nodeId: 'n1' }, 60_000);
    expect(await other.recall('tok:key')).toEqual({ nodeId: 'n1' });
    expect(await new PgReplayCache(pool, 'something-else').recall('tok:key')).toBeUndefined();
  });

  it('gives back an enrollment answer as it was, its signing key as bytes', async () => {
    const { pool } = await pg.fresh();
    const cache = new PgReplayCache<EnrollResponse>(pool, 'enrollment', { codec: EnrollResponse });
    const answer: EnrollResponse = {
      ...EnrollResponse.fromPartial({}),
      nodeId: 'n1',
      nodeName: 'web-1',
      certificatePem: '-----BEGIN CERTIFICATE-----\n…',
      commandSigningKey: Buffer.from([0x30, 0x2a, 0, 255]),
      labels: { role: 'web' },
    };
    await cache.remember('k', answer, 60_000);
    const again = (await cache.recall('k'))!;
    expect(again).toEqual(answer);
    expect(Buffer.isBuffer(again.commandSigningKey)).toBe(true);
    // What the agent receives is the same message, byte for byte.
    expect(Buffer.from(EnrollResponse.encode(again).finish()).equals(Buffer.from(EnrollResponse.encode(answer).finish()))).toBe(true);
  });

  it('sweeps expired answers as new ones are kept, so the table does not grow', async () => {
    let now = 0;
    const { pool } = await pg.fresh();
    const cache = new PgReplayCache(pool, 'enrollment', { now: () => now });
    for (let i = 0; i < 30; i++) await cache.remember(`k${i}`, { nodeId: `n${i}`, labels: {} }, 10_000);
    now = 10_000;
    await cache.remember('fresh', { nodeId: 'n', labels: {} }, 10_000);
    const { rows } = await pool.query<{ key: string }>('SELECT key FROM replay_answers');
    expect(rows).toEqual([{ key: 'fresh' }]);
  });
});
