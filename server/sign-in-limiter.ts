// Failed sign-ins per remote address (API tokens on gRPC calls and the web page, join tokens at
// enrollment), so tokens cannot be guessed at network speed.
import { TooManySignInsError } from './errors';

/**
 * Failed sign-ins per remote address in a sliding window: after `max` failures within `windowMs`
 * the address is refused (TooManySignInsError with Retry-After) until the oldest one ages out.
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

  /** Throws TooManySignInsError when the address has used up its failures. */
  check(address: string): void {
    const recent = this.#recent(address);
    if (recent.length >= this.#max) {
      const wait = Math.max(1, Math.ceil((recent[0]! + this.#windowMs - this.#now()) / 1000));
      throw new TooManySignInsError(wait);
    }
  }

  /** Counts a failure for the address (and now and then forgets addresses that stopped failing). */
  failed(address: string): void {
    const recent = this.#recent(address);
    recent.push(this.#now());
    this.#failures.set(address, recent);
    if (++this.#counted % 1000 === 0) this.sweep();
  }

  /** Forgets old entries so the map does not grow with every address ever seen. */
  sweep(): void {
    for (const address of [...this.#failures.keys()]) this.#recent(address);
  }
}
