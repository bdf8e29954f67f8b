// The contract every NodeStore keeps (node-store.ts), as a test suite a store runs on itself: the
// SQLite one (node-store.test.ts) and the PostgreSQL one (server/postgres/pg-node-store.test.ts).
// The cases are what enrollment, the agent hub, renewal and the nodes service rely on, including
// two servers sharing one database.
import { describe, expect, it } from 'vitest';
import { Facts } from '../../proto/gen/fleet/v1/common';
import type { NodeRecord, NodeStore, NodeTakeover } from './node-store';

/** A node as enrollment inserts it, named and fingerprinted after its id unless `over` says otherwise. */
export function nodeRecord(id: string, macs: string[] = [], over: Partial<NodeRecord> = {}): NodeRecord {
  return {
    id,
    name: id,
    labels: {},
    facts: undefined,
    identity: { hostname: id, macs, dmiUuid: '', serial: '' },
    certFingerprint: `fp-${id}`,
    prevCertFingerprint: null,
    certNotAfter: 0,
    agentVersion: '1',
    joinTokenId: null,
    enrolledAt: 0,
    lastSeenAt: null,
    ...over,
  };
}

/** What a machine enrolling again brings: its addresses and a new certificate. */
function takeover(certFingerprint: string, macs: string[]): NodeTakeover {
  return { identity: { hostname: 'reinstalled', macs, dmiUuid: 'uuid-2', serial: 'sn-2' }, labels: { role: 'web' }, certFingerprint, certNotAfter: 1_900_000_000_000, agentVersion: '2.0.0', joinTokenId: 'jt-2', enrolledAt: 1_800_000_000_000 };
}

const mac = (n: number) => `52:54:00:00:00:${n.toString(16).padStart(2, '0')}`;
const ids = (nodes: NodeRecord[]) => nodes.map((n) => n.id);

/**
 * Runs the NodeStore contract against stores made by `make`: `make()` gives one store on a fresh,
 * empty database, `make(2)` two stores on one fresh database, as two servers sharing it.
 */
export function nodeStoreContract(name: string, make: (servers?: number) => Promise<NodeStore[]>): void {
  describe(`NodeStore contract: ${name}`, () => {
    const one = async () => (await make())[0]!;

    it('keeps a node as inserted, found by id or by name', async () => {
      const nodes = await one();
      const facts = Facts.fromPartial({ os: { platform: 'linux', distro: 'debian', release: '12', hostname: 'web-1' }, disks: [{ device: 'sda', type: 'disk', name: 'sda', sizeBytes: 1e12 }], uptimeSeconds: 5, collectedUnixMs: 1_700_000_000_000 });
      const web = nodeRecord('n-1', [mac(1)], { name: 'web-1', labels: { role: 'web', env: 'prod' }, facts, identity: { hostname: 'web-1', macs: [mac(1)], dmiUuid: 'uuid-1', serial: 'sn-1' } });
      const db = nodeRecord('n-2', [], { name: 'db-1', joinTokenId: 'jt-1', enrolledAt: 1_700_000_000_000, certNotAfter: 1_800_000_000_000, lastSeenAt: 1_700_000_000_123 });
      await nodes.insert(web);
      await nodes.insert(db);
      expect(await nodes.get('n-1')).toEqual(web);
      expect(await nodes.get('n-2')).toEqual(db);
      expect((await nodes.get('n-2'))!.facts).toBeUndefined();
      expect(await nodes.find('web-1')).toEqual(web);
      expect(await nodes.find('n-1')).toEqual(web);
      expect(await nodes.get('web-1')).toBeUndefined();
      expect(await nodes.get('n-3')).toBeUndefined();
      expect(await nodes.find('nothing')).toBeUndefined();
    });

    it('finds a node by its name before another whose id is that name', async () => {
      const nodes = await one();
      await nodes.insert(nodeRecord('n-1', [], { name: 'first' }));
      await nodes.insert(nodeRecord('n-2', [], { name: 'n-1' }));
      expect((await nodes.find('n-1'))!.id).toBe('n-2');
      expect((await nodes.find('first'))!.id).toBe('n-1');
    });

    it('lists nodes by name (byte order), counts them and knows the names taken', async () => {
      const nodes = await one();
      expect(await nodes.list()).toEqual([]);
      expect(await nodes.count()).toBe(0);
      for (const [i, name] of ['web-2', 'db', 'web.1', 'web-10'].entries()) await nodes.insert(nodeRecord(`n-${i}`, [], { name }));
      expect((await nodes.list()).map((n) => n.name)).toEqual(['db', 'web-10', 'web-2', 'web.1']);
      expect(await nodes.count()).toBe(4);
      expect(await nodes.nameTaken('web-10')).toBe(true);
      expect(await nodes.nameTaken('web')).toBe(false);
      expect(await nodes.nameTaken('n-1')).toBe(false);
    });

    it('refuses a second node with a name or id already taken, and keeps the first as it was', async () => {
      const nodes = await one();
      const first = nodeRecord('n-1', [mac(1)], { name: 'web' });
      await nodes.insert(first);
      await expect(nodes.insert(nodeRecord('n-2', [mac(2)], { name: 'web' }))).rejects.toThrow();
      await expect(nodes.insert(nodeRecord('n-1', [mac(3)], { name: 'other' }))).rejects.toThrow();
      expect(await nodes.list()).toEqual([first]);
      expect(await nodes.withMacs([mac(2), mac(3)])).toEqual([]);
    });

    it('finds nodes by the MAC addresses they enrolled with (lower-cased), each once, by name', async () => {
      const nodes = await one();
      await nodes.insert(nodeRecord('b', [mac(2), '52:54:00:AA:BB:CC']));
      await nodes.insert(nodeRecord('a', [mac(1), mac(2)]));
      await nodes.insert(nodeRecord('c', ['', mac(3), mac(3)]));
      expect(ids(await nodes.withMacs([mac(2)]))).toEqual(['a', 'b']);
      expect(ids(await nodes.withMacs(['52:54:00:aa:bb:cc']))).toEqual(['b']);
      expect(ids(await nodes.withMacs([mac(3), mac(1), mac(2)]))).toEqual(['a', 'b', 'c']);
      expect(await nodes.withMacs([mac(9)])).toEqual([]);
      expect(await nodes.withMacs([''])).toEqual([]);
      expect(await nodes.withMacs([])).toEqual([]);
    });

    it('follows re-enrollment and removal in the MAC index', async () => {
      const nodes = await one();
      await nodes.insert(nodeRecord('a', [mac(1), mac(2)]));
      await nodes.insert(nodeRecord('b', [mac(2)]));
      expect(ids(await nodes.withMacs([mac(2)]))).toEqual(['a', 'b']);
      // Taken over from a machine with another NIC: found by the new address only.
      expect(await nodes.reenroll('a', { name: 'a', certFingerprint: 'fp-a' }, takeover('new', [mac(3)]))).toBe(true);
      expect(ids(await nodes.withMacs([mac(1)]))).toEqual([]);
      expect(ids(await nodes.withMacs([mac(2)]))).toEqual(['b']);
      expect(ids(await nodes.withMacs([mac(3)]))).toEqual(['a']);
      await nodes.remove((await nodes.get('b'))!, 'test', 1);
      expect(await nodes.withMacs([mac(2)])).toEqual([]);
    });

    it("takes a node over: the machine's identity, labels, certificate and token; name, id, facts and last seen stay", async () => {
      const nodes = await one();
      const facts = Facts.fromPartial({ uptimeSeconds: 9 });
      const before = nodeRecord('n-1', [mac(1)], { name: 'web', labels: { role: 'web', team: 'a' }, facts, lastSeenAt: 5, certFingerprint: 'fp-old' });
      await nodes.insert(before);
      await nodes.setCertificate('n-1', 'fp-renewed', 9, 'fp-old');
      const next = takeover('fp-new', [mac(9)]);
      expect(await nodes.reenroll('n-1', { name: 'web', certFingerprint: 'fp-renewed' }, next)).toBe(true);
      expect(await nodes.get('n-1')).toEqual({ ...before, ...next, prevCertFingerprint: null });
      // Only the new certificate is accepted, not the one on record before nor the one it renewed from.
      expect(await nodes.hasCertificate('fp-new')).toBe(true);
      expect(await nodes.hasCertificate('fp-renewed')).toBe(false);
      expect(await nodes.hasCertificate('fp-old')).toBe(false);
    });

    it('takes a node over only while it is as it was looked up', async () => {
      const nodes = await one();
      await nodes.insert(nodeRecord('a', [mac(1)]));
      const next = takeover('new', [mac(9)]);
      // Enrolled again meanwhile (another certificate), or another name: the stale take-over changes nothing.
      expect(await nodes.reenroll('a', { name: 'a', certFingerprint: 'fp-other' }, next)).toBe(false);
      expect(await nodes.reenroll('a', { name: 'b', certFingerprint: 'fp-a' }, next)).toBe(false);
      expect(await nodes.get('a')).toEqual(nodeRecord('a', [mac(1)]));
      expect(await nodes.withMacs([mac(9)])).toEqual([]);
      expect(await nodes.reenroll('a', { name: 'a', certFingerprint: 'fp-a' }, next)).toBe(true);
      expect(await nodes.get('a')).toMatchObject({ certFingerprint: 'new' });
      // Removed meanwhile: nothing comes back.
      await nodes.remove((await nodes.get('a'))!, 'test', 1);
      expect(await nodes.reenroll('a', { name: 'a', certFingerprint: 'new' }, takeover('newer', [mac(8)]))).toBe(false);
      expect(await nodes.get('a')).toBeUndefined();
      expect(await nodes.withMacs([mac(8)])).toEqual([]);
    });

    it('accepts the certificate a node renewed from until the node uses the new one', async () => {
      const nodes = await one();
      await nodes.insert(nodeRecord('n-1'));
      expect(await nodes.hasCertificate('fp-n-1')).toBe(true);
      expect(await nodes.hasCertificate('fp-next')).toBe(false);
      await nodes.setCertificate('n-1', 'fp-next', 77, 'fp-n-1');
      expect(await nodes.get('n-1')).toMatchObject({ certFingerprint: 'fp-next', certNotAfter: 77, prevCertFingerprint: 'fp-n-1' });
      expect(await nodes.hasCertificate('fp-n-1')).toBe(true);
      expect(await nodes.hasCertificate('fp-next')).toBe(true);
      await nodes.forgetPreviousCertificate('n-1');
      await nodes.forgetPreviousCertificate('n-1');
      expect(await nodes.get('n-1')).toMatchObject({ certFingerprint: 'fp-next', prevCertFingerprint: null });
      expect(await nodes.hasCertificate('fp-n-1')).toBe(false);
      expect(await nodes.hasCertificate('fp-next')).toBe(true);
    });

    it('removes a node and keeps both its certificates refused, saying which node and when', async () => {
      const nodes = await one();
      await nodes.insert(nodeRecord('n-a', [mac(1)], { name: 'a' }));
      await nodes.insert(nodeRecord('n-b', [mac(2)], { name: 'b' }));
      await nodes.setCertificate('n-a', 'fp-a2', 9, 'fp-n-a');
      await nodes.remove((await nodes.get('n-a'))!, 'api:admin', 1234);
      expect(await nodes.get('n-a')).toBeUndefined();
      expect(await nodes.find('a')).toBeUndefined();
      expect(ids(await nodes.list())).toEqual(['n-b']);
      expect(await nodes.count()).toBe(1);
      expect(await nodes.withMacs([mac(1)])).toEqual([]);
      expect(await nodes.hasCertificate('fp-a2')).toBe(false);
      expect(await nodes.hasCertificate('fp-n-a')).toBe(false);
      expect(await nodes.removedByCertificate('fp-a2')).toEqual({ nodeId: 'n-a', name: 'a', removedAt: 1234 });
      expect(await nodes.removedByCertificate('fp-n-a')).toEqual({ nodeId: 'n-a', name: 'a', removedAt: 1234 });
      expect(await nodes.removedByCertificate('fp-n-b')).toBeUndefined();
      expect(await nodes.removedByCertificate('fp-unknown')).toBeUndefined();
      // The name is free again; the old certificates stay refused.
      expect(await nodes.nameTaken('a')).toBe(false);
      await nodes.insert(nodeRecord('n-c', [], { name: 'a' }));
      expect(await nodes.removedByCertificate('fp-a2')).toMatchObject({ nodeId: 'n-a' });
    });

    it('sets labels (replacing them), facts, agent version and last-seen times', async () => {
      const nodes = await one();
      await nodes.insert(nodeRecord('n-a', [], { labels: { role: 'web', env: 'prod' } }));
      await nodes.insert(nodeRecord('n-b', [], { labels: { role: 'db' } }));
      await nodes.setLabels('n-a', { role: 'cache' });
      const facts = Facts.fromPartial({ os: { platform: 'linux', kernel: '6.1.0' }, bootTimeUnixMs: 1_700_000_000_000 });
      await nodes.setFacts('n-a', facts);
      await nodes.setAgentVersion('n-a', '1.2.3', 500);
      expect(await nodes.get('n-a')).toMatchObject({ labels: { role: 'cache' }, facts, agentVersion: '1.2.3', lastSeenAt: 500 });
      await nodes.touchMany(new Map([['n-a', 600], ['n-b', 700], ['n-gone', 800]]));
      await nodes.touchMany(new Map());
      expect(await nodes.get('n-a')).toMatchObject({ lastSeenAt: 600, agentVersion: '1.2.3' });
      expect(await nodes.get('n-b')).toEqual(nodeRecord('n-b', [], { labels: { role: 'db' }, lastSeenAt: 700 }));
      expect(await nodes.count()).toBe(2);
    });

    it('shares nodes between servers: what one writes, the other reads', async () => {
      const [a, b] = (await make(2)) as [NodeStore, NodeStore];
      await a.insert(nodeRecord('n-1', [mac(1)], { name: 'web' }));
      expect(await b.find('web')).toEqual(nodeRecord('n-1', [mac(1)], { name: 'web' }));
      await b.setLabels('n-1', { role: 'web' });
      expect((await a.get('n-1'))!.labels).toEqual({ role: 'web' });
      await b.remove((await b.get('n-1'))!, 'api:admin', 5);
      expect(await a.removedByCertificate('fp-n-1')).toEqual({ nodeId: 'n-1', name: 'web', removedAt: 5 });
      expect(await a.count()).toBe(0);
    });

    it('lets only one of two servers take a node over when both try at once', async () => {
      const [a, b] = (await make(2)) as [NodeStore, NodeStore];
      const nodes = Array.from({ length: 8 }, (_, i) => nodeRecord(`n-${i}`, [mac(i)]));
      for (const n of nodes) await a.insert(n);
      const results = await Promise.all(
        nodes.flatMap((n, i) => [
          a.reenroll(n.id, { name: n.name, certFingerprint: n.certFingerprint }, takeover(`fp-a-${i}`, [mac(100 + i)])),
          b.reenroll(n.id, { name: n.name, certFingerprint: n.certFingerprint }, takeover(`fp-b-${i}`, [mac(200 + i)])),
        ]),
      );
      for (const [i, n] of nodes.entries()) {
        const [byA, byB] = [results[2 * i], results[2 * i + 1]];
        expect(byA !== byB).toBe(true);
        const winner = byA ? 'a' : 'b';
        expect((await b.get(n.id))!.certFingerprint).toBe(`fp-${winner}-${i}`);
        // The MAC index is the winner's alone.
        expect(ids(await a.withMacs([mac(byA ? 100 + i : 200 + i)]))).toEqual([n.id]);
        expect(await a.withMacs([mac(byA ? 200 + i : 100 + i), mac(i)])).toEqual([]);
      }
    });

    it('removes a node that two servers remove at once', async () => {
      const [a, b] = (await make(2)) as [NodeStore, NodeStore];
      await a.insert(nodeRecord('n-1', [mac(1)]));
      const node = (await a.get('n-1'))!;
      await Promise.all([a.remove(node, 'api:one', 10), b.remove(node, 'api:two', 10)]);
      expect(await b.get('n-1')).toBeUndefined();
      expect(await a.removedByCertificate('fp-n-1')).toEqual({ nodeId: 'n-1', name: 'n-1', removedAt: 10 });
    });

    it('stores last-seen times from two servers at once without either failing', async () => {
      const [a, b] = (await make(2)) as [NodeStore, NodeStore];
      const nodes = Array.from({ length: 20 }, (_, i) => `n-${String(i).padStart(2, '0')}`);
      for (const id of nodes) await a.insert(nodeRecord(id));
      // Each server's batch holds every node, in opposite orders (a node that moved between servers).
      for (let round = 1; round <= 10; round++) {
        await Promise.all([a.touchMany(new Map(nodes.map((id) => [id, round]))), b.touchMany(new Map([...nodes].reverse().map((id) => [id, round])))]);
      }
      expect(new Set((await a.list()).map((n) => n.lastSeenAt))).toEqual(new Set([10]));
    });
  });
}
