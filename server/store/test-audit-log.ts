// The contract every AuditLog keeps (audit-log.ts), as a test suite a log runs on itself: the
// SQLite one (audit-log.test.ts) and the PostgreSQL one (server/postgres/pg-audit-log.test.ts).
// The cases are what the audit service (`fleet audit`) relies on, with two servers appending.
import { describe, expect, it } from 'vitest';
import type { AuditLog } from './audit-log';

/**
 * Runs the AuditLog contract against logs made by `make`: `make()` gives one log on a fresh, empty
 * database, `make(2)` two logs on one fresh database, as two servers sharing it.
 */
export function auditLogContract(name: string, make: (servers?: number) => Promise<AuditLog[]>): void {
  describe(`AuditLog contract: ${name}`, () => {
    const one = async () => (await make())[0]!;

    it('lists entries newest first (the last appended first), with what was recorded', async () => {
      const audit = await one();
      expect(await audit.list(10)).toEqual([]);
      await audit.record({ actor: 'api:admin', action: 'token.create', target: 'j-1', ok: true, detail: 'max 3 uses' }, 1_700_000_000_100);
      await audit.record({ actor: 'token:j-1', action: 'node.enroll', ok: false }, 1_700_000_000_300);
      // Recorded last with an earlier time (another server's clock): still listed first.
      await audit.record({ actor: 'node:n-1', action: 'node.leave', target: 'web-1', ok: true }, 1_700_000_000_200);
      const entries = await audit.list(10);
      expect(entries).toEqual([
        { id: expect.any(Number), atUnixMs: 1_700_000_000_200, actor: 'node:n-1', action: 'node.leave', target: 'web-1', ok: true, detail: '' },
        { id: expect.any(Number), atUnixMs: 1_700_000_000_300, actor: 'token:j-1', action: 'node.enroll', target: '', ok: false, detail: '' },
        { id: expect.any(Number), atUnixMs: 1_700_000_000_100, actor: 'api:admin', action: 'token.create', target: 'j-1', ok: true, detail: 'max 3 uses' },
      ]);
      expect(entries[0]!.id).toBeGreaterThan(entries[1]!.id);
      expect(entries[1]!.id).toBeGreaterThan(entries[2]!.id);
    });

    it('lists one action, entries at or after a time, and no more than the limit', async () => {
      const audit = await one();
      for (const [at, action] of [
        [100, 'node.enroll'],
        [200, 'shell.open'],
        [300, 'node.enroll'],
        [400, 'node.enroll'],
      ] as const) {
        await audit.record({ actor: 'a', action, ok: true }, at);
      }
      const times = async (...args: Parameters<AuditLog['list']>) => (await audit.list(...args)).map((e) => e.atUnixMs);
      expect(await times(10, 'node.enroll')).toEqual([400, 300, 100]);
      expect(await times(2, 'node.enroll')).toEqual([400, 300]);
      expect(await times(10, undefined, 300)).toEqual([400, 300]);
      expect(await times(10, 'node.enroll', 200)).toEqual([400, 300]);
      expect(await times(10, 'shell.open', 300)).toEqual([]);
      expect(await times(10, 'token.revoke')).toEqual([]);
      expect(await times(10, undefined, 401)).toEqual([]);
      expect(await times(1)).toEqual([400]);
    });

    it('dates an entry now when no time is given', async () => {
      const audit = await one();
      const before = Date.now();
      await audit.record({ actor: 'a', action: 'x', ok: true });
      const [entry] = await audit.list(1);
      expect(entry!.atUnixMs).toBeGreaterThanOrEqual(before);
      expect(entry!.atUnixMs).toBeLessThanOrEqual(Date.now());
    });

    it('keeps every entry two servers append, in the order they were appended', async () => {
      const [a, b] = (await make(2)) as [AuditLog, AuditLog];
      await a.record({ actor: 'first', action: 'x', ok: true }, 1);
      await b.record({ actor: 'second', action: 'x', ok: true }, 1);
      await a.record({ actor: 'third', action: 'x', ok: true }, 1);
      expect((await b.list(3)).map((e) => e.actor)).toEqual(['third', 'second', 'first']);
      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).record({ actor: `at-once-${i}`, action: 'y', ok: true }, 2)));
      const together = await a.list(100, 'y');
      expect(new Set(together.map((e) => e.actor))).toEqual(new Set(Array.from({ length: 40 }, (_, i) => `at-once-${i}`)));
      expect(new Set(together.map((e) => e.id)).size).toBe(40);
    });
  });
}
