// Replay protection for signed commands. Every command names an id and an expiry, and the agent
// accepts each signed command once: it remembers what it accepted until the command expires (when
// the expiry check refuses it anyway), on disk, so a restart does not open a window. The server
// re-signs a command it sends again after a reconnect with a new expiry, so such a resend is a new
// command (the agent then ignores jobs it already knows); a captured message played back, by a
// shared broker or anyone on the path, is the same command and is refused.
//
// On disk: one JSON line per accepted command, appended and flushed (fdatasync) before the command
// runs, so it survives a crash or a power cut; the file is rewritten with only the unexpired lines
// at start and whenever expired lines outnumber the live ones.
import { closeSync, existsSync, fdatasyncSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import type { Command } from '../proto/gen/fleet/v1/agent';
import { ReplayedCommandError } from './errors';
import { writeFileAtomic } from '../common/atomic-write';

/** Lines beyond the live entries the file may hold before it is compacted. */
const SLACK_LINES = 64;

export class ReplayGuard {
  /** "id@notAfter" → notAfter (unix ms). */
  readonly #seen = new Map<string, number>();
  readonly #file: string | null;
  readonly #now: () => number;
  #fd: number | null = null;
  /** Lines in the file now. */
  #lines = 0;

  /**
   * `file`: where accepted commands are kept across restarts (null: memory only). `legacyFile`:
   * the JSON array earlier agents kept; its commands are taken over and the file removed.
   */
  constructor(file: string | null, now: () => number = Date.now, legacyFile?: string) {
    this.#file = file;
    this.#now = now;
    if (!file) return;
    if (legacyFile) this.#load(legacyFile, (text) => JSON.parse(text) as unknown[]);
    this.#load(file, (text) => text.split('\n').flatMap((line) => (line ? [JSON.parse(line) as unknown] : [])));
    this.#compact();
    if (legacyFile) rmSync(legacyFile, { force: true });
  }

  /** How many unexpired commands are remembered. */
  get size(): number {
    return this.#seen.size;
  }

  /**
   * Accepts a verified (signature, node, expiry) command once, and records it durably.
   * @throws ReplayedCommandError when the same command was accepted before.
   */
  accept(command: Pick<Command, 'id' | 'notAfterUnixMs'>): void {
    const now = this.#now();
    for (const [key, notAfter] of this.#seen) if (notAfter < now) this.#seen.delete(key);
    const notAfter = Number(command.notAfterUnixMs);
    const key = `${command.id}@${notAfter}`;
    if (this.#seen.has(key)) throw new ReplayedCommandError(command.id);
    this.#seen.set(key, notAfter);
    if (this.#file === null) return;
    if (this.#lines >= this.#seen.size * 2 + SLACK_LINES) {
      this.#compact();
      return;
    }
    this.#fd ??= openSync(this.#file, 'a', 0o600);
    writeSync(this.#fd, JSON.stringify([key, notAfter]) + '\n');
    fdatasyncSync(this.#fd);
    this.#lines++;
  }

  /** Closes the file (the agent stops); a later accept opens it again. */
  close(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }

  /** Takes over the unexpired `[key, notAfter]` entries of a file; a damaged part is skipped. */
  #load(file: string, entries: (text: string) => unknown[]): void {
    if (!existsSync(file)) return;
    const now = this.#now();
    let list: unknown[];
    try {
      list = entries(readFileSync(file, 'utf8'));
    } catch {
      // Torn by a crash mid-line, or damaged: keep what parses line by line.
      list = readFileSync(file, 'utf8')
        .split('\n')
        .flatMap((line) => {
          try {
            return [JSON.parse(line) as unknown];
          } catch {
            return [];
          }
        });
    }
    for (const entry of list) {
      if (!Array.isArray(entry)) continue;
      const [key, notAfter] = entry as unknown[];
      if (typeof key === 'string' && typeof notAfter === 'number' && notAfter >= now) this.#seen.set(key, notAfter);
    }
  }

  /** Rewrites the file with the unexpired entries only (atomically, so nothing is lost on a crash). */
  #compact(): void {
    const file = this.#file!;
    this.close();
    const now = this.#now();
    const live = [...this.#seen].filter(([, notAfter]) => notAfter >= now);
    writeFileAtomic(file, live.map((e) => JSON.stringify(e) + '\n').join(''), { mode: 0o600 });
    this.#lines = live.length;
  }
}
