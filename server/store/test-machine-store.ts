// The contract every MachineStore keeps (machine-store.ts), as a test suite a store runs on itself:
// the SQLite one (machine-store.test.ts) and the PostgreSQL one (server/postgres/pg-machine-store.test.ts).
// What PXE (server/pxe/machines.ts) relies on: lookups by name, id, MAC, UUID and serial, a name
// or MAC held by one machine only, and changes that touch only the fields given.
import { describe, expect, it } from 'vitest';
import { MachineState, type MachineRecord, type MachineStore } from './machine-store';

/** A pending machine `name` with MAC `mac`, created at `createdAt`. */
export function machineRecord(name: string, mac: string | null, createdAt = 1_000): MachineRecord {
  const times = { createdAt, updatedAt: createdAt, lastBootAt: null, lastBootAddress: '' };
  return { id: `m-${name}`, name, mac, uuid: null, serial: null, profile: '', labels: {}, state: MachineState.Pending, nodeId: null, ...times, reported: null, approvedBy: '' };
}

/** Runs the MachineStore contract against stores made by `make` (a fresh, empty one per test). */
export function machineStoreContract(name: string, make: () => Promise<MachineStore>): void {
  describe(`MachineStore contract: ${name}`, () => {
    it('gives back a machine as stored', async () => {
      const store = await make();
      const bare = machineRecord('bare', null);
      const full: MachineRecord = {
        ...machineRecord('full', '52:54:00:00:00:01'),
        uuid: '4c4c4544-0042',
        serial: 'SN-1',
        profile: 'debian',
        labels: { role: 'web', site: 'ams' },
        state: MachineState.Provisioned,
        nodeId: 'n-1',
        lastBootAt: 1_796_637_210_684,
        lastBootAddress: '10.0.0.9',
        reported: { hostname: 'full', macs: ['52:54:00:00:00:01'], dmiUuid: '4c4c4544-0042', serial: 'SN-1' },
        approvedBy: 'rule:web',
      };
      await store.insert(bare);
      await store.insert(full);
      expect(await store.get(bare.id)).toEqual(bare);
      expect(await store.get(full.id)).toEqual(full);
      expect(await store.get('m-none')).toBeUndefined();
    });

    it('finds a machine by name, id or MAC, in any case', async () => {
      const store = await make();
      const m = machineRecord('rack-1', '52:54:00:aa:bb:cc');
      await store.insert(m);
      expect(await store.find('rack-1')).toEqual(m);
      expect(await store.find(m.id)).toEqual(m);
      expect(await store.find('52:54:00:AA:BB:CC')).toEqual(m);
      expect(await store.find('rack-2')).toBeUndefined();
      expect(await store.nameTaken('rack-1')).toBe(true);
      expect(await store.nameTaken('RACK-1')).toBe(false);
    });

    it('identifies a booting machine by MAC first, then UUID, then serial', async () => {
      const store = await make();
      const byMac = machineRecord('by-mac', '52:54:00:00:00:01');
      const byUuid = { ...machineRecord('by-uuid', null), uuid: 'uuid-1' };
      const bySerial = { ...machineRecord('by-serial', '52:54:00:00:00:03'), serial: 'SN-1' };
      for (const m of [bySerial, byUuid, byMac]) await store.insert(m);
      expect((await store.identify('52:54:00:00:00:01', 'uuid-1', 'SN-1'))?.name).toBe('by-mac');
      expect((await store.identify('52:54:00:00:00:99', 'uuid-1', 'SN-1'))?.name).toBe('by-uuid');
      expect((await store.identify('52:54:00:00:00:99', 'uuid-9', 'SN-1'))?.name).toBe('by-serial');
      expect((await store.identify('', '', 'SN-1'))?.name).toBe('by-serial');
      expect(await store.identify('52:54:00:00:00:99', 'uuid-9', 'SN-9')).toBeUndefined();
      expect(await store.identify('', '', '')).toBeUndefined();
    });

    it('names the holder of a MAC, UUID or serial: the oldest when several share one', async () => {
      const store = await make();
      await store.insert({ ...machineRecord('newer', '52:54:00:00:00:01', 2_000), uuid: 'shared', serial: 'To Be Filled' });
      await store.insert({ ...machineRecord('older', '52:54:00:00:00:02', 1_000), uuid: 'shared', serial: 'To Be Filled' });
      expect((await store.holder('mac', '52:54:00:00:00:01'))?.name).toBe('newer');
      expect((await store.holder('uuid', 'shared'))?.name).toBe('older');
      expect((await store.holder('serial', 'To Be Filled'))?.name).toBe('older');
      expect((await store.identify('', 'shared', ''))?.name).toBe('older');
      expect(await store.holder('serial', 'other')).toBeUndefined();
    });

    it('lists machines by name, all or in one state', async () => {
      const store = await make();
      await store.insert({ ...machineRecord('c', null), state: MachineState.Approved });
      await store.insert(machineRecord('a', null));
      await store.insert(machineRecord('B', null));
      await store.insert(machineRecord('b', null));
      expect((await store.list()).map((m) => m.name)).toEqual(['B', 'a', 'b', 'c']);
      expect((await store.list(MachineState.Pending)).map((m) => m.name)).toEqual(['B', 'a', 'b']);
      expect(await store.list(MachineState.Rejected)).toEqual([]);
    });

    it('refuses a second machine with a taken id, name or MAC, and keeps the first', async () => {
      const store = await make();
      const first = machineRecord('one', '52:54:00:00:00:01');
      await store.insert(first);
      await expect(store.insert({ ...machineRecord('two', null), id: first.id })).rejects.toThrow();
      await expect(store.insert({ ...machineRecord('one', '52:54:00:00:00:02'), id: 'm-other' })).rejects.toThrow();
      await expect(store.insert(machineRecord('two', '52:54:00:00:00:01'))).rejects.toThrow();
      expect(await store.list()).toEqual([first]);
      // Machines without a MAC (added by UUID or serial) are many.
      await store.insert(machineRecord('three', null));
      await store.insert(machineRecord('four', null));
      expect(await store.list()).toHaveLength(3);
    });

    it('changes only the fields given, and says when the machine is not there', async () => {
      const store = await make();
      const m = machineRecord('m', null);
      await store.insert(m);
      const before = Date.now();
      const approved = await store.update(m.id, { state: MachineState.Approved, labels: { role: 'db' }, approvedBy: 'alice', mac: '52:54:00:00:00:07' });
      expect(approved).toEqual({ ...m, state: MachineState.Approved, labels: { role: 'db' }, approvedBy: 'alice', mac: '52:54:00:00:00:07', updatedAt: approved!.updatedAt });
      expect(approved!.updatedAt).toBeGreaterThanOrEqual(before);
      expect(await store.get(m.id)).toEqual(approved);
      const reported = { hostname: 'm', macs: [], dmiUuid: '', serial: '' };
      expect(await store.update(m.id, { reported, nodeId: 'n-1' })).toMatchObject({ reported, nodeId: 'n-1', labels: { role: 'db' } });
      expect(await store.update(m.id, { reported: null, mac: null })).toMatchObject({ reported: null, mac: null, nodeId: 'n-1' });
      expect(await store.get(m.id)).toMatchObject({ reported: null, mac: null, nodeId: 'n-1', state: MachineState.Approved });
      expect(await store.update('m-none', { state: MachineState.Approved })).toBeUndefined();
      expect(await store.get('m-none')).toBeUndefined();
    });

    it('refuses a change to a name or MAC another machine has, and changes nothing', async () => {
      const store = await make();
      const a = machineRecord('a', '52:54:00:00:00:01');
      const b = machineRecord('b', '52:54:00:00:00:02');
      await store.insert(a);
      await store.insert(b);
      await expect(store.update(b.id, { name: 'a', profile: 'x' })).rejects.toThrow();
      await expect(store.update(b.id, { mac: a.mac, profile: 'x' })).rejects.toThrow();
      expect(await store.get(b.id)).toEqual(b);
      expect((await store.update(b.id, { name: 'c' }))?.name).toBe('c');
      expect(await store.nameTaken('b')).toBe(false);
    });

    it('removes a machine, and counts the machines each rule approved', async () => {
      const store = await make();
      for (const [name, by] of [['a', 'rule:web'], ['b', 'rule:web'], ['c', 'alice'], ['d', '']] as const) await store.insert({ ...machineRecord(name, null), approvedBy: by });
      expect(await store.approvedByCount('rule:web')).toBe(2);
      await store.remove('m-a');
      await store.remove('m-none');
      expect(await store.get('m-a')).toBeUndefined();
      expect(await store.find('a')).toBeUndefined();
      expect(await store.approvedByCount('rule:web')).toBe(1);
      expect(await store.approvedByCount('rule:db')).toBe(0);
      expect((await store.list()).map((m) => m.name)).toEqual(['b', 'c', 'd']);
    });

    it('keeps settings, the last value set', async () => {
      const store = await make();
      expect(await store.setting('pxe.config')).toBeUndefined();
      await store.setSetting('pxe.config', 'profiles: []\n');
      await store.setSetting('pxe.config.file', 'pxe.yaml');
      await store.setSetting('pxe.config', '');
      expect(await store.setting('pxe.config')).toBe('');
      expect(await store.setting('pxe.config.file')).toBe('pxe.yaml');
    });
  });
}
