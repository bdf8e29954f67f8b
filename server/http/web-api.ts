// The JSON shapes the web page reads: nodes with their key facts and health, jobs with per-node
// output as text, shell sessions, and rollouts. Pure functions over the server's records, so the
// router stays small.
import { StringDecoder } from 'node:string_decoder';
import { RunState, type Job, type NodeRun, type Rollout, type Session } from '../../proto/gen/fleet/v1/control';
import { Facts, MachineIdentity, OutputStream, type CheckState, type ResourceState } from '../../proto/gen/fleet/v1/common';
import type { NodeRecord } from '../store/node-store';
import type { NodeSpecRecord } from '../store/state-store';

/** Output kept per node in a job answer; the page is not a log shipper. */
export const MAX_OUTPUT_PER_NODE = 1 << 20;

const RUN_STATE_NAMES = new Map<number, string>(
  Object.entries(RunState)
    .filter(([key]) => key.startsWith('RUN_STATE_'))
    .map(([key, value]) => [value, key.slice('RUN_STATE_'.length).toLowerCase()]),
);

/** "succeeded", "failed", … for a run state. */
export function runStateName(state: RunState): string {
  return RUN_STATE_NAMES.get(state) ?? 'unknown';
}

/** A node in a list: labels, online state and the facts worth a column. */
export interface WebNodeSummary {
  id: string;
  name: string;
  online: boolean;
  labels: Record<string, string>;
  os: string;
  kernel: string;
  arch: string;
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  ips: string[];
  agentVersion: string;
  lastSeenUnixMs: number;
  enrolledUnixMs: number;
  /** How many health checks the node reports, and how many of them fail. */
  health: WebNodeHealth;
}

export interface WebNodeHealth {
  checks: number;
  failing: number;
}

/** Counts a node's checks and the failing ones. */
export function nodeHealth(checks: readonly CheckState[]): WebNodeHealth {
  return { checks: checks.length, failing: checks.filter((c) => !c.passing).length };
}

/** The list view of a node (no full inventory); `checks` are the node's reported checks. */
export function nodeSummary(n: NodeRecord, online: boolean, checks: readonly CheckState[]): WebNodeSummary {
  const f = n.facts;
  const os = f?.os;
  return {
    id: n.id,
    name: n.name,
    online,
    labels: n.labels,
    os: os ? [os.distro || os.platform, os.release].filter(Boolean).join(' ') : '',
    kernel: os?.kernel ?? '',
    arch: os?.arch ?? '',
    cpus: f?.cpu?.cores ?? 0,
    cpuModel: f?.cpu ? [f.cpu.manufacturer, f.cpu.brand].filter(Boolean).join(' ') : '',
    memoryBytes: f?.memory?.totalBytes ?? 0,
    ips: (f?.interfaces ?? []).filter((i) => !i.internal).flatMap((i) => [...i.ipv4, ...i.ipv6]),
    agentVersion: n.agentVersion,
    lastSeenUnixMs: n.lastSeenAt ?? 0,
    enrolledUnixMs: n.enrolledAt,
    health: nodeHealth(checks),
  };
}

/** What a node page needs beyond the node record. */
export interface NodeDetailParts {
  online: boolean;
  recentJobs: Job[];
  checks: readonly CheckState[];
  specs: readonly NodeSpecRecord[];
}

/** A node page: the summary, its checks and desired state, the whole inventory and its recent jobs. */
export function nodeDetail(n: NodeRecord, p: NodeDetailParts) {
  return {
    ...nodeSummary(n, p.online, p.checks),
    identity: MachineIdentity.toJSON(n.identity),
    facts: n.facts ? Facts.toJSON(n.facts) : null,
    checks: p.checks.map(checkView),
    specs: p.specs.map(nodeSpecView),
    recentJobs: p.recentJobs.map((j) => {
      const run = j.runs.find((r) => r.nodeId === n.id);
      return { ...jobSummary(j), run: run ? runView(run) : null };
    }),
  };
}

function checkView(c: CheckState) {
  return { spec: c.spec, name: c.name, passing: c.passing, output: c.output, sinceUnixMs: c.sinceUnixMs, checkedUnixMs: c.checkedUnixMs };
}

function resourceView(r: ResourceState) {
  return { id: r.id, status: r.status, changes: r.changes, error: r.error };
}

/** Where a node stands on one spec: the revision sent and applied, the status and each resource. */
function nodeSpecView(s: NodeSpecRecord) {
  return {
    spec: s.spec,
    desiredRevision: s.desiredRevision,
    appliedRevision: s.appliedRevision,
    status: s.status,
    reportedUnixMs: s.reportedAt,
    driftUnixMs: s.driftAt,
    resources: s.resources.map(resourceView),
  };
}

function runView(r: NodeRun) {
  return {
    nodeId: r.nodeId,
    node: r.nodeName,
    state: runStateName(r.state),
    exitCode: r.exitCode,
    signal: r.signal,
    error: r.error,
    startedUnixMs: r.startedUnixMs,
    finishedUnixMs: r.finishedUnixMs,
  };
}

/** What a job ran, as one line. */
export function jobCommand(j: Job): string {
  return j.shell || j.argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ');
}

/** The list view of a job: its command, who started it and how many runs are in each state. */
export function jobSummary(j: Job) {
  const counts: Record<string, number> = {};
  for (const r of j.runs) counts[runStateName(r.state)] = (counts[runStateName(r.state)] ?? 0) + 1;
  return {
    id: j.id,
    command: jobCommand(j),
    createdUnixMs: j.createdUnixMs,
    createdBy: j.createdBy,
    selector: j.selector,
    nodes: j.runs.length,
    states: counts,
    done: j.done,
    finishedUnixMs: j.finishedUnixMs,
  };
}

/** One node's output as text: consecutive chunks of the same stream merged. */
export interface WebNodeOutput {
  nodeId: string;
  node: string;
  chunks: { stream: 'out' | 'err'; text: string }[];
  truncated: boolean;
}

interface NodeOutput {
  node: string;
  chunks: { stream: 'out' | 'err'; text: string }[];
  /** One decoder per stream, so a character cut between two chunks (even with the other stream between them) stays whole. */
  decoders: { out: StringDecoder; err: StringDecoder };
  bytes: number;
  truncated: boolean;
}

function appendText(entry: NodeOutput, stream: 'out' | 'err', text: string): void {
  if (!text) return;
  const last = entry.chunks.at(-1);
  if (last && last.stream === stream) last.text += text;
  else entry.chunks.push({ stream, text });
}

/** A job page: the summary, each run, and each node's output (decoded as UTF-8). */
export async function jobDetail(j: Job, output: AsyncIterable<{ nodeId: string; nodeName: string; stream: OutputStream; data: Uint8Array }>) {
  const perNode = new Map<string, NodeOutput>();
  const newEntry = (node: string): NodeOutput => ({ node, chunks: [], decoders: { out: new StringDecoder('utf8'), err: new StringDecoder('utf8') }, bytes: 0, truncated: false });
  for (const r of j.runs) perNode.set(r.nodeId, newEntry(r.nodeName));
  for await (const o of output) {
    let entry = perNode.get(o.nodeId);
    if (!entry) perNode.set(o.nodeId, (entry = newEntry(o.nodeName)));
    if (entry.bytes >= MAX_OUTPUT_PER_NODE) {
      entry.truncated = true;
      continue;
    }
    const data = Buffer.from(o.data).subarray(0, MAX_OUTPUT_PER_NODE - entry.bytes);
    entry.bytes += data.length;
    if (data.length < o.data.length) entry.truncated = true;
    const stream = o.stream === OutputStream.OUTPUT_STREAM_STDERR ? 'err' : 'out';
    appendText(entry, stream, entry.decoders[stream].write(data));
  }
  const outputs: WebNodeOutput[] = [...perNode].map(([nodeId, e]) => {
    for (const stream of ['out', 'err'] as const) appendText(e, stream, e.decoders[stream].end());
    return { nodeId, node: e.node, chunks: e.chunks, truncated: e.truncated };
  });
  return { ...jobSummary(j), argv: j.argv, shell: j.shell, timeoutMs: j.timeoutMs, runs: j.runs.map(runView), output: outputs };
}

/** Who is signed in (GET /api/me and the sign-in answer), with the CSRF token the page sends back. */
export function signedInView(s: { principal: { tokenId: string; role: string; scope: string; description: string }; csrf: string; expiresAt: number }) {
  return { tokenId: s.principal.tokenId, role: s.principal.role, scope: s.principal.scope, description: s.principal.description, csrf: s.csrf, expiresUnixMs: s.expiresAt };
}

/** A shell session as listed; `open` says whether it can still be attached to. */
export function sessionView(s: Session, open: boolean) {
  return { ...s, open };
}

/** The list view of a rollout: what it rolls out, how far it got and how many nodes failed. */
export function rolloutSummary(r: Rollout) {
  return {
    id: r.id,
    spec: r.spec,
    revision: r.revision,
    previousRevision: r.previousRevision,
    state: r.state,
    reason: r.reason,
    /** Batches finished (the zero-based batch in progress; equal to `batches` at the end). */
    batchesDone: r.currentBatch,
    batches: r.batches,
    batchSize: r.batchSize,
    errors: r.errors,
    maxErrors: r.maxErrors,
    healthGateMs: r.healthGateMs,
    autoRollback: r.autoRollback,
    rollbackOf: r.rollbackOf,
    createdBy: r.createdBy,
    createdUnixMs: r.createdUnixMs,
    updatedUnixMs: r.updatedUnixMs,
  };
}

/** A rollout page: the summary and each node with its batch (zero-based), state and error. */
export function rolloutDetail(r: Rollout) {
  return {
    ...rolloutSummary(r),
    nodes: r.nodes.map((n) => ({ nodeId: n.nodeId, node: n.nodeName, batch: n.batch, state: n.state, error: n.error, resources: n.resources.map(resourceView), updatedUnixMs: n.updatedUnixMs })),
  };
}

/** Shapes of the JSON API, shared with the page (server/web) as types only. */
export type WebNodeDetail = ReturnType<typeof nodeDetail>;
export type WebCheck = ReturnType<typeof checkView>;
export type WebNodeSpec = ReturnType<typeof nodeSpecView>;
export type WebRolloutSummary = ReturnType<typeof rolloutSummary>;
export type WebRolloutDetail = ReturnType<typeof rolloutDetail>;
export type WebJobSummary = ReturnType<typeof jobSummary>;
export type WebJobDetail = ReturnType<typeof jobDetail>;
export type WebSession = ReturnType<typeof sessionView>;
