// Join tokens (for agents) and API tokens (for operators). Only hashes of the secrets are stored.
import type { Labels } from '../../common/labels';
import type { Db } from './database';

export interface JoinTokenRecord {
  id: string;
  secretHash: string;
  description: string;
  labels: Labels;
  createdAt: number;
  createdBy: string;
  expiresAt: number;
  maxUses: number;
  used: number;
  revokedAt: number | null;
  /** Set on tokens minted for one PXE machine: only that machine may enroll with it. */
  machineId?: string | null;
}

export const Role = { Viewer: 'viewer', Operator: 'operator', Admin: 'admin' } as const;
export type Role = (typeof Role)[keyof typeof Role];

export interface ApiTokenRecord {
  id: string;
  secretHash: string;
  role: Role;
  description: string;
  /** Label selector the token is limited to ('' = every node). */
  scope: string;
  createdAt: number;
  revokedAt: number | null;
}

/** An api_tokens row as both stores return it. */
export interface ApiRow {
  id: string;
  secret_hash: string;
  role: Role;
  description: string;
  scope: string;
  created_at: number;
  revoked_at: number | null;
}

/** An api_tokens row as a record (shared by the SQLite and PostgreSQL stores). */
export const toApiToken = (r: ApiRow): ApiTokenRecord => ({
  id: r.id,
  secretHash: r.secret_hash,
  role: r.role,
  description: r.description,
  scope: r.scope,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
});

/** A join_tokens row as both stores return it (labels as JSON text). */
export interface JoinRow {
  id: string;
  secret_hash: string;
  description: string;
  labels: string;
  created_at: number;
  created_by: string;
  expires_at: number;
  max_uses: number;
  used: number;
  revoked_at: number | null;
  machine_id: string | null;
}

/** A join_tokens row as a record (shared by the SQLite and PostgreSQL stores). */
export function toJoinToken(r: JoinRow): JoinTokenRecord {
  return {
    id: r.id,
    secretHash: r.secret_hash,
    description: r.description,
    labels: JSON.parse(r.labels) as Labels,
    createdAt: r.created_at,
    createdBy: r.created_by,
    expiresAt: r.expires_at,
    maxUses: r.max_uses,
    used: r.used,
    revokedAt: r.revoked_at,
    machineId: r.machine_id,
  };
}

/**
 * A new join token's column values in the order `id, secret_hash, description, labels, created_at,
 * created_by, expires_at, max_uses, used, revoked_at, machine_id`.
 */
export function joinValues(t: JoinTokenRecord): unknown[] {
  return [t.id, t.secretHash, t.description, JSON.stringify(t.labels), t.createdAt, t.createdBy, t.expiresAt, t.maxUses, t.used, t.revokedAt, t.machineId ?? null];
}

/** A new API token's column values in the order `id, secret_hash, role, description, scope, created_at, revoked_at`. */
export function apiValues(t: ApiTokenRecord): unknown[] {
  return [t.id, t.secretHash, t.role, t.description, t.scope, t.createdAt, t.revokedAt];
}

/** Where tokenStore records live; every call is async so a shared database can stand behind it. */
export interface TokenStore {
  insertJoin(t: JoinTokenRecord): Promise<void>;
  getJoin(id: string): Promise<JoinTokenRecord | undefined>;
  /** Every join token, newest first, then by id (revoked and used-up ones included). */
  listJoin(): Promise<JoinTokenRecord[]>;
  /**
   * Counts one use if the token still has one left; false when it was used up meanwhile. Servers
   * sharing the store never count more than `maxUses` between them. Expiry and revocation are the
   * caller's to check (server/enrollment.ts does, before).
   */
  consumeJoin(id: string): Promise<boolean>;
  /** Gives back a use counted by consumeJoin (the enrollment it was for did not happen). */
  releaseJoin(id: string): Promise<void>;
  /** Revokes a machine's unused tokens (a newly minted one replaces them). */
  revokeMachineTokens(machineId: string, at: number): Promise<void>;
  /** Revokes a join token; one revoked already keeps the time it was revoked first. */
  revokeJoin(id: string, at: number): Promise<void>;
  insertApi(t: ApiTokenRecord): Promise<void>;
  /**
   * Inserts `t` only when there is no API token at all (the first admin, at first start); false
   * when there is one. Of several servers starting at once on one empty database, one inserts.
   */
  insertFirstApi(t: ApiTokenRecord): Promise<boolean>;
  getApi(id: string): Promise<ApiTokenRecord | undefined>;
  /** Every API token, newest first (revoked ones included). */
  listApi(): Promise<ApiTokenRecord[]>;
  /** Revokes an API token; false when there is none by that id, or it was revoked already. */
  revokeApi(id: string, at: number): Promise<boolean>;
}

/** TokenStore in SQLite (better-sqlite3): the embedded default. */
export class SqliteTokenStore implements TokenStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async insertJoin(t: JoinTokenRecord): Promise<void> {
    this.#db
      .prepare(
        `INSERT INTO join_tokens (id, secret_hash, description, labels, created_at, created_by, expires_at, max_uses, used, revoked_at, machine_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(...joinValues(t));
  }

  async getJoin(id: string): Promise<JoinTokenRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM join_tokens WHERE id = ?').get(id) as JoinRow | undefined;
    return row && toJoinToken(row);
  }

  async listJoin(): Promise<JoinTokenRecord[]> {
    return (this.#db.prepare('SELECT * FROM join_tokens ORDER BY created_at DESC, id').all() as JoinRow[]).map(toJoinToken);
  }

  /** Counts one use if the token still has one left; false when it was used up meanwhile. */
  async consumeJoin(id: string): Promise<boolean> {
    return this.#db.prepare('UPDATE join_tokens SET used = used + 1 WHERE id = ? AND used < max_uses').run(id).changes === 1;
  }

  async releaseJoin(id: string): Promise<void> {
    this.#db.prepare('UPDATE join_tokens SET used = used - 1 WHERE id = ? AND used > 0').run(id);
  }

  /** Revokes a machine's unused tokens (a newly minted one replaces them). */
  async revokeMachineTokens(machineId: string, at: number): Promise<void> {
    this.#db.prepare('UPDATE join_tokens SET revoked_at = ? WHERE machine_id = ? AND revoked_at IS NULL AND used < max_uses').run(at, machineId);
  }

  async revokeJoin(id: string, at: number): Promise<void> {
    this.#db.prepare('UPDATE join_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id);
  }

  async insertApi(t: ApiTokenRecord): Promise<void> {
    this.#db
      .prepare('INSERT INTO api_tokens (id, secret_hash, role, description, scope, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(...apiValues(t));
  }

  async insertFirstApi(t: ApiTokenRecord): Promise<boolean> {
    // One statement: SQLite runs it alone, so no other insert comes between the check and the row.
    return (
      this.#db
        .prepare('INSERT INTO api_tokens (id, secret_hash, role, description, scope, created_at, revoked_at) SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM api_tokens)')
        .run(...apiValues(t)).changes === 1
    );
  }

  async getApi(id: string): Promise<ApiTokenRecord | undefined> {
    const r = this.#db.prepare('SELECT * FROM api_tokens WHERE id = ?').get(id) as ApiRow | undefined;
    return r && toApiToken(r);
  }

  /** Every API token, newest first (revoked ones included). */
  async listApi(): Promise<ApiTokenRecord[]> {
    return (this.#db.prepare('SELECT * FROM api_tokens ORDER BY created_at DESC, id').all() as ApiRow[]).map(toApiToken);
  }

  async revokeApi(id: string, at: number): Promise<boolean> {
    return this.#db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id).changes === 1;
  }
}
