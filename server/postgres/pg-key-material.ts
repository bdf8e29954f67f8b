// Key material in PostgreSQL, shared by every replica: one row per item of server/key-material.ts
// (the CA, the server certificate, the command-signing key, the NATS keys), sealed with
// AES-256-GCM under the master key each replica reads from FLEET_MASTER_KEY_FILE. Every row has its
// own random nonce and the item's name as associated data, so a row copied under another name
// does not open; it also names the master key that sealed it (by an id derived from it), so a
// replica given another master key is told so instead of getting garbage keys. Creation is
// INSERT … ON CONFLICT DO NOTHING and a read of what won; replacement a compare-and-swap under a
// row lock.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { StartupError } from '../errors';
import type { KeyItem, KeyMaterialStore } from '../key-material';
import { inTransaction, type PgPool } from './pg-database';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HOW_TO_MAKE = 'make one with `openssl rand -hex 32 > FILE && chmod 600 FILE`, and give every replica the same one';

/** A sealed item as it is stored. */
interface SealedRow {
  key_id: string;
  nonce: Buffer;
  sealed: Buffer;
}

/** The master key (32 bytes) that seals the key material, and where it came from. */
export class MasterKey {
  readonly #key: Buffer;
  /** Names the key without revealing it: the first 8 bytes of HMAC-SHA256(key, "fleet master key id"), hex. */
  readonly id: string;
  /** Where the key came from (its file), for messages. */
  readonly source: string;

  /** @throws StartupError when `key` is not 32 bytes */
  constructor(key: Uint8Array, source: string) {
    if (key.length !== 32) throw new StartupError(`the master key from ${source} is ${key.length} bytes; it must be 32`);
    this.#key = Buffer.from(key);
    this.source = source;
    this.id = createHmac('sha256', this.#key).update('fleet master key id').digest('hex').slice(0, 16);
  }

  /** Encrypts `text` with a fresh random nonce, authenticating `name` with it. */
  seal(name: string, text: string): { nonce: Buffer; sealed: Buffer } {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(name));
    return { nonce, sealed: Buffer.concat([cipher.update(text, 'utf8'), cipher.final(), cipher.getAuthTag()]) };
  }

  /**
   * Decrypts what `seal(name, …)` made.
   * @throws Error when the bytes, the nonce or the name are not the ones sealed, or the key is another
   */
  open(name: string, nonce: Buffer, sealed: Buffer): string {
    if (sealed.length < TAG_BYTES) throw new Error('too short to be sealed');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(name));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  }
}

/**
 * Reads the master key from `file` (FLEET_MASTER_KEY_FILE): 32 random bytes written as 64 hex
 * digits (white space around them is ignored), in a file that only its owner may read or write.
 * @throws StartupError when `file` is not given, cannot be read, is open to group or others, or
 *   does not hold 64 hex digits
 * @example readMasterKey(readEnv('FLEET_MASTER_KEY_FILE'))
 */
export function readMasterKey(file: string | undefined): MasterKey {
  if (!file) throw new StartupError(`FLEET_MASTER_KEY_FILE is not set: with PostgreSQL the CA and the keys are stored encrypted under a master key kept in a file (${HOW_TO_MAKE})`);
  let text: string;
  try {
    const { mode } = statSync(file);
    if (mode & 0o077) {
      throw new StartupError(`the master key file ${file} (FLEET_MASTER_KEY_FILE) is open to other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); make it readable by the server user only: chmod 600 ${file}`);
    }
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    if (err instanceof StartupError) throw err;
    throw new StartupError(`cannot read the master key file ${file} (FLEET_MASTER_KEY_FILE): ${(err as Error).message}`, err);
  }
  if (!/^[0-9a-fA-F]{64}$/.test(text)) {
    // Say what is wrong with it without showing any of it.
    const found = /^[0-9a-fA-F]*$/.test(text) ? `${text.length} hex digits` : `${text.length} characters, not all hex digits`;
    throw new StartupError(`the master key file ${file} (FLEET_MASTER_KEY_FILE) must hold 32 bytes as 64 hex digits; it holds ${found} (${HOW_TO_MAKE})`);
  }
  return new MasterKey(Buffer.from(text, 'hex'), file);
}

/** The key material in the `key_material` table, sealed under `masterKey`. */
export class PgKeyMaterial implements KeyMaterialStore {
  readonly #pool: PgPool;
  readonly #key: MasterKey;

  constructor(pool: PgPool, masterKey: MasterKey) {
    this.#pool = pool;
    this.#key = masterKey;
  }

  async get(item: KeyItem): Promise<string | undefined> {
    const { rows } = await this.#pool.query<SealedRow>('SELECT key_id, nonce, sealed FROM key_material WHERE name = $1', [item]);
    return rows[0] && this.#open(item, rows[0]);
  }

  async createIfAbsent(item: KeyItem, make: () => string | Promise<string>): Promise<{ value: string; created: boolean }> {
    const found = await this.get(item);
    if (found !== undefined) return { value: found, created: false };
    const value = await make();
    const { nonce, sealed } = this.#key.seal(item, value);
    // A replica inserting the same name at once waits for this row's commit, then inserts nothing.
    const inserted = await this.#pool.query(
      'INSERT INTO key_material (name, key_id, nonce, sealed, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING',
      [item, this.#key.id, nonce, sealed, Date.now()],
    );
    if (inserted.rowCount === 1) return { value, created: true };
    // Another replica stored it first: every replica uses that one. Rows are never deleted.
    const won = await this.get(item);
    if (won === undefined) throw new StartupError(`${item} is neither stored nor storable in the key_material table`);
    return { value: won, created: false };
  }

  async replace(item: KeyItem, expected: string, next: string): Promise<boolean> {
    return await inTransaction(this.#pool, async (client) => {
      const { rows } = await client.query<SealedRow>('SELECT key_id, nonce, sealed FROM key_material WHERE name = $1 FOR UPDATE', [item]);
      if (!rows[0] || this.#open(item, rows[0]) !== expected) return false;
      const { nonce, sealed } = this.#key.seal(item, next);
      await client.query('UPDATE key_material SET key_id = $2, nonce = $3, sealed = $4, updated_at = $5 WHERE name = $1', [item, this.#key.id, nonce, sealed, Date.now()]);
      return true;
    });
  }

  #open(item: KeyItem, row: SealedRow): string {
    if (row.key_id !== this.#key.id) {
      throw new StartupError(
        `the key material in the database (${item}) was encrypted under another master key (id ${row.key_id}) than the one in ${this.#key.source} (id ${this.#key.id}): give every replica the FLEET_MASTER_KEY_FILE the database was first used with`,
      );
    }
    try {
      return this.#key.open(item, row.nonce, row.sealed);
    } catch (err) {
      throw new StartupError(`the key material in the database (${item}) does not decrypt with the master key in ${this.#key.source}, which sealed it: its row was altered or copied from another item; restore the key_material table from a backup`, err);
    }
  }
}
