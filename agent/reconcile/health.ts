// Runs each spec's checks on their intervals — a command, an HTTP GET or a TCP connect — and
// reports the whole list whenever a check first reports or flips between passing and failing.
import { connect } from 'node:net';
import type { Logger } from 'pino';
import { parseDuration } from '../../common/duration';
import type { Check } from '../../common/spec/schema';
import { describeFailure, runScript } from '../../common/process-runner';
import { scriptEnv } from './run';

/** How one check stands on this node. */
export interface CheckState {
  spec: string;
  name: string;
  passing: boolean;
  /** Short reason: 'HTTP 500', 'connect ECONNREFUSED 127.0.0.1:80', 'exit 1: <last line>'. */
  output: string;
  /** When `passing` last changed (or the check first reported). */
  sinceUnixMs: number;
  checkedUnixMs: number;
}

export interface HealthMonitorOptions {
  /** Directory cmd checks run in (FLEET_ROOT too). */
  root: string;
  /** Called with every state whenever a check first reports or flips. */
  onChange: (states: CheckState[]) => void;
  log: Logger;
}

interface Verdict {
  passing: boolean;
  output: string;
}

const MAX_OUTPUT = 200;

function reason(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  const message = cause instanceof Error ? cause.message : err instanceof Error ? err.message : String(err);
  return message.slice(0, MAX_OUTPUT);
}

async function checkCmd(script: string, root: string, timeoutMs: number): Promise<Verdict> {
  const result = await runScript(script, { cwd: root, env: scriptEnv(root), timeoutMs });
  if (result.exitCode === 0) return { passing: true, output: 'exit 0' };
  const lastLine = result.tail.trim().split('\n').at(-1) ?? '';
  return { passing: false, output: describeFailure({ ...result, tail: lastLine }, timeoutMs).slice(0, MAX_OUTPUT) };
}

async function checkHttp(url: string, timeoutMs: number): Promise<Verdict> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    await response.body?.cancel();
    return { passing: response.status >= 200 && response.status < 400, output: `HTTP ${response.status}` };
  } catch (err) {
    const timedOut = err instanceof Error && err.name === 'TimeoutError';
    return { passing: false, output: timedOut ? `timed out after ${timeoutMs} ms` : reason(err) };
  }
}

function checkTcp(address: string, timeoutMs: number): Promise<Verdict> {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(address.slice(colon + 1));
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (verdict: Verdict) => {
      socket.destroy();
      resolve(verdict);
    };
    socket.setTimeout(timeoutMs, () => done({ passing: false, output: `timed out after ${timeoutMs} ms` }));
    socket.once('connect', () => done({ passing: true, output: 'connected' }));
    socket.once('error', (err) => done({ passing: false, output: reason(err) }));
  });
}

function runCheck(check: Check, root: string): Promise<Verdict> {
  const timeoutMs = parseDuration(check.timeout);
  if (check.cmd !== undefined) return checkCmd(check.cmd, root, timeoutMs);
  if (check.http !== undefined) return checkHttp(check.http, timeoutMs);
  return checkTcp(check.tcp!, timeoutMs);
}

/**
 * Keeps every spec's checks running. Each check runs at once, then `interval` after the previous
 * run finished; a check is listed only once it has reported.
 * @example
 * const health = new HealthMonitor({ root: '/', onChange: (states) => report(states), log });
 * health.set('web', desired.checks);
 */
export class HealthMonitor {
  readonly #options: HealthMonitorOptions;
  /** Cancels the timers of each spec's checks. */
  readonly #running = new Map<string, () => void>();
  /** By `${spec}/${name}`. */
  readonly #states = new Map<string, CheckState>();
  /** Per spec, the checks that have not run since its last set(): once all have, the whole list is reported. */
  readonly #unreported = new Map<string, Set<string>>();

  constructor(options: HealthMonitorOptions) {
    this.#options = options;
  }

  /** Replaces a spec's checks (an empty list removes the spec). States of checks kept by name stay. */
  set(spec: string, checks: Check[]): void {
    this.#running.get(spec)?.();
    this.#running.delete(spec);
    const names = new Set(checks.map((c) => c.name));
    let dropped = false;
    for (const [key, state] of this.#states) {
      if (state.spec === spec && !names.has(state.name)) {
        this.#states.delete(key);
        dropped = true;
      }
    }
    if (checks.length > 0) {
      // After an apply the server waits for fresh results, even when nothing flipped.
      this.#unreported.set(spec, new Set(names));
      const cancels = checks.map((check) => this.#schedule(spec, check));
      this.#running.set(spec, () => cancels.forEach((cancel) => cancel()));
    } else {
      this.#unreported.delete(spec);
    }
    if (dropped) this.#options.onChange(this.states());
  }

  /** Every check that has reported, in the order they first did. */
  states(): CheckState[] {
    return [...this.#states.values()].map((s) => ({ ...s }));
  }

  /** Stops all timers; results of runs still in flight are dropped. */
  stop(): void {
    for (const cancel of this.#running.values()) cancel();
    this.#running.clear();
  }

  #schedule(spec: string, check: Check): () => void {
    const intervalMs = parseDuration(check.interval);
    let cancelled = false;
    let timer: NodeJS.Timeout | undefined;
    const tick = async () => {
      const verdict = await runCheck(check, this.#options.root);
      if (cancelled) return;
      this.#record(spec, check.name, verdict);
      timer = setTimeout(tick, intervalMs);
      timer.unref();
    };
    void tick();
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }

  #record(spec: string, name: string, verdict: Verdict): void {
    const key = `${spec}/${name}`;
    const now = Date.now();
    const previous = this.#states.get(key);
    const flipped = previous === undefined || previous.passing !== verdict.passing;
    this.#states.set(key, { spec, name, ...verdict, sinceUnixMs: flipped ? now : previous.sinceUnixMs, checkedUnixMs: now });
    const waiting = this.#unreported.get(spec);
    waiting?.delete(name);
    const allFresh = waiting?.size === 0;
    if (allFresh) this.#unreported.delete(spec);
    if (flipped) this.#options.log.info({ spec, check: name, ...verdict }, verdict.passing ? 'check passing' : 'check failing');
    if (flipped || allFresh) this.#options.onChange(this.states());
  }
}
