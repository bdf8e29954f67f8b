// The MachineStore contract on a real PostgreSQL, and what several servers changing one machine
// at once rely on: each change keeps what the other changed, and one MAC makes one machine.
import { describe, expect, it } from 'vitest';
import { MachineState } from '../store';
import { machineRecord, machineStoreContract } from '../store/test-machine-store';
import { PgMachineStore } from './pg-machine-store';
import { usePostgres } from './test-databases';

const pg = usePostgres();

machineStoreContract('PgMachineStore', async () => new PgMachineStore(await pg.empty()));

describe('PgMachineStore with several servers', () => {
  it('keeps both of two changes that two servers make to one machine at once', async () => {
    const [a, b] = [new PgMachineStore(await pg.empty()), new PgMachineStore(await pg.pool())];
    const machines = Array.from({ length: 20 }, (_, i) => machineRecord(`m${i}`, null));
    for (const m of machines) await a.insert(m);
    // A boot reaches one server while the operator's approval reaches the other.
    await Promise.all(machines.flatMap((m) => [a.update(m.id, { lastBootAt: 7, lastBootAddress: '10.0.0.7' }), b.update(m.id, { state: MachineState.Approved, approvedBy: 'alice' })]));
    for (const m of await a.list()) expect(m).toMatchObject({ lastBootAt: 7, lastBootAddress: '10.0.0.7', state: MachineState.Approved, approvedBy: 'alice' });
  });

  it('stores one machine when two servers discover the same MAC at once', async () => {
    const [a, b] = [new PgMachineStore(await pg.empty()), new PgMachineStore(await pg.pool())];
    const results = await Promise.allSettled([a.insert(machineRecord('pending-1', '52:54:00:00:00:01')), b.insert({ ...machineRecord('pending-1b', '52:54:00:00:00:01'), id: 'm-other' })]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(await a.list()).toHaveLength(1);
  });
});
