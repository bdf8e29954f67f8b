// Machines that may network-boot (PXE), and small server settings such as the PXE config, in
// PostgreSQL: the MachineStore of several fleet-servers on one database. A machine's boot, its
// agent's enrollment and an operator's change may reach different servers at once, so `update`
// changes a machine under its row lock and keeps what the others changed.
import { machineValues, toMachineRecord, type MachineRecord, type MachineState, type MachineStore } from '../store';
import { inTransaction, type PgPool } from './pg-database';

type Row = Record<string, unknown>;

/** One query per field `holder` looks up (column names are never taken from values). */
const HOLDER = {
  mac: 'SELECT * FROM machines WHERE mac = $1 ORDER BY created_at, id COLLATE "C" LIMIT 1',
  uuid: 'SELECT * FROM machines WHERE uuid = $1 ORDER BY created_at, id COLLATE "C" LIMIT 1',
  serial: 'SELECT * FROM machines WHERE serial = $1 ORDER BY created_at, id COLLATE "C" LIMIT 1',
} as const;

/**
 * MachineStore in PostgreSQL. Names and MACs are unique in the table, so two servers adding the
 * same machine at once store one and refuse the other. Text is ordered byte by byte (COLLATE "C"),
 * as SQLite orders it.
 */
export class PgMachineStore implements MachineStore {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  /** Stores a new machine; refused (throws) when its id, name or MAC is taken. */
  async insert(m: MachineRecord): Promise<void> {
    await this.#pool.query(
      `INSERT INTO machines (id, name, mac, uuid, serial, profile, labels, state, node_id, created_at, updated_at, last_boot_at, last_boot_address, reported, approved_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
      machineValues(m),
    );
  }

  async get(id: string): Promise<MachineRecord | undefined> {
    return this.#one('SELECT * FROM machines WHERE id = $1', [id]);
  }

  /** By name, id or MAC (in any case). */
  async find(key: string): Promise<MachineRecord | undefined> {
    return this.#one('SELECT * FROM machines WHERE name = $1 OR id = $1 OR mac = $2 LIMIT 1', [key, key.toLowerCase()]);
  }

  /** The machine a boot request names: by MAC first, then UUID, then serial, in one query. */
  async identify(mac: string, uuid: string, serial: string): Promise<MachineRecord | undefined> {
    if (!mac && !uuid && !serial) return undefined;
    return this.#one(
      `SELECT * FROM machines WHERE mac = $1 OR uuid = $2 OR serial = $3
       ORDER BY coalesce(mac = $1, false) DESC, coalesce(uuid = $2, false) DESC, created_at, id COLLATE "C" LIMIT 1`,
      [mac || null, uuid || null, serial || null],
    );
  }

  /** The machine known by this MAC, UUID or serial, if any (the oldest when several share one). */
  async holder(field: 'mac' | 'uuid' | 'serial', value: string): Promise<MachineRecord | undefined> {
    return this.#one(HOLDER[field], [value]);
  }

  async list(state?: MachineState): Promise<MachineRecord[]> {
    const { rows } = await this.#pool.query<Row>('SELECT * FROM machines WHERE $1::text IS NULL OR state = $1 ORDER BY name COLLATE "C"', [state ?? null]);
    return rows.map(toMachineRecord);
  }

  async nameTaken(name: string): Promise<boolean> {
    return (await this.#pool.query('SELECT 1 FROM machines WHERE name = $1', [name])).rowCount !== 0;
  }

  /** Changes the fields given under the machine's row lock, so changes made meanwhile by another server are kept. */
  async update(id: string, fields: Partial<Omit<MachineRecord, 'id' | 'createdAt'>>): Promise<MachineRecord | undefined> {
    return inTransaction(this.#pool, async (client) => {
      const { rows } = await client.query<Row>('SELECT * FROM machines WHERE id = $1 FOR UPDATE', [id]);
      if (!rows[0]) return undefined;
      const m = { ...toMachineRecord(rows[0]), ...fields, updatedAt: Date.now() };
      await client.query(
        `UPDATE machines SET name = $2, mac = $3, uuid = $4, serial = $5, profile = $6, labels = $7, state = $8, node_id = $9, created_at = $10, updated_at = $11,
           last_boot_at = $12, last_boot_address = $13, reported = $14, approved_by = $15 WHERE id = $1`,
        machineValues(m),
      );
      return m;
    });
  }

  async remove(id: string): Promise<void> {
    await this.#pool.query('DELETE FROM machines WHERE id = $1', [id]);
  }

  /** How many machines a rule has approved. */
  async approvedByCount(approvedBy: string): Promise<number> {
    return (await this.#pool.query<{ n: number }>('SELECT count(*) AS n FROM machines WHERE approved_by = $1', [approvedBy])).rows[0]!.n;
  }

  async setting(key: string): Promise<string | undefined> {
    return (await this.#pool.query<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key])).rows[0]?.value;
  }

  /** Sets a server setting, replacing its value. */
  async setSetting(key: string, value: string): Promise<void> {
    await this.#pool.query('INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
  }

  async #one(sql: string, values: unknown[]): Promise<MachineRecord | undefined> {
    const { rows } = await this.#pool.query<Row>(sql, values);
    return rows[0] && toMachineRecord(rows[0]);
  }
}
