// How plans and rollouts read in the terminal: the per-node diff of `fleet plan`, each node's
// outcome as `fleet apply` follows a rollout, and the final one-line verdict.
import type { ResourceState } from '../proto/gen/fleet/v1/common';
import type { NodePlan, PlanResponse, Rollout, RolloutNode } from '../proto/gen/fleet/v1/control';

/** Rollout states after which nothing more happens. */
export const TERMINAL_ROLLOUT_STATES: readonly string[] = ['succeeded', 'failed', 'rolled-back'];
/** Node states that count against a rollout's maxErrors. */
const FAILED_NODE_STATES: readonly string[] = ['failed', 'unhealthy', 'offline'];
/** Node states that are final whatever else the rollout still does. */
const SETTLED_NODE_STATES: readonly string[] = ['healthy', 'unhealthy', 'failed', 'offline', 'rolled-back'];

/** "1 node", "3 nodes"; "2 batches" with the plural given. */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** Resources that changed (or would change, or were repaired): neither ok nor failed nor skipped. */
export function changedResources(resources: readonly ResourceState[]): ResourceState[] {
  return resources.filter((r) => r.status !== 'ok' && r.status !== 'failed' && r.status !== 'skipped');
}

/**
 * The diff sign of one resource: `+` created or installed, `-` removed, `~` changed, `!` failed
 * (or skipped because something it depends on failed).
 */
export function resourceSign(r: ResourceState): '+' | '-' | '~' | '!' {
  if (r.status === 'failed' || r.status === 'skipped') return '!';
  const c = r.changes;
  if (c.length === 0) return '~';
  const removing = /^(delete|remove |unlink )/;
  if (c.some((x) => removing.test(x)) && c.every((x) => removing.test(x) || /^(stop|disable)$/.test(x))) return '-';
  const first = c[0]!;
  if (/^(create|install) /.test(first) || /^create\b/.test(first) || /^unit \S+: create\b/.test(first)) return '+';
  if (/^download /.test(first) && !c.some((x) => x.includes('(was '))) return '+';
  return '~';
}

/** `~ file:/etc/app.conf  content differs (sha256 ab12 → cd34); mode 0600 → 0644`. */
export function resourceLine(r: ResourceState): string {
  let what: string;
  if (r.status === 'failed') what = r.error || 'failed';
  else if (r.status === 'skipped') what = `skipped${r.error ? `: ${r.error}` : ''}`;
  else what = r.changes.join('; ') || r.status;
  return `${resourceSign(r)} ${r.id}  ${what}`;
}

/** What a node's plan says, as the line after its name: "2 to change", "up to date", "offline". */
function planHeadline(n: NodePlan): string {
  switch (n.outcome) {
    case 'unchanged':
      return 'up to date';
    case 'changes':
      return `${changedResources(n.resources).length} to change`;
    case 'offline':
      return 'offline';
    case 'timeout':
      return `failed: ${n.error || 'no answer in time'}`;
    case 'failed': {
      const failed = n.resources.filter((r) => r.status === 'failed').length;
      return `failed: ${n.error || plural(failed, 'resource') + ' failed'}`;
    }
    default:
      return n.outcome + (n.error ? `: ${n.error}` : '');
  }
}

/** True when a node could not be planned (the plan exits 1). */
export function planFailed(n: NodePlan): boolean {
  return n.outcome === 'failed' || n.outcome === 'timeout';
}

/**
 * `fleet plan` as text: the revision header, each node with the resources that would change,
 * and a summary such as `3 nodes: 1 to change, 1 up to date, 1 offline`.
 */
export function planLines(plan: PlanResponse): string[] {
  const next = plan.currentRevision + 1;
  const header =
    plan.currentRevision === 0
      ? `spec ${plan.spec}: new, revision 1 (spec changed)`
      : plan.specChanged
        ? `spec ${plan.spec}: revision ${plan.currentRevision} → ${next} (spec changed)`
        : `spec ${plan.spec}: revision ${plan.currentRevision} (spec unchanged)`;
  const lines = [header, ''];
  for (const n of plan.nodes) {
    lines.push(`${n.nodeName}: ${planHeadline(n)}`);
    for (const r of n.resources) if (r.status !== 'ok') lines.push(`    ${resourceLine(r)}`);
  }
  if (plan.nodes.length === 0) {
    lines.push('0 nodes: the spec\'s selector matches no node');
    return lines;
  }
  const count = (pred: (n: NodePlan) => boolean) => plan.nodes.filter(pred).length;
  const parts = [
    [count((n) => n.outcome === 'changes'), 'to change'],
    [count((n) => n.outcome === 'unchanged'), 'up to date'],
    [count((n) => n.outcome === 'offline'), 'offline'],
    [count(planFailed), 'failed'],
  ] as const;
  lines.push('', `${plural(plan.nodes.length, 'node')}: ${parts.filter(([k]) => k > 0).map(([k, what]) => `${k} ${what}`).join(', ')}`);
  return lines;
}

/**
 * Resources left in place on a node that did not fail: files that no spec lists any more but were
 * edited by hand since fleet wrote them. `, kept file:/etc/x (edited since fleet wrote it)`.
 */
function keptText(n: RolloutNode): string {
  if (FAILED_NODE_STATES.includes(n.state)) return '';
  const kept = n.resources.filter((r) => r.status === 'skipped');
  return kept.map((r) => `, kept ${r.id}${r.error ? ` (${r.error})` : ''}`).join('');
}

/** A node's outcome in a rollout: "applied (2 changed)", "unchanged", "failed: file:/x: permission denied". */
export function nodeOutcome(n: RolloutNode): string {
  const changed = changedResources(n.resources).length;
  const withError = (word: string) => (n.error ? `${word}: ${n.error}` : word);
  switch (n.state) {
    case 'applied':
      return `applied (${changed} changed)${keptText(n)}`;
    case 'healthy':
      return `${changed > 0 ? `applied (${changed} changed), healthy` : 'unchanged, healthy'}${keptText(n)}`;
    case 'offline':
      return n.error.startsWith('offline') ? n.error : withError('offline');
    case 'rolled-back':
      return `${n.error ? `rolled-back (it was ${n.error})` : 'rolled-back'}${keptText(n)}`;
    default:
      return withError(n.state) + keptText(n);
  }
}

/** True when a node made changes in the rollout (or, for a rollback, was returned). */
export function nodeChanged(n: RolloutNode): boolean {
  return (n.state === 'applied' || n.state === 'healthy') && changedResources(n.resources).length > 0;
}

/**
 * Whether a node has reached its outcome. Applied and unchanged nodes still face the health gate
 * when the spec has checks (`hasChecks`, undefined when unknown), which is over once their batch is.
 */
export function nodeSettled(n: RolloutNode, r: Rollout, hasChecks?: boolean): boolean {
  if (SETTLED_NODE_STATES.includes(n.state)) return true;
  if (n.state !== 'applied' && n.state !== 'unchanged') return false;
  return hasChecks === false || n.batch < r.currentBatch || TERMINAL_ROLLOUT_STATES.includes(r.state);
}

/** The last line of a followed rollout: `rollout r-1 succeeded: 6 nodes, 4 changed, 2 unchanged`. */
export function rolloutVerdict(r: Rollout): string {
  if (r.state !== 'succeeded') return `rollout ${r.id} ${r.state}${r.reason ? `: ${r.reason}` : ''}`;
  const failed = r.nodes.filter((n) => FAILED_NODE_STATES.includes(n.state)).length;
  const changed = r.nodes.filter(nodeChanged).length;
  const unchanged = r.nodes.length - failed - changed;
  if (changed === 0 && failed === 0) return `rollout ${r.id} succeeded; nothing to change: ${plural(r.nodes.length, 'node')} already up to date`;
  return `rollout ${r.id} succeeded: ${plural(r.nodes.length, 'node')}, ${changed} changed, ${unchanged} unchanged${failed ? `, ${failed} failed (within maxErrors ${r.maxErrors})` : ''}`;
}

/** "batch 2/3", "done", "paused in batch 1/3". */
export function batchText(r: Rollout): string {
  if (r.batches === 0) return '-';
  if (r.currentBatch >= r.batches) return `${r.batches}/${r.batches}`;
  return `${r.currentBatch + 1}/${r.batches}`;
}

/**
 * Follows a rollout's snapshots and says what happened since the last one: a line per node as it
 * reaches its outcome (to `out`), and batch and state changes (to `note`).
 */
export class RolloutProgress {
  readonly #printed = new Map<string, string>();
  readonly #out: (line: string) => void;
  readonly #note: (line: string) => void;
  readonly #hasChecks: boolean | undefined;
  #batch = -1;
  #state = '';

  constructor(out: (line: string) => void, note: (line: string) => void, options: { hasChecks?: boolean } = {}) {
    this.#out = out;
    this.#note = note;
    this.#hasChecks = options.hasChecks;
  }

  update(r: Rollout): void {
    if (r.state !== this.#state) {
      if (r.state === 'paused') this.#note(`rollout ${r.id} paused${r.reason ? ` (${r.reason})` : ''}; continue it with \`fleet rollouts resume ${r.id}\``);
      else if (r.state === 'rolling-back') this.#note(`rolling back: ${r.reason}`);
      else if (r.state === 'running' && this.#state === 'paused') this.#note(`rollout ${r.id} resumed`);
      this.#state = r.state;
    }
    for (const n of r.nodes) {
      if (!nodeSettled(n, r, this.#hasChecks) || this.#printed.get(n.nodeId) === n.state) continue;
      // A node already reported as applied or unchanged that then passes its checks needs no second line.
      if (n.state === 'healthy' && ['applied', 'unchanged'].includes(this.#printed.get(n.nodeId) ?? '')) {
        this.#printed.set(n.nodeId, n.state);
        continue;
      }
      this.#printed.set(n.nodeId, n.state);
      this.#out(`${n.nodeName}: ${nodeOutcome(n)}`);
    }
    if (r.state === 'running' && r.batches > 1 && r.currentBatch < r.batches && r.currentBatch !== this.#batch) {
      this.#batch = r.currentBatch;
      this.#note(`batch ${r.currentBatch + 1}/${r.batches}`);
    }
  }
}
