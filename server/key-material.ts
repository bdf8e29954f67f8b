// The server's key material behind one small seam: the CA, the server certificate and its key,
// the command-signing key and the NATS operator and accounts, each a named text item. Replicas
// that share a database must share these items too (agents pin the CA and the signing key, brokers
// trust the NATS operator), so the PKI and the NATS authority read and create them only through a
// KeyMaterialStore. `LocalKeyMaterial` keeps them as files in the data directory, as fleet always
// has; server/postgres has the shared one (encrypted under a master key).
import { readFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createFileAtomic, writeFileAtomic } from '../common/atomic-write';

/**
 * Every item, named by its path under the data directory, and whether it is a secret (a private
 * key or seed: mode 0600 as a file) or public (a certificate or a JWT: 0644).
 */
export const KEY_ITEMS = {
  'pki/ca.key': 'secret',
  'pki/ca.crt': 'public',
  'pki/server.key': 'secret',
  'pki/server.crt': 'public',
  'pki/command-signing.key': 'secret',
  'nats/operator.nk': 'secret',
  'nats/account.nk': 'secret',
  'nats/system.nk': 'secret',
  'nats/operator.jwt': 'public',
  'nats/account.jwt': 'public',
  'nats/system.jwt': 'public',
} as const satisfies Record<string, 'secret' | 'public'>;

/** The name of one item of key material. */
export type KeyItem = keyof typeof KEY_ITEMS;

/**
 * Named items of key material, each a text (a PEM, a seed, a JWT) kept exactly as given.
 * Items are created once and read by every replica; only the server certificate is replaced
 * (re-issued), and only by compare-and-swap so replicas never undo each other's change.
 */
export interface KeyMaterialStore {
  /** The item's text, or undefined when it was never created. */
  get(item: KeyItem): Promise<string | undefined>;
  /**
   * The item's text, made with `make` and stored when it does not exist yet. Atomic across
   * replicas: when several create the same item at once exactly one text is stored, every caller
   * gets that one back, and `created` is true for the caller whose text it is.
   * `make` may run and its text be discarded when another caller wins.
   */
  createIfAbsent(item: KeyItem, make: () => string | Promise<string>): Promise<{ value: string; created: boolean }>;
  /**
   * Replaces the item's text with `next` if it is still `expected` (compare-and-swap).
   * @returns false, changing nothing, when the item holds something else or does not exist
   */
  replace(item: KeyItem, expected: string, next: string): Promise<boolean>;
}

/**
 * Key material as files under the data directory: `DATA/pki/ca.key`, `DATA/nats/operator.nk`, …
 * (directories 0700, secrets 0600, the rest 0644), the layout fleet has always used. A file is
 * created by a hard link of its complete temporary copy (never half-written, never overwritten),
 * and replaced by a rename. One fleet-server uses a data directory; within it, replace is a
 * synchronous read-compare-write, which nothing else in the process interleaves with.
 */
export class LocalKeyMaterial implements KeyMaterialStore {
  readonly #dataDir: string;

  /** @param dataDir the server's data directory (FLEET_DATA) */
  constructor(dataDir: string) {
    this.#dataDir = dataDir;
  }

  /** The file that holds `item`. */
  fileOf(item: KeyItem): string {
    return join(this.#dataDir, item);
  }

  async get(item: KeyItem): Promise<string | undefined> {
    return this.#read(item);
  }

  async createIfAbsent(item: KeyItem, make: () => string | Promise<string>): Promise<{ value: string; created: boolean }> {
    const found = this.#read(item);
    if (found !== undefined) return { value: found, created: false };
    const value = await make();
    const file = this.fileOf(item);
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    if (createFileAtomic(file, value, { mode: modeOf(item) })) return { value, created: true };
    return { value: readFileSync(file, 'utf8'), created: false };
  }

  async replace(item: KeyItem, expected: string, next: string): Promise<boolean> {
    if (this.#read(item) !== expected) return false;
    writeFileAtomic(this.fileOf(item), next, { mode: modeOf(item) });
    return true;
  }

  #read(item: KeyItem): string | undefined {
    try {
      return readFileSync(this.fileOf(item), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
}

function modeOf(item: KeyItem): number {
  return KEY_ITEMS[item] === 'secret' ? 0o600 : 0o644;
}

/** The store a caller means: a data directory's files, or the store given. */
export function keyMaterialOf(where: string | KeyMaterialStore): KeyMaterialStore {
  return typeof where === 'string' ? new LocalKeyMaterial(where) : where;
}
