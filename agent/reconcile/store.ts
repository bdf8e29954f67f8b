// What the agent was last told to converge, per spec, and how that went: kept in
// STATE/desired/<spec>.json so a restarted agent can re-check drift and finish an interrupted apply.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { NAME_RE, type DesiredState, type ResourceResult } from '../../common/spec/schema';
import { InvalidSpecNameError } from '../errors';
import { writeFileAtomic } from '../../common/atomic-write';

/** One spec's desired state on this node and the outcome of its last apply. */
export interface StoredState {
  /** Revision 0 is a removal that has not fully succeeded yet (a successful one is forgotten). */
  desired: DesiredState;
  /** The desired state before this one, for pruning what it installed (for a removal: what it removes). */
  previous?: DesiredState;
  results: ResourceResult[];
  appliedUnixMs: number;
  rolloutId?: string;
  /** The apply command this state came from, so a re-sent command is answered, not run twice. */
  commandId?: string;
  /** The server's HTTPS port for hosted artifacts, so an interrupted apply can finish after a restart. */
  httpsPort?: number;
  /** True while an apply is under way: saved before it starts, cleared after, so a killed agent re-runs it. */
  pending: boolean;
}

/**
 * Per-spec desired state on disk (files are 0600: specs may hold secrets).
 * @example
 * store.save({ desired, previous, results: [], appliedUnixMs: Date.now(), pending: true });
 * const results = await reconcile(desired, options);
 * store.save({ desired, previous, results, appliedUnixMs: Date.now(), pending: false });
 */
export class DesiredStore {
  readonly #dir: string;
  readonly #log: Logger;

  constructor(stateDir: string, log: Logger) {
    this.#dir = join(stateDir, 'desired');
    this.#log = log;
  }

  /** Every stored spec; unreadable files are logged and skipped. */
  load(): StoredState[] {
    let files: string[];
    try {
      files = readdirSync(this.#dir);
    } catch {
      return [];
    }
    const specs = files.filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length));
    return specs.filter((s) => NAME_RE.test(s)).flatMap((s) => this.get(s) ?? []);
  }

  /** One spec's stored state, or undefined when there is none (or it cannot be read). */
  get(spec: string): StoredState | undefined {
    const file = this.#file(spec);
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as StoredState;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#log.warn({ file, err }, 'ignoring unreadable desired state');
      return undefined;
    }
  }

  /** Writes a spec's state atomically. */
  save(state: StoredState): void {
    const file = this.#file(state.desired.spec);
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  }

  /** Forgets a spec (when it no longer applies to this node). */
  remove(spec: string): void {
    rmSync(this.#file(spec), { force: true });
  }

  #file(spec: string): string {
    if (!NAME_RE.test(spec)) throw new InvalidSpecNameError(spec);
    return join(this.#dir, `${spec}.json`);
  }
}
