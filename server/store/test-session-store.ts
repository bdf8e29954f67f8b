// The contract every SessionStore keeps (session-store.ts), as a test suite a store runs on itself:
// the SQLite one (session-store.test.ts) and the PostgreSQL one
// (server/postgres/pg-session-store.test.ts). The cases are what server/shells/sessions.ts and
// `fleet sessions` rely on.
import { describe, expect, it } from 'vitest';
import type { SessionStart, SessionStore } from './session-store';

function started(id: string, nodeId: string, startedAt: number): SessionStart {
  return { id, nodeId, nodeName: `name-of-${nodeId}`, user: 'api:t-1', source: 'cli', startedAt };
}

/**
 * Runs the SessionStore contract against stores made by `make`: `make()` gives one store on a
 * fresh, empty database, `make(2)` two stores on one fresh database, as two servers sharing it.
 */
export function sessionStoreContract(name: string, make: (servers?: number) => Promise<SessionStore[]>): void {
  describe(`SessionStore contract: ${name}`, () => {
    const one = async () => (await make())[0]!;

    it('records a session from its start to its end', async () => {
      const sessions = await one();
      await sessions.start({ id: 's-1', nodeId: 'n-1', nodeName: 'web-1', user: 'web:alice', source: 'web', startedAt: 1_700_000_000_000 });
      const open = { id: 's-1', nodeId: 'n-1', nodeName: 'web-1', user: 'web:alice', source: 'web', startedUnixMs: 1_700_000_000_000, endedUnixMs: 0, exitCode: 0, outputBytes: 0, endReason: '' };
      expect(await sessions.get('s-1')).toEqual(open);
      await sessions.end('s-1', { endedAt: 1_700_000_060_000, exitCode: -1, outputBytes: 5_000_000_000, reason: 'idle for more than 30 min' });
      expect(await sessions.get('s-1')).toEqual({ ...open, endedUnixMs: 1_700_000_060_000, exitCode: -1, outputBytes: 5_000_000_000, endReason: 'idle for more than 30 min' });
      expect(await sessions.get('s-2')).toBeUndefined();
      await expect(sessions.start(started('s-1', 'n-2', 1))).rejects.toThrow();
    });

    it('lists sessions newest first, of one node when asked, up to the limit', async () => {
      const sessions = await one();
      expect(await sessions.list(10)).toEqual([]);
      await sessions.start(started('s-a', 'n-1', 100));
      await sessions.start(started('s-b', 'n-2', 300));
      await sessions.start(started('s-c', 'n-1', 200));
      await sessions.start(started('s-d', 'n-1', 400));
      await sessions.end('s-c', { endedAt: 250, exitCode: 0, outputBytes: 10, reason: '' });
      const list = async (...args: Parameters<SessionStore['list']>) => (await sessions.list(...args)).map((s) => s.id);
      expect(await list(10)).toEqual(['s-d', 's-b', 's-c', 's-a']);
      expect(await list(2)).toEqual(['s-d', 's-b']);
      expect(await list(10, 'n-1')).toEqual(['s-d', 's-c', 's-a']);
      expect(await list(1, 'n-1')).toEqual(['s-d']);
      expect(await list(10, 'n-3')).toEqual([]);
      expect(await sessions.list(10, 'n-2')).toEqual([{ ...started('s-b', 'n-2', 300), startedUnixMs: 300, endedUnixMs: 0, exitCode: 0, outputBytes: 0, endReason: '' }].map(({ startedAt: _, ...s }) => s));
    });

    it('ends the sessions left open when a server stopped, and only those', async () => {
      const sessions = await one();
      await sessions.start(started('s-open-1', 'n-1', 100));
      await sessions.start(started('s-open-2', 'n-2', 200));
      await sessions.start(started('s-done', 'n-1', 300));
      await sessions.end('s-done', { endedAt: 350, exitCode: 2, outputBytes: 7, reason: 'exited' });
      await sessions.closeDangling(500);
      await sessions.closeDangling(600);
      expect(await sessions.get('s-open-1')).toMatchObject({ endedUnixMs: 500, endReason: 'server restarted', exitCode: 0 });
      expect(await sessions.get('s-open-2')).toMatchObject({ endedUnixMs: 500, endReason: 'server restarted' });
      expect(await sessions.get('s-done')).toMatchObject({ endedUnixMs: 350, exitCode: 2, outputBytes: 7, endReason: 'exited' });
    });

    it('shares sessions between servers: one started on one server is listed and ended on the other', async () => {
      const [a, b] = (await make(2)) as [SessionStore, SessionStore];
      await a.start(started('s-1', 'n-1', 100));
      expect((await b.list(10)).map((s) => s.id)).toEqual(['s-1']);
      await b.end('s-1', { endedAt: 200, exitCode: 0, outputBytes: 1, reason: '' });
      expect(await a.get('s-1')).toMatchObject({ endedUnixMs: 200, outputBytes: 1 });
    });
  });
}
