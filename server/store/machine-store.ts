// Machines that may network-boot (PXE), and small server settings such as the PXE config.
import type { Labels } from '../../common/labels';
import type { MachineIdentity } from '../../proto/gen/fleet/v1/common';
import type { Db } from './database';

export const MachineState = {
  Registered: 'registered',
  Pending: 'pending',
  Approved: 'approved',
  Rejected: 'rejected',
  Provisioned: 'provisioned',
} as const;
export type MachineState = (typeof MachineState)[keyof typeof MachineState];

export interface MachineRecord {
  id: string;
  name: string;
  mac: string | null;
  uuid: string | null;
  serial: string | null;
  profile: string;
  labels: Labels;
  state: MachineState;
  nodeId: string | null;
  createdAt: number;
  updatedAt: number;
  lastBootAt: number | null;
  lastBootAddress: string;
  reported: MachineIdentity | null;
  approvedBy: string;
}

type Row = Record<string, unknown>;

/** A machines row as a MachineRecord (shared with the PostgreSQL driver). */
export const toMachineRecord = (r: Row): MachineRecord => {
  const reported = JSON.parse(r.reported as string) as Partial<MachineIdentity>;
  return {
    id: r.id as string,
    name: r.name as string,
    mac: r.mac as string | null,
    uuid: r.uuid as string | null,
    serial: r.serial as string | null,
    profile: r.profile as string,
    labels: JSON.parse(r.labels as string) as Labels,
    state: r.state as MachineState,
    nodeId: r.node_id as string | null,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
    lastBootAt: r.last_boot_at as number | null,
    lastBootAddress: r.last_boot_address as string,
    reported: reported.hostname !== undefined ? (reported as MachineIdentity) : null,
    approvedBy: r.approved_by as string,
  };
};

/**
 * A machine's column values in the table's column order (id, name, mac, uuid, serial, profile,
 * labels, state, node_id, created_at, updated_at, last_boot_at, last_boot_address, reported,
 * approved_by), JSON encoded where the column holds JSON (shared with the PostgreSQL driver).
 */
export const machineValues = (m: MachineRecord): unknown[] => [
  m.id,
  m.name,
  m.mac,
  m.uuid,
  m.serial,
  m.profile,
  JSON.stringify(m.labels),
  m.state,
  m.nodeId,
  m.createdAt,
  m.updatedAt,
  m.lastBootAt,
  m.lastBootAddress,
  JSON.stringify(m.reported ?? {}),
  m.approvedBy,
];

/** Where machineStore records live; every call is async so a shared database can stand behind it. */
export interface MachineStore {
  /** Stores a new machine; refused (throws) when its id, name or MAC is taken. */
  insert(m: MachineRecord): Promise<void>;
  get(id: string): Promise<MachineRecord | undefined>;
  /** By name, id or MAC (in any case). */
  find(key: string): Promise<MachineRecord | undefined>;
  /** The machine a boot request names: by MAC first, then UUID, then serial (all hints; empty ones are not looked up). */
  identify(mac: string, uuid: string, serial: string): Promise<MachineRecord | undefined>;
  /** The machine known by this MAC, UUID or serial, if any (the oldest when several share a UUID or serial). */
  holder(field: 'mac' | 'uuid' | 'serial', value: string): Promise<MachineRecord | undefined>;
  /** Every machine, or those in `state`, by name. */
  list(state?: MachineState): Promise<MachineRecord[]>;
  nameTaken(name: string): Promise<boolean>;
  /**
   * Changes the fields given (and `updatedAt` to now) and returns the machine as it is now, or
   * undefined when there is none. Refused (throws, nothing changed) when the new name or MAC is
   * another machine's. Changes of other fields made meanwhile (by another server) are kept.
   */
  update(id: string, fields: Partial<Omit<MachineRecord, 'id' | 'createdAt'>>): Promise<MachineRecord | undefined>;
  remove(id: string): Promise<void>;
  /** How many machines a rule has approved. */
  approvedByCount(approvedBy: string): Promise<number>;
  setting(key: string): Promise<string | undefined>;
  /** Sets a server setting, replacing its value. */
  setSetting(key: string, value: string): Promise<void>;
}

/** MachineStore in SQLite (better-sqlite3): the embedded default. */
export class SqliteMachineStore implements MachineStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async insert(m: MachineRecord): Promise<void> {
    this.#db
      .prepare(
        `INSERT INTO machines (id, name, mac, uuid, serial, profile, labels, state, node_id, created_at, updated_at, last_boot_at, last_boot_address, reported, approved_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(...machineValues(m));
  }

  async get(id: string): Promise<MachineRecord | undefined> {
    return this.#get(id);
  }

  #get(id: string): MachineRecord | undefined {
    const row = this.#db.prepare('SELECT * FROM machines WHERE id = ?').get(id) as Row | undefined;
    return row && toMachineRecord(row);
  }

  /** By name, id or MAC. */
  async find(key: string): Promise<MachineRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM machines WHERE name = ? OR id = ? OR mac = ? LIMIT 1').get(key, key, key.toLowerCase()) as Row | undefined;
    return row && toMachineRecord(row);
  }

  /** The machine a boot request names: by MAC first, then UUID, then serial (all hints). */
  async identify(mac: string, uuid: string, serial: string): Promise<MachineRecord | undefined> {
    const by = (field: 'mac' | 'uuid' | 'serial', value: string) => (value ? this.#holder(field, value) : undefined);
    return by('mac', mac) ?? by('uuid', uuid) ?? by('serial', serial);
  }

  /** The machine known by this MAC, UUID or serial, if any. */
  async holder(field: 'mac' | 'uuid' | 'serial', value: string): Promise<MachineRecord | undefined> {
    return this.#holder(field, value);
  }

  #holder(field: 'mac' | 'uuid' | 'serial', value: string): MachineRecord | undefined {
    const row = this.#db.prepare(`SELECT * FROM machines WHERE ${field} = ? ORDER BY created_at, id LIMIT 1`).get(value) as Row | undefined;
    return row && toMachineRecord(row);
  }

  async list(state?: MachineState): Promise<MachineRecord[]> {
    const rows = (state ? this.#db.prepare('SELECT * FROM machines WHERE state = ? ORDER BY name').all(state) : this.#db.prepare('SELECT * FROM machines ORDER BY name').all()) as Row[];
    return rows.map(toMachineRecord);
  }

  async nameTaken(name: string): Promise<boolean> {
    return this.#db.prepare('SELECT 1 FROM machines WHERE name = ?').get(name) !== undefined;
  }

  async update(id: string, fields: Partial<Omit<MachineRecord, 'id' | 'createdAt'>>): Promise<MachineRecord | undefined> {
    const current = this.#get(id);
    if (!current) return undefined;
    const m = { ...current, ...fields, updatedAt: Date.now() };
    this.#db
      .prepare(
        `UPDATE machines SET name = ?, mac = ?, uuid = ?, serial = ?, profile = ?, labels = ?, state = ?, node_id = ?, updated_at = ?,
           last_boot_at = ?, last_boot_address = ?, reported = ?, approved_by = ? WHERE id = ?`,
      )
      .run(m.name, m.mac, m.uuid, m.serial, m.profile, JSON.stringify(m.labels), m.state, m.nodeId, m.updatedAt, m.lastBootAt, m.lastBootAddress, JSON.stringify(m.reported ?? {}), m.approvedBy, id);
    return m;
  }

  async remove(id: string): Promise<void> {
    this.#db.prepare('DELETE FROM machines WHERE id = ?').run(id);
  }

  /** How many machines a rule has approved. */
  async approvedByCount(approvedBy: string): Promise<number> {
    return (this.#db.prepare('SELECT COUNT(*) AS n FROM machines WHERE approved_by = ?').get(approvedBy) as { n: number }).n;
  }

  async setting(key: string): Promise<string | undefined> {
    return (this.#db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  async setSetting(key: string, value: string): Promise<void> {
    this.#db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }
}
