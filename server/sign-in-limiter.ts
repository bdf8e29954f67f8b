// Failed sign-ins per remote address (API tokens on gRPC calls and the web page, join tokens at
// enrollment). An address past its limit is held back: its wrong tokens are answered "too many
// failed sign-ins, try again in N s" (after a pause, without a check being counted) instead of
// "not valid". A valid token is never refused, whatever its address did: many people share an
// address (a bastion, a NAT, CI runners), and a 160-bit secret cannot be guessed anyway, so
// locking the address would only let anyone there keep the owner out.
import { TooManySignInsError } from './errors';

/** How long a held-back address waits for each refusal: slows a guesser that ignores Retry-After. */
export const HELD_BACK_PAUSE_MS = 1000;

/**
 * Failed sign-ins per remote address in a sliding window: after `max` failures within `windowMs`
 * the address is held back (TooManySignInsError with Retry-After) until the oldest one ages out.
 */
export class SignInLimiter {
  readonly #failures = new Map<string, number[]>();
  readonly #max: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  #counted = 0;

  constructor(options: { max?: number; windowMs?: number; now?: () => number } = {}) {
    this.#max = options.max ?? 5;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  #recent(address: string): number[] {
    const since = this.#now() - this.#windowMs;
    const list = (this.#failures.get(address) ?? []).filter((t) => t > since);
    if (list.length) this.#failures.set(address, list);
    else this.#failures.delete(address);
    return list;
  }

  /**
   * Counts a failed sign-in from the address, or, once the address is held back, throws
   * TooManySignInsError for the caller to answer instead of its own refusal (that failure is not
   * counted: the address is free again as its counted failures age out).
   * @example catch (err) { limiter.failed(address); throw err; }
   */
  failed(address: string): void {
    const recent = this.#recent(address);
    if (recent.length >= this.#max) {
      throw new TooManySignInsError(Math.max(1, Math.ceil((recent[0]! + this.#windowMs - this.#now()) / 1000)));
    }
    recent.push(this.#now());
    this.#failures.set(address, recent);
    if (++this.#counted % 1000 === 0) this.sweep();
  }

  /** Forgets old entries so the map does not grow with every address ever seen. */
  sweep(): void {
    for (const address of [...this.#failures.keys()]) this.#recent(address);
  }
}
