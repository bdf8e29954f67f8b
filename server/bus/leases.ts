// Who drives a job or a rollout. One embedded server drives everything it starts or finds
// unfinished at start; with several replicas, a lease in the shared database says which one does,
// and another takes over when the holder's lease runs out.

/** Claims on driving a thing (a job, a rollout), by its id. */
export interface DriverLeases {
  /** True when this server may drive `id` now (it holds or just took the lease). */
  claim(id: string): Promise<boolean>;
  /** This server no longer drives `id` (finished, or stopping). */
  release(id: string): Promise<void>;
  /**
   * Calls `listener` with each id whose lease this server held and lost (it could not renew it in
   * time, and another server may have taken it over): it must stop driving that thing at once.
   */
  onLost(listener: (id: string) => void): void;
}

/** The embedded leases: this server drives everything; the set of what it drives is kept for tests and stop. */
export class LocalLeases implements DriverLeases {
  readonly #held = new Set<string>();

  async claim(id: string): Promise<boolean> {
    this.#held.add(id);
    return true;
  }

  async release(id: string): Promise<void> {
    this.#held.delete(id);
  }

  /** The embedded server never loses a lease: nobody else could take it. */
  onLost(): void {}

  /** The ids this server drives now. */
  held(): string[] {
    return [...this.#held];
  }
}
