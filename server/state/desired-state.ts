// Desired state on the server: parses and stores spec revisions, sends nodes signed apply
// commands (plans are dry runs of the same), takes the agents' state and health reports into the
// store, and alerts webhooks when a check changes.
import type { Logger } from 'pino';
import { loadSpec, removalOf, renderForNode, specDigest, type DesiredState, type Spec } from '../../common/spec';
import type { ApplyCommand, HealthReport, StateReport } from '../../proto/gen/fleet/v1/agent';
import type { CommandSender } from '../commands';
import type { ResourceState } from '../../proto/gen/fleet/v1/common';
import type { NodePlan, PlanResponse } from '../../proto/gen/fleet/v1/control';
import type { AgentHub, Presence } from '../agent-hub';
import type { EventBus } from '../bus';
import type { PresenceListener } from '../cluster';
import { RevisionNotFoundError } from '../errors';
import { newId } from '../ids';
import type { AuditLog, NodeRecord, NodeStore, RevisionRecord, StateStore } from '../store';
import { KeyedQueue } from '../../common/keyed-queue';
import { parseSelector } from '../../common/labels';
import type { Webhooks } from './webhooks';

/** A node's answer to an apply, passed from the replica holding its link to the others. */
interface StateAnswer {
  nodeId: string;
  report: StateReport;
}
const ANSWERS_TOPIC = 'state-answers';

/** How long a plan waits for each node's answer. */
const PLAN_TIMEOUT_MS = 60_000;
/** How long an apply may take on one node before it counts as failed. */
export const APPLY_TIMEOUT_MS = 15 * 60_000;
/** Signed apply commands are good for this long (re-signed when re-sent). */
const COMMAND_TTL_MS = 10 * 60_000;

interface Waiter {
  nodeId: string;
  apply: ApplyCommand;
  resolve: (r: StateReport) => void;
}

export interface DesiredStateDeps {
  store: StateStore;
  nodes: NodeStore;
  /** This server's agent links: their reports, and the nodes that connect here. */
  hub: AgentHub;
  /**
   * With several replicas: every replica's links (a node's answer arrives at the replica holding
   * its link, which passes it on over `bus` to the one waiting for it).
   */
  cluster?: { links: Presence & { addListener(l: PresenceListener): void }; bus: EventBus };
  audit: AuditLog;
  webhooks: Webhooks;
  commands: CommandSender;
  httpsPort: () => number;
  log: Logger;
}

/** Flattens facts into "os.distro" → "Debian GNU/Linux" pairs for templates. */
export function flattenFacts(value: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (value === null || value === undefined) return out;
  if (typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flattenFacts(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (!Array.isArray(value) && prefix) {
    out[prefix] = String(value);
  }
  return out;
}

/** A report's overall state for `fleet state`: failed, applying, drifted (and repaired) or converged. */
export function reportStatus(report: StateReport): string {
  if (report.error || report.resources.some((r) => r.status === 'failed')) return 'failed';
  if (report.inProgress) return 'applying';
  if (report.resources.some((r) => r.status === 'drifted')) return 'drifted';
  return 'converged';
}

export class DesiredStateService {
  readonly #d: DesiredStateDeps;
  readonly #waiters = new Map<string, Waiter>();
  /** When each node last sent a health report (server clock). */
  readonly #healthAt = new Map<string, number>();
  readonly #reports: KeyedQueue;

  constructor(deps: DesiredStateDeps) {
    this.#d = deps;
    // One node's reports are stored in the order they came; nodes do not wait for each other.
    this.#reports = new KeyedQueue((err, nodeId) => deps.log.error({ err, nodeId }, 'could not store what a node reported'));
    const cluster = deps.cluster;
    deps.hub.addListener({
      onStateReport: (nodeId, report) => {
        // The rollout waiting for this answer hears it at once, not behind the node's writes.
        if (!this.#answered(nodeId, report) && cluster && report.commandId && !report.inProgress) {
          cluster.bus.publish<StateAnswer>(ANSWERS_TOPIC, { nodeId, report });
        }
        void this.#reports.run(nodeId, () => this.#onStateReport(nodeId, report));
      },
      onHealthReport: (nodeId, report) => void this.#reports.run(nodeId, () => this.#onHealthReport(nodeId, report)),
      onOnline: (nodeId) => {
        if (!cluster) this.#resend(nodeId);
        // Only the replica the node connected to gives it its specs.
        this.#joinSpecs(nodeId).catch((err: unknown) => deps.log.error({ err, nodeId }, 'could not give a joining node its specs'));
      },
    });
    if (cluster) {
      // A node that comes back on any replica gets the commands waiting for it here.
      cluster.links.addListener({ onOnline: (nodeId) => this.#resend(nodeId) });
      cluster.bus.subscribe<StateAnswer>(ANSWERS_TOPIC, (a) => this.#answered(a.nodeId, a.report));
    }
  }

  /** Resolves the apply waiting here for this answer, if any; true when one was. */
  #answered(nodeId: string, report: StateReport): boolean {
    const waiter = report.commandId ? this.#waiters.get(report.commandId) : undefined;
    if (!waiter || waiter.nodeId !== nodeId || report.inProgress) return false;
    waiter.resolve(report);
    return true;
  }

  /** Which nodes are online, on any replica. */
  #isOnline(nodeId: string): boolean {
    return (this.#d.cluster?.links ?? this.#d.hub).isOnline(nodeId);
  }

  /** Parses and validates a spec (throws SpecError with file:line:col for every problem). */
  parse(yaml: string, fileName: string): Spec {
    return loadSpec(yaml, fileName || 'spec.yaml');
  }

  /** Nodes the spec's selector picks, in name order. */
  async targets(spec: Spec): Promise<NodeRecord[]> {
    const selector = parseSelector(spec.selector);
    return (await this.#d.nodes.list())
      .filter((n) => selector.matches(n.labels))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** What `spec` becomes on `node` at `revision` (1 or more). */
  render(spec: Spec, revision: number, node: NodeRecord): DesiredState {
    return renderForNode(spec, revision, { id: node.id, name: node.name, labels: node.labels, facts: flattenFacts(node.facts) });
  }

  /**
   * What a rollout sends `node` for stored `revision` of spec `name`; revision 0 means no revision
   * at all: the spec's removal.
   * @throws RevisionNotFoundError, or TemplateError when the node lacks what a template needs.
   */
  async desiredFor(name: string, revision: number, node: NodeRecord): Promise<DesiredState> {
    if (revision === 0) return removalOf(name);
    const stored = await this.#d.store.revision(name, revision);
    if (!stored) throw new RevisionNotFoundError(name, revision);
    return this.render(this.specOf(stored), revision, node);
  }

  /** The stored spec of a revision. */
  specOf(revision: RevisionRecord): Spec {
    return JSON.parse(revision.specJson) as Spec;
  }

  /** Stores `spec` as a new revision unless it equals the latest one; returns the revision and whether it is new. */
  async storeRevision(spec: Spec, yaml: string, actor: string): Promise<{ revision: RevisionRecord; changed: boolean }> {
    const digest = specDigest(spec);
    const latest = await this.#d.store.latestRevision(spec.name);
    if (latest?.digest === digest) return { revision: latest, changed: false };
    const revision = await this.#d.store.addRevision({ spec: spec.name, yaml, specJson: JSON.stringify(spec), digest, createdBy: actor, createdAt: Date.now() });
    await this.#d.audit.record({ actor, action: 'spec.revision', target: spec.name, ok: true, detail: `revision ${revision.revision} (sha256 ${digest.slice(0, 12)})` });
    return { revision, changed: true };
  }

  /** Asks every targeted online node what `spec` would change there. Changes nothing. */
  async plan(yaml: string, fileName: string, actor: string): Promise<PlanResponse> {
    const spec = this.parse(yaml, fileName);
    const latest = await this.#d.store.latestRevision(spec.name);
    const revision = latest && latest.digest === specDigest(spec) ? latest.revision : (latest?.revision ?? 0) + 1;
    const nodes = await Promise.all((await this.targets(spec)).map((node) => this.#planNode(spec, revision, node)));
    await this.#d.audit.record({ actor, action: 'spec.plan', target: spec.name, ok: true, detail: `${nodes.length} node(s)` });
    return { spec: spec.name, currentRevision: latest?.revision ?? 0, specChanged: latest?.digest !== specDigest(spec), nodes };
  }

  async #planNode(spec: Spec, revision: number, node: NodeRecord): Promise<NodePlan> {
    const base = { nodeId: node.id, nodeName: node.name, resources: [] as ResourceState[], error: '' };
    if (!this.#isOnline(node.id)) return { ...base, outcome: 'offline' };
    let desired: DesiredState;
    try {
      desired = this.render(spec, revision, node);
    } catch (err) {
      return { ...base, outcome: 'failed', error: (err as Error).message };
    }
    const report = await this.send(node.id, desired, { dryRun: true, rolloutId: '', timeoutMs: PLAN_TIMEOUT_MS });
    if (!report) return { ...base, outcome: 'timeout', error: `no answer within ${PLAN_TIMEOUT_MS / 1000} s` };
    const failed = report.error || report.resources.some((r) => r.status === 'failed');
    const changes = report.resources.some((r) => r.status !== 'ok');
    return { ...base, outcome: failed ? 'failed' : changes ? 'changes' : 'unchanged', resources: report.resources, error: report.error };
  }

  /**
   * Sends `desired` to a node as a signed apply command and resolves with its report, or null
   * when none came within `timeoutMs`. While the node is away the command waits and is sent
   * again (freshly signed) when it reconnects.
   */
  send(nodeId: string, desired: DesiredState, o: { dryRun: boolean; rolloutId: string; timeoutMs: number }): Promise<StateReport | null> {
    const commandId = newId('a', 12);
    const apply: ApplyCommand = { desiredJson: JSON.stringify(desired), dryRun: o.dryRun, rolloutId: o.rolloutId, httpsPort: this.#d.httpsPort() };
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(commandId);
        resolve(null);
      }, o.timeoutMs);
      this.#waiters.set(commandId, {
        nodeId,
        apply,
        resolve: (r) => {
          clearTimeout(timer);
          this.#waiters.delete(commandId);
          resolve(r);
        },
      });
      this.#sendCommand(nodeId, commandId, apply);
    });
  }

  #sendCommand(nodeId: string, commandId: string, apply: ApplyCommand): void {
    void this.#d.commands.send(nodeId, commandId, { $case: 'apply', value: apply }, COMMAND_TTL_MS);
  }

  /** A node came back: send it the apply commands still waiting for it. */
  #resend(nodeId: string): void {
    for (const [id, w] of this.#waiters) if (w.nodeId === nodeId) this.#sendCommand(nodeId, id, w.apply);
  }

  /**
   * A node that comes online matching the selector of a spec it has never had gets that spec's
   * latest revision — when that revision's last rollout succeeded — so a machine that joins a
   * group converges like the rest without another `fleet apply`.
   */
  async #joinSpecs(nodeId: string): Promise<void> {
    const node = await this.#d.nodes.get(nodeId);
    if (!node) return;
    for (const name of (await this.#d.store.specNames())) {
      const latest = await this.#d.store.latestRevision(name);
      const rollout = (await this.#d.store.rollouts(1, name))[0];
      if (!latest || rollout?.state !== 'succeeded' || rollout.revision !== latest.revision || (await this.#d.store.nodeSpec(nodeId, name))) continue;
      const spec = this.specOf(latest);
      if (!parseSelector(spec.selector).matches(node.labels)) continue;
      let desired: DesiredState;
      try {
        desired = this.render(spec, latest.revision, node);
      } catch (err) {
        this.#d.log.warn({ node: node.name, spec: name, reason: (err as Error).message }, 'cannot render a spec for a joining node');
        continue;
      }
      await this.#d.store.setDesired(nodeId, name, latest.revision);
      this.#d.log.info({ node: node.name, spec: name, revision: latest.revision }, 'node joined a spec selector; applying its latest revision');
      const report = await this.send(nodeId, desired, { dryRun: false, rolloutId: '', timeoutMs: APPLY_TIMEOUT_MS });
      const failed = !report || report.error || report.resources.some((r) => r.status === 'failed');
      const changed = report?.resources.filter((r) => r.status !== 'ok').map((r) => r.id) ?? [];
      await this.#d.store.recordDeployment({
        spec: name,
        revision: latest.revision,
        nodeId,
        nodeName: node.name,
        rolloutId: '',
        actor: 'server (node joined the selector)',
        outcome: failed ? 'failed' : changed.length ? 'applied' : 'unchanged',
        detail: failed ? report?.error || report?.resources.filter((r) => r.status === 'failed').map((r) => `${r.id}: ${r.error}`).join('; ') || 'no answer' : changed.join(', '),
      });
    }
  }

  /** When the node last reported its health (server clock), or 0. */
  healthReportedAt(nodeId: string): number {
    return this.#healthAt.get(nodeId) ?? 0;
  }

  /** Stores what a node reported about a spec (the waiting rollout has heard it already). */
  async #onStateReport(nodeId: string, report: StateReport): Promise<void> {
    if (report.dryRun || !report.spec) return;
    const node = await this.#d.nodes.get(nodeId);
    if (!node) return;
    const status = reportStatus(report);
    // Revision 0 is a removal: once it went through, the node no longer has the spec at all.
    if (report.revision === 0 && status !== 'failed' && !report.inProgress) {
      await this.#d.store.forgetNodeSpec(nodeId, report.spec);
      return;
    }
    const resources = report.resources.map((r) => ({ id: r.id.slice(0, 300), status: r.status.slice(0, 20), changes: r.changes.slice(0, 50).map((c) => c.slice(0, 500)), error: r.error.slice(0, 2000) }));
    const drifted = report.recheck && resources.some((r) => r.status === 'drifted');
    await this.#d.store.setReported(nodeId, report.spec.slice(0, 100), report.revision, status, resources, Date.now(), drifted);
    if (drifted) {
      const what = resources.filter((r) => r.status === 'drifted').map((r) => r.id);
      await this.#d.store.recordDeployment({ spec: report.spec, revision: report.revision, nodeId, nodeName: node.name, rolloutId: '', actor: 'agent', outcome: 'drift-repaired', detail: what.join(', ') });
      await this.#d.audit.record({ actor: `node:${node.name}`, action: 'state.drift', target: node.name, ok: true, detail: `${report.spec} r${report.revision}: repaired ${what.join(', ')}` });
      this.#d.log.warn({ node: node.name, spec: report.spec, resources: what }, 'drift found and repaired');
    }
  }

  async #onHealthReport(nodeId: string, report: HealthReport): Promise<void> {
    const node = await this.#d.nodes.get(nodeId);
    if (!node) return;
    const checks = report.checks.slice(0, 500).map((c) => ({ ...c, spec: c.spec.slice(0, 100), name: c.name.slice(0, 100), output: c.output.slice(0, 500) }));
    const changed = await this.#d.store.replaceChecks(nodeId, checks);
    // Only once the checks are stored: a health gate that sees this time reads these checks.
    this.#healthAt.set(nodeId, Date.now());
    for (const { check, before } of changed) {
      // A check that starts out passing is no news; every other change is.
      if (before === undefined && check.passing) continue;
      this.#d.log.info({ node: node.name, spec: check.spec, check: check.name, passing: check.passing, output: check.output }, 'health check changed');
      this.#d.webhooks.notify({
        type: 'check',
        node: node.name,
        nodeId,
        spec: check.spec,
        check: check.name,
        passing: check.passing,
        previous: before ?? null,
        output: check.output,
        at: new Date().toISOString(),
      });
    }
  }
}
