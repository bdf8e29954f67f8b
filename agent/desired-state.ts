// The agent's side of desired state: takes signed apply commands (plans are dry runs), applies
// one spec at a time with its progress saved on disk (an agent killed mid-apply finishes it when
// it starts again), re-checks every spec on an interval and reports drift, and runs the specs'
// health checks, reporting every change. A removal (revision 0) takes away what the spec's last
// revision installed, then forgets the spec.
import { get } from 'node:https';
import { createWriteStream } from 'node:fs';
import type { Logger } from 'pino';
import { desiredState, isRemoval, resourceId, ResourceStatus, type DesiredState, type ResourceResult } from '../common/spec/schema';
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

/**
 * What a stored spec has installed on this node, to prune from: its desired state — or, while a
 * removal of it has not fully succeeded, the revision the removal is taking away.
 */
function installedBy(stored: StoredState | undefined): DesiredState | undefined {
  if (!stored) return undefined;
  return isRemoval(stored.desired) ? stored.previous : stored.desired;
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
    this.#enqueue(desired.spec, () => this.#apply(desired, installedBy(previous), apply.rolloutId, commandId, apply.httpsPort));
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

  /** Resource ids the other specs on this node list: pruning `spec` leaves them alone. */
  #listedByOthers(spec: string): Set<string> {
    const others = this.#store.load().filter((s) => s.desired.spec !== spec);
    return new Set(others.flatMap((s) => s.desired.resources.map(resourceId)));
  }

  /** Prunes what `previous` installed that `desired` drops, then converges `desired`. */
  async #converge(desired: DesiredState, previous: DesiredState | undefined, options: ReconcileOptions): Promise<ResourceResult[]> {
    const pruned = previous ? await prune(previous, desired, options, this.#listedByOthers(desired.spec)) : [];
    return [...pruned, ...(await reconcile(desired, options))];
  }

  async #plan(commandId: string, apply: ApplyCommand, desired: DesiredState): Promise<void> {
    const options = this.#options(true);
    const results = await this.#converge(desired, installedBy(this.#store.get(desired.spec)), options);
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
    const results = await this.#converge(desired, previous, this.#options(false));
    const stored: StoredState = { ...base, results, appliedUnixMs: Date.now(), pending: false };
    this.#settle(stored);
    const failed = results.filter((r) => r.status === ResourceStatus.Failed);
    this.#o.log.info({ spec: desired.spec, revision: desired.revision, changed: results.filter((r) => r.status !== 'ok').length, failed: failed.length }, isRemoval(desired) ? 'spec removed' : 'desired state applied');
    this.#o.send({ $case: 'stateReport', value: this.#report(stored, { recheck: false }) });
  }

  /**
   * Keeps the outcome of an apply: saved, with the spec's checks running. A removal that fully
   * succeeded is forgotten instead; one that did not stays saved, so the re-check tries again.
   */
  #settle(stored: StoredState): void {
    const spec = stored.desired.spec;
    this.#health.set(spec, stored.desired.checks);
    if (isRemoval(stored.desired) && !stored.results.some((r) => r.status === ResourceStatus.Failed)) this.#store.remove(spec);
    else this.#store.save(stored);
  }

  #recheckAll(): void {
    for (const stored of this.#store.load()) {
      if (stored.pending || this.#queues.has(stored.desired.spec)) continue;
      this.#enqueue(stored.desired.spec, () => this.#recheck(stored.desired.spec));
    }
  }

  /** Converges one spec again (a removal that failed is tried again); reports when anything had drifted or fails. */
  async #recheck(spec: string): Promise<void> {
    const stored = this.#store.get(spec);
    if (!stored || stored.pending) return;
    const results = isRemoval(stored.desired)
      ? await this.#converge(stored.desired, stored.previous, this.#options(false))
      : await reconcile(stored.desired, this.#options(false, true));
    const notable = results.some((r) => r.status !== 'ok');
    const wasFailing = stored.results.some((r) => r.status === 'failed');
    if (!notable && !wasFailing) return;
    const next: StoredState = { ...stored, results, appliedUnixMs: Date.now() };
    this.#settle(next);
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
