// Failed sign-ins per remote address (API tokens on gRPC calls and the web page, join tokens at
// enrollment). An address past its limit is held back: its wrong tokens are answered "too many
// failed sign-ins, try again in N s" (after a pause, without a check being counted) instead of
// "not valid". A valid token is never refused, whatever its address did: many people share an
// address (a bastion, a NAT, CI runners), and a 160-bit secret cannot be guessed anyway, so
// locking the address would only let anyone there keep the owner out.
//
// `SignInLimits` is the seam (docs/architecture.md, "State shared by replicas"): the embedded
// server counts in memory (MemorySignInLimits); several replicas would count in a shared store.
import { TooManySignInsError } from './errors';

/** How long a held-back address waits for each refusal: slows a guesser that ignores Retry-After. */
export const HELD_BACK_PAUSE_MS = 1000;

/** What a limit is: at most `max` failures per address within `windowMs` (a sliding window). */
export interface SignInLimitOptions {
  max: number;
  windowMs: number;
}

/**
 * Failed sign-ins per address in a sliding window. After `max` failures within `windowMs` the
 * address is held back until its oldest counted failure ages out.
 *
 * A shared implementation must make `failed` one atomic step across replicas (count-unless-full),
 * so that replicas together allow no more than `max` failures per window.
 */
export interface SignInLimits {
  /**
   * Counts a failed sign-in from the address or, once the address is held back, rejects with
   * TooManySignInsError (its Retry-After in seconds) for the caller to answer instead of its own
   * refusal. A refused attempt is not counted: the address is free again as its counted failures age out.
   * @example catch (err) { await limits.failed(address); throw err; }
   */
  failed(address: string): Promise<void>;
}

/** The refusal of an address whose oldest failure in the window was at `oldest`: it waits until that one ages out. */
export function heldBack(oldest: number, windowMs: number, now: number): TooManySignInsError {
  return new TooManySignInsError(Math.max(1, Math.ceil((oldest + windowMs - now) / 1000)));
}

/** The embedded SignInLimits: failure times per address in memory, swept as it goes. */
export class MemorySignInLimits implements SignInLimits {
  readonly #failures = new Map<string, number[]>();
  readonly #max: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  #sweptAt: number;

  constructor(options: Partial<SignInLimitOptions> & { now?: () => number } = {}) {
    this.#max = options.max ?? 5;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#now = options.now ?? Date.now;
    this.#sweptAt = this.#now();
  }

  /** Addresses with failures in the window (what the map holds after a sweep). */
  get size(): number {
    return this.#failures.size;
  }

  #recent(address: string): number[] {
    const since = this.#now() - this.#windowMs;
    const list = (this.#failures.get(address) ?? []).filter((t) => t > since);
    if (list.length) this.#failures.set(address, list);
    else this.#failures.delete(address);
    return list;
  }

  async failed(address: string): Promise<void> {
    const recent = this.#recent(address);
    if (recent.length >= this.#max) {
      throw heldBack(recent[0]!, this.#windowMs, this.#now());
    }
    recent.push(this.#now());
    this.#failures.set(address, recent);
    // Once a window, forget addresses whose failures aged out, so the map holds only recent ones.
    if (this.#now() - this.#sweptAt >= this.#windowMs) this.sweep();
  }

  /** Drops addresses whose failures have all aged out. */
  sweep(): void {
    this.#sweptAt = this.#now();
    for (const address of [...this.#failures.keys()]) this.#recent(address);
  }
}
