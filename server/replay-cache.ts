// What a retried request gets back: the answer given to the first one, kept for a while under a
// key made from the request (enrollment: the join token and the CSR's key). An agent whose
// Enroll timed out after the server had enrolled it retries with the same key and gets the same
// node, instead of a duplicate or a refusal for a used-up token.
//
// `ReplayCache` is the seam (docs/architecture.md, "State shared by replicas"): the embedded
// server keeps answers in memory (MemoryReplayCache); replicas would share them, since a retry may
// reach another replica than the first attempt.

/**
 * Answers remembered by key for a limited time.
 *
 * A shared implementation must make an answer visible to every replica once `remember` resolves,
 * never return one past its time to live, and keep the value as given (the embedded one keeps
 * the object; a shared one stores it as JSON, so values are plain data, or come with a codec
 * for what JSON does not keep, such as bytes).
 */
export interface ReplayCache<T> {
  /** The answer remembered under `key`, unless its time is up. */
  recall(key: string): Promise<T | undefined>;
  /** Remembers `value` under `key` for `ttlMs` (replacing an earlier answer under that key). */
  remember(key: string, value: T, ttlMs: number): Promise<void>;
}

/** The embedded ReplayCache: answers in a map, oldest dropped first once over `max`. */
export class MemoryReplayCache<T> implements ReplayCache<T> {
  /** Insertion order is expiry order for one ttl; a longer-lived entry only delays the sweep. */
  readonly #entries = new Map<string, { until: number; value: T }>();
  readonly #max: number;
  readonly #now: () => number;

  constructor(options: { max?: number; now?: () => number } = {}) {
    this.#max = options.max ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  /** Answers held (expired ones not yet dropped included). */
  get size(): number {
    return this.#entries.size;
  }

  async recall(key: string): Promise<T | undefined> {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.until <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  async remember(key: string, value: T, ttlMs: number): Promise<void> {
    const now = this.#now();
    // Oldest first: drop what has expired, and what is over the cap.
    for (const [k, v] of this.#entries) {
      if (v.until > now && this.#entries.size < this.#max) break;
      this.#entries.delete(k);
    }
    this.#entries.delete(key);
    this.#entries.set(key, { until: now + ttlMs, value });
  }
}
