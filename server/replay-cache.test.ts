// The in-memory replay cache: the ReplayCache contract, and its cap on what it holds.
import { describe, expect, it } from 'vitest';
import { MemoryReplayCache } from './replay-cache';
import { replayCacheContract } from './test-replay-cache';

replayCacheContract('MemoryReplayCache', (now) => new MemoryReplayCache({ now }));

describe('MemoryReplayCache', () => {
  it('drops the oldest answers past its cap, and expired ones as it goes', async () => {
    let now = 0;
    const cache = new MemoryReplayCache<number>({ max: 3, now: () => now });
    for (let i = 1; i <= 4; i++) await cache.remember(`k${i}`, i, 60_000);
    expect(cache.size).toBe(3);
    expect(await cache.recall('k1')).toBeUndefined();
    expect(await cache.recall('k4')).toBe(4);
    now = 60_000;
    await cache.remember('k5', 5, 60_000);
    expect(cache.size).toBe(1);
  });
});
