// The agent's side of desired state: takes signed apply commands (plans are dry runs), applies
// one spec at a time with its progress saved on disk (an agent killed mid-apply finishes it when
// it starts again), re-checks every spec on an interval and reports drift, and runs the specs'
// health checks, reporting every change.
import { get } from 'node:https';
import { createWriteStream } from 'node:fs';
import type { Logger } from 'pino';
import { desiredState, type DesiredState, type ResourceResult } from '../common/spec/schema';
import { parseServerAddress } from '../common/address';
import type { AgentMessage, ApplyCommand, StateReport } from '../proto/gen/fleet/v1/agent';
import { SERVER_NAME } from '../transport';
import { DesiredStore, HealthMonitor, prune, reconcile, type ReconcileOptions, type StoredState } from './reconcile';
import type { AgentIdentity } from './state';

type Body = NonNullable<AgentMessage['body']>;

export interface DesiredStateOptions {
  /** Where resources live: '/' on a real node (FLEET_AGENT_ROOT). */
  root: string;
  /** The agent's state directory. */
  stateDir: string;
  /** How often every spec is re-checked for drift (FLEET_AGENT_RECONCILE_INTERVAL). */
  recheckIntervalMs: number;
  identity: () => AgentIdentity;
  /** Sends a message to the server; false when there is no link right now. */
  send: (body: Body) => boolean;
  log: Logger;
}

const DOWNLOAD_TIMEOUT_MS = 120_000;

/** A file the server hosts, fetched over HTTPS with the agent's own client certificate. */
function downloadHosted(identity: AgentIdentity, httpsPort: number, sha256: string, dest: string): Promise<void> {
  const { host } = parseServerAddress(identity.server);
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${httpsPort}/files/${sha256}`;
  return new Promise((resolve, reject) => {
    const req = get(url, { ca: identity.caPem, key: identity.keyPem, cert: identity.certPem, servername: SERVER_NAME, timeout: DOWNLOAD_TIMEOUT_MS }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`the server answered HTTP ${res.statusCode} for hosted file ${sha256}`));
      }
      const out = createWriteStream(dest, { mode: 0o600 });
      res.pipe(out);
      out.on('finish', () => resolve());
      out.on('error', reject);
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`download of hosted file ${sha256} timed out`)));
    req.on('error', reject);
  });
}

/** A file from any URL (http or https, system CAs). */
async function downloadUrl(url: string, dest: string): Promise<void> {
  const res = await fetch(url, { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) });
  if (!res.ok || !res.body) throw new Error(`GET ${url}: HTTP ${res.status}`);
  const out = createWriteStream(dest, { mode: 0o600 });
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

function toResources(results: ResourceResult[]): StateReport['resources'] {
  return results.map((r) => ({ id: r.id, status: r.status, changes: r.changes, error: r.error ?? '' }));
}

export class DesiredStateRunner {
  readonly #o: DesiredStateOptions;
  readonly #store: DesiredStore;
  readonly #health: HealthMonitor;
  /** One apply or re-check at a time, per spec, in arrival order. */
  readonly #queues = new Map<string, Promise<void>>();
  /** The HTTPS port of the server's hosted files, as last told. */
  #httpsPort = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: DesiredStateOptions) {
    this.#o = options;
    this.#store = new DesiredStore(options.stateDir, options.log);
    this.#health = new HealthMonitor({
      root: options.root,
      log: options.log,
      onChange: (checks) => options.send({ $case: 'healthReport', value: { checks } }),
    });
  }

  /** Restarts checks, finishes applies a crash interrupted, and starts the periodic re-check. */
  start(): void {
    for (const stored of this.#store.load()) {
      this.#health.set(stored.desired.spec, stored.desired.checks);
      if (stored.pending) {
        this.#o.log.info({ spec: stored.desired.spec, revision: stored.desired.revision }, 'finishing an apply that was interrupted');
        this.#enqueue(stored.desired.spec, () => this.#apply(stored.desired, stored.previous, stored.rolloutId ?? '', stored.commandId ?? '', stored.httpsPort ?? 0));
      }
    }
    this.#timer = setInterval(() => this.#recheckAll(), this.#o.recheckIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#health.stop();
  }

  /** On every (re)connect: where each spec stands, and every check. */
  reportAll(): void {
    for (const stored of this.#store.load()) this.#o.send({ $case: 'stateReport', value: this.#report(stored, { recheck: false }) });
    this.#o.send({ $case: 'healthReport', value: { checks: this.#health.states() } });
  }

  /** Takes an apply command (already verified). Answers with a state report carrying `commandId`. */
  handle(commandId: string, apply: ApplyCommand): void {
    if (apply.httpsPort) this.#httpsPort = apply.httpsPort;
    let parsed: unknown;
    try {
      parsed = JSON.parse(apply.desiredJson);
    } catch {
      parsed = undefined;
    }
    const result = desiredState.safeParse(parsed);
    if (!result.success) {
      const why = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      this.#o.send({ $case: 'stateReport', value: { ...this.#emptyReport(commandId, apply), error: `malformed desired state: ${why}` } });
      return;
    }
    const desired = result.data;
    if (apply.dryRun) {
      void this.#plan(commandId, apply, desired);
      return;
    }
    const previous = this.#store.get(desired.spec);
    // A re-sent command is never run twice: done → answered again; under way → it answers when done.
    if (previous?.commandId === commandId) {
      if (!previous.pending) this.#o.send({ $case: 'stateReport', value: this.#report(previous, { recheck: false }) });
      return;
    }
    this.#enqueue(desired.spec, () => this.#apply(desired, previous?.desired, apply.rolloutId, commandId, apply.httpsPort));
  }

  #emptyReport(commandId: string, apply: ApplyCommand): StateReport {
    return { commandId, spec: '', revision: 0, rolloutId: apply.rolloutId, dryRun: apply.dryRun, resources: [], atUnixMs: Date.now(), inProgress: false, error: '', recheck: false };
  }

  #options(dryRun: boolean, drift = false): ReconcileOptions {
    return {
      root: this.#o.root,
      stateDir: this.#o.stateDir,
      dryRun,
      drift,
      log: this.#o.log,
      download: (source, dest) => {
        if (source.hosted) return downloadHosted(this.#o.identity(), this.#httpsPort, source.hosted, dest);
        if (source.url) return downloadUrl(source.url, dest);
        return Promise.reject(new Error('the artifact names no url and no hosted file'));
      },
    };
  }

  #enqueue(spec: string, task: () => Promise<void>): void {
    const next = (this.#queues.get(spec) ?? Promise.resolve()).then(task).catch((err: unknown) => this.#o.log.error({ err, spec }, 'desired state task failed'));
    this.#queues.set(spec, next);
    void next.finally(() => {
      if (this.#queues.get(spec) === next) this.#queues.delete(spec);
    });
  }

  async #plan(commandId: string, apply: ApplyCommand, desired: DesiredState): Promise<void> {
    const options = this.#options(true);
    const previous = this.#store.get(desired.spec)?.desired;
    const results = [...(previous ? await prune(previous, desired, options) : []), ...(await reconcile(desired, options))];
    this.#o.send({
      $case: 'stateReport',
      value: { ...this.#emptyReport(commandId, apply), spec: desired.spec, revision: desired.revision, resources: toResources(results) },
    });
  }

  async #apply(desired: DesiredState, previous: DesiredState | undefined, rolloutId: string, commandId: string, httpsPort: number): Promise<void> {
    if (httpsPort) this.#httpsPort = httpsPort;
    const base = { desired, previous, rolloutId, commandId, httpsPort: this.#httpsPort };
    this.#store.save({ ...base, results: [], appliedUnixMs: Date.now(), pending: true });
    this.#o.log.info({ spec: desired.spec, revision: desired.revision, rollout: rolloutId || undefined }, 'applying desired state');
    const options = this.#options(false);
    const results = [...(previous ? await prune(previous, desired, options) : []), ...(await reconcile(desired, options))];
    const stored: StoredState = { ...base, results, appliedUnixMs: Date.now(), pending: false };
    this.#store.save(stored);
    this.#health.set(desired.spec, desired.checks);
    const failed = results.filter((r) => r.status === 'failed');
    this.#o.log.info({ spec: desired.spec, revision: desired.revision, changed: results.filter((r) => r.status !== 'ok').length, failed: failed.length }, 'desired state applied');
    this.#o.send({ $case: 'stateReport', value: this.#report(stored, { recheck: false }) });
  }

  #recheckAll(): void {
    for (const stored of this.#store.load()) {
      if (stored.pending || this.#queues.has(stored.desired.spec)) continue;
      this.#enqueue(stored.desired.spec, () => this.#recheck(stored.desired.spec));
    }
  }

  /** Converges one spec again; reports when anything had drifted or fails. */
  async #recheck(spec: string): Promise<void> {
    const stored = this.#store.get(spec);
    if (!stored || stored.pending) return;
    const results = await reconcile(stored.desired, this.#options(false, true));
    const notable = results.some((r) => r.status !== 'ok');
    const wasFailing = stored.results.some((r) => r.status === 'failed');
    if (!notable && !wasFailing) return;
    const next: StoredState = { ...stored, results, appliedUnixMs: Date.now() };
    this.#store.save(next);
    if (notable) this.#o.log.warn({ spec, resources: results.filter((r) => r.status !== 'ok').map((r) => `${r.id}: ${r.status}`) }, 're-check found drift');
    this.#o.send({ $case: 'stateReport', value: this.#report(next, { recheck: true }) });
  }

  #report(stored: StoredState, o: { recheck: boolean }): StateReport {
    return {
      commandId: o.recheck ? '' : (stored.commandId ?? ''),
      spec: stored.desired.spec,
      revision: stored.desired.revision,
      rolloutId: stored.rolloutId ?? '',
      dryRun: false,
      resources: toResources(stored.results),
      atUnixMs: stored.appliedUnixMs,
      inProgress: stored.pending,
      error: '',
      recheck: o.recheck,
    };
  }
}
