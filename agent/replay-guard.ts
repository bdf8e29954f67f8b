// Replay protection for signed commands. Every command names an id and an expiry, and the agent
// accepts each signed command once: it remembers what it accepted until the command expires (when
// the expiry check refuses it anyway), on disk, so a restart does not open a window. The server
// re-signs a command it sends again after a reconnect with a new expiry, so such a resend is a new
// command (the agent then ignores jobs it already knows); a captured message played back, by a
// shared broker or anyone on the path, is the same command and is refused.
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from '../proto/gen/fleet/v1/agent';
import { ReplayedCommandError } from './errors';
import { writeFileAtomic } from '../common/atomic-write';

export class ReplayGuard {
  /** "id@notAfter" → notAfter (unix ms). */
  readonly #seen = new Map<string, number>();
  readonly #file: string | null;
  readonly #now: () => number;

  /** `file`: where accepted commands are kept across restarts (null: memory only). */
  constructor(file: string | null, now: () => number = Date.now) {
    this.#file = file;
    this.#now = now;
    if (file && existsSync(file)) {
      try {
        for (const [key, notAfter] of JSON.parse(readFileSync(file, 'utf8')) as [string, number][]) {
          if (typeof key === 'string' && typeof notAfter === 'number') this.#seen.set(key, notAfter);
        }
      } catch {
        // A damaged file only loses replay memory for commands that expire within minutes.
      }
    }
  }

  /** How many unexpired commands are remembered. */
  get size(): number {
    return this.#seen.size;
  }

  /**
   * Accepts a verified (signature, node, expiry) command once.
   * @throws ReplayedCommandError when the same command was accepted before.
   */
  accept(command: Pick<Command, 'id' | 'notAfterUnixMs'>): void {
    const now = this.#now();
    for (const [key, notAfter] of this.#seen) if (notAfter < now) this.#seen.delete(key);
    const notAfter = Number(command.notAfterUnixMs);
    const key = `${command.id}@${notAfter}`;
    if (this.#seen.has(key)) throw new ReplayedCommandError(command.id);
    this.#seen.set(key, notAfter);
    if (this.#file) writeFileAtomic(this.#file, JSON.stringify([...this.#seen]), { mode: 0o600 });
  }
}
