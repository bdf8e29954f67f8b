// The contract every ReplayCache keeps (replay-cache.ts), as a test suite a cache runs on itself:
// the in-memory one here (replay-cache.test.ts), a shared one later with the same cases.
import { describe, expect, it } from 'vitest';
import type { ReplayCache } from './replay-cache';

/** An answer like the ones enrollment keeps: plain data. */
interface Answer {
  nodeId: string;
  labels: Record<string, string>;
}

/** Makes a fresh, empty cache that reads the time from `now`. */
export type MakeReplayCache = (now: () => number) => ReplayCache<Answer> | Promise<ReplayCache<Answer>>;

/** Runs the ReplayCache contract against caches made by `make`. */
export function replayCacheContract(name: string, make: MakeReplayCache): void {
  describe(`ReplayCache contract: ${name}`, () => {
    it('gives a retry the first answer, and nothing for another key', async () => {
      const cache = await make(() => 1000);
      await cache.remember('tok:key-1', { nodeId: 'n1', labels: { role: 'web' } }, 60_000);
      expect(await cache.recall('tok:key-1')).toEqual({ nodeId: 'n1', labels: { role: 'web' } });
      expect(await cache.recall('tok:key-2')).toBeUndefined();
      expect(await cache.recall('other:key-1')).toBeUndefined();
    });

    it('forgets an answer once its time to live is over', async () => {
      let now = 0;
      const cache = await make(() => now);
      await cache.remember('a', { nodeId: 'n1', labels: {} }, 10_000);
      now = 9_999;
      expect(await cache.recall('a')).toMatchObject({ nodeId: 'n1' });
      now = 10_000;
      expect(await cache.recall('a')).toBeUndefined();
      now = 0;
      expect(await cache.recall('a')).toBeUndefined();
    });

    it('replaces an earlier answer under the same key, with its new time to live', async () => {
      let now = 0;
      const cache = await make(() => now);
      await cache.remember('a', { nodeId: 'n1', labels: {} }, 1000);
      now = 500;
      await cache.remember('a', { nodeId: 'n2', labels: {} }, 1000);
      now = 1200;
      expect(await cache.recall('a')).toMatchObject({ nodeId: 'n2' });
    });
  });
}
