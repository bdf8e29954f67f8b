// What the page reads from the HTTP API (/api/v1) and the views it makes of it. Answers are the
// contract's messages in protobuf JSON (docs/api.md): camelCase names, enums by name, 64-bit
// numbers as numbers, bytes as base64, and fields at their default (false, 0, '', empty lists)
// left out — so every reader here fills the defaults back in. The view logic the server used to
// do for the page (summary columns, health counts, run-state names, output as text) lives here.

/** A health check as the API sends it (fleet.v1.CheckState). */
export interface CheckJson {
  spec?: string;
  name?: string;
  passing?: boolean;
  output?: string;
  sinceUnixMs?: number;
  checkedUnixMs?: number;
}

interface FactsJson {
  os?: { platform?: string; distro?: string; release?: string; kernel?: string; arch?: string };
  cpu?: { manufacturer?: string; brand?: string; cores?: number };
  memory?: { totalBytes?: number };
  interfaces?: { internal?: boolean; ipv4?: string[]; ipv6?: string[] }[];
  [fact: string]: unknown;
}

/** fleet.v1.Node. */
export interface NodeJson {
  id?: string;
  name?: string;
  online?: boolean;
  labels?: Record<string, string>;
  facts?: FactsJson;
  identity?: Record<string, unknown>;
  agentVersion?: string;
  enrolledUnixMs?: number;
  lastSeenUnixMs?: number;
  checks?: CheckJson[];
}

interface ResourceJson {
  id?: string;
  status?: string;
  changes?: string[];
  error?: string;
}

/** fleet.v1.NodeState: where a node stands on each spec. */
export interface NodeStateJson {
  specs?: { spec?: string; desiredRevision?: number; appliedRevision?: number; status?: string; resources?: ResourceJson[]; reportedUnixMs?: number; driftUnixMs?: number }[];
}

interface RunJson {
  nodeId?: string;
  nodeName?: string;
  state?: string;
  exitCode?: number;
  signal?: string;
  error?: string;
  startedUnixMs?: number;
  finishedUnixMs?: number;
}

/** fleet.v1.Job. */
export interface JobJson {
  id?: string;
  createdUnixMs?: number;
  createdBy?: string;
  argv?: string[];
  shell?: string;
  selector?: string;
  done?: boolean;
  finishedUnixMs?: number;
  runs?: RunJson[];
}

/** fleet.v1.JobEvent: one of these is set. */
export interface JobEventJson {
  job?: JobJson;
  output?: { nodeId?: string; nodeName?: string; stream?: string; data?: string };
  run?: RunJson;
  done?: JobJson;
}

/** fleet.v1.Rollout. */
export interface RolloutJson {
  id?: string;
  spec?: string;
  revision?: number;
  previousRevision?: number;
  state?: string;
  reason?: string;
  createdBy?: string;
  createdUnixMs?: number;
  updatedUnixMs?: number;
  batchSize?: number;
  batches?: number;
  currentBatch?: number;
  maxErrors?: number;
  errors?: number;
  healthGateMs?: number;
  autoRollback?: boolean;
  rollbackOf?: string;
  nodes?: { nodeId?: string; nodeName?: string; batch?: number; state?: string; error?: string; resources?: ResourceJson[]; updatedUnixMs?: number }[];
}

/** fleet.v1.Session. */
export interface SessionJson {
  id?: string;
  nodeId?: string;
  nodeName?: string;
  user?: string;
  source?: string;
  startedUnixMs?: number;
  endedUnixMs?: number;
  exitCode?: number;
  outputBytes?: number;
  endReason?: string;
}

/** How many health checks a node reports, and how many of them fail. */
export interface NodeHealth {
  checks: number;
  failing: number;
}

export interface Check {
  spec: string;
  name: string;
  passing: boolean;
  output: string;
  sinceUnixMs: number;
}

/** A node's columns in the list (and the head of its page). */
export interface NodeSummary {
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
  health: NodeHealth;
  checks: Check[];
}

export function checkView(c: CheckJson): Check {
  return { spec: c.spec ?? '', name: c.name ?? '', passing: c.passing ?? false, output: c.output ?? '', sinceUnixMs: c.sinceUnixMs ?? 0 };
}

/** Counts the checks and the failing ones. */
export function nodeHealth(checks: readonly Check[]): NodeHealth {
  return { checks: checks.length, failing: checks.filter((c) => !c.passing).length };
}

/** The facts worth a column: "Debian 12", the CPU model, the addresses that are not loopback. */
export function nodeSummary(n: NodeJson): NodeSummary {
  const f = n.facts;
  const os = f?.os;
  const checks = (n.checks ?? []).map(checkView);
  return {
    id: n.id ?? '',
    name: n.name ?? '',
    online: n.online ?? false,
    labels: n.labels ?? {},
    os: os ? [os.distro || os.platform, os.release].filter(Boolean).join(' ') : '',
    kernel: os?.kernel ?? '',
    arch: os?.arch ?? '',
    cpus: f?.cpu?.cores ?? 0,
    cpuModel: f?.cpu ? [f.cpu.manufacturer, f.cpu.brand].filter(Boolean).join(' ') : '',
    memoryBytes: f?.memory?.totalBytes ?? 0,
    ips: (f?.interfaces ?? []).filter((i) => !i.internal).flatMap((i) => [...(i.ipv4 ?? []), ...(i.ipv6 ?? [])]),
    agentVersion: n.agentVersion ?? '',
    lastSeenUnixMs: n.lastSeenUnixMs ?? 0,
    enrolledUnixMs: n.enrolledUnixMs ?? 0,
    health: nodeHealth(checks),
    checks,
  };
}

export interface Resource {
  id: string;
  status: string;
  changes: string[];
  error: string;
}

const resourceView = (r: ResourceJson): Resource => ({ id: r.id ?? '', status: r.status ?? '', changes: r.changes ?? [], error: r.error ?? '' });

/** Where a node stands on one spec. */
export interface NodeSpec {
  spec: string;
  desiredRevision: number;
  appliedRevision: number;
  status: string;
  reportedUnixMs: number;
  driftUnixMs: number;
  resources: Resource[];
}

export function nodeSpecs(state: NodeStateJson): NodeSpec[] {
  return (state.specs ?? []).map((s) => ({
    spec: s.spec ?? '',
    desiredRevision: s.desiredRevision ?? 0,
    appliedRevision: s.appliedRevision ?? 0,
    status: s.status ?? '',
    reportedUnixMs: s.reportedUnixMs ?? 0,
    driftUnixMs: s.driftUnixMs ?? 0,
    resources: (s.resources ?? []).map(resourceView),
  }));
}

/** RUN_STATE_TIMED_OUT → "timed_out"; a run in no state yet (left out) → "unspecified". */
export function runStateName(state: string | undefined): string {
  return (state ?? 'RUN_STATE_UNSPECIFIED').replace(/^RUN_STATE_/, '').toLowerCase();
}

export interface Run {
  nodeId: string;
  node: string;
  state: string;
  exitCode: number;
  signal: string;
  error: string;
  startedUnixMs: number;
  finishedUnixMs: number;
}

export function runView(r: RunJson): Run {
  return {
    nodeId: r.nodeId ?? '',
    node: r.nodeName ?? '',
    state: runStateName(r.state),
    exitCode: r.exitCode ?? 0,
    signal: r.signal ?? '',
    error: r.error ?? '',
    startedUnixMs: r.startedUnixMs ?? 0,
    finishedUnixMs: r.finishedUnixMs ?? 0,
  };
}

/** What a job ran, as one line (argv quoted for a POSIX shell where needed). */
export function jobCommand(j: JobJson): string {
  return j.shell || (j.argv ?? []).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ');
}

/** A job as the lists show it: its command, who started it and how many runs are in each state. */
export interface JobSummary {
  id: string;
  command: string;
  createdUnixMs: number;
  createdBy: string;
  nodes: number;
  states: Record<string, number>;
  done: boolean;
  runs: Run[];
}

export function jobSummary(j: JobJson): JobSummary {
  const runs = (j.runs ?? []).map(runView);
  const states: Record<string, number> = {};
  for (const r of runs) states[r.state] = (states[r.state] ?? 0) + 1;
  return { id: j.id ?? '', command: jobCommand(j), createdUnixMs: j.createdUnixMs ?? 0, createdBy: j.createdBy ?? '', nodes: runs.length, states, done: j.done ?? false, runs };
}

/** Output kept per node on a job's page; the page is not a log shipper. */
export const MAX_OUTPUT_PER_NODE = 1 << 20;

/** One node's output as text: consecutive chunks of the same stream merged. */
export interface NodeOutput {
  nodeId: string;
  node: string;
  chunks: { stream: 'out' | 'err'; text: string }[];
  truncated: boolean;
}

/** Decodes bytes from base64 (protobuf JSON's bytes). */
export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

interface OutputEntry extends NodeOutput {
  /** One decoder per stream, so a character cut between two chunks (even with the other stream between them) stays whole. */
  decoders: { out: TextDecoder; err: TextDecoder };
  bytes: number;
}

/**
 * Each node's output of a job, decoded as UTF-8 as it arrives in a job's events (base64 chunks
 * of stdout and stderr), at most MAX_OUTPUT_PER_NODE bytes a node.
 */
export class JobOutput {
  readonly #nodes = new Map<string, OutputEntry>();

  /** Makes room for each run's node, in the job's order (a node without output shows as such). */
  addNode(nodeId: string, node: string): void {
    if (!this.#nodes.has(nodeId)) this.#nodes.set(nodeId, { nodeId, node, chunks: [], truncated: false, decoders: { out: new TextDecoder(), err: new TextDecoder() }, bytes: 0 });
  }

  /** Adds one chunk of output (a JobEvent's `output`). */
  add(o: NonNullable<JobEventJson['output']>): void {
    const nodeId = o.nodeId ?? '';
    this.addNode(nodeId, o.nodeName ?? nodeId);
    const entry = this.#nodes.get(nodeId)!;
    if (entry.bytes >= MAX_OUTPUT_PER_NODE) {
      entry.truncated = true;
      return;
    }
    const all = fromBase64(o.data ?? '');
    const data = all.subarray(0, MAX_OUTPUT_PER_NODE - entry.bytes);
    entry.bytes += data.length;
    if (data.length < all.length) entry.truncated = true;
    const stream = o.stream === 'OUTPUT_STREAM_STDERR' ? 'err' : 'out';
    append(entry, stream, entry.decoders[stream].decode(data, { stream: true }));
  }

  /** Each node's text so far (a character still cut in two waits for its other half). */
  nodes(): NodeOutput[] {
    return [...this.#nodes.values()].map(({ nodeId, node, chunks, truncated }) => ({ nodeId, node, chunks: chunks.map((c) => ({ ...c })), truncated }));
  }

  /** Flushes what the decoders hold (the job is done: a cut character shows as U+FFFD). */
  end(): void {
    for (const entry of this.#nodes.values()) for (const stream of ['out', 'err'] as const) append(entry, stream, entry.decoders[stream].decode());
  }
}

function append(entry: OutputEntry, stream: 'out' | 'err', text: string): void {
  if (!text) return;
  const last = entry.chunks.at(-1);
  if (last && last.stream === stream) last.text += text;
  else entry.chunks.push({ stream, text });
}

/** A rollout as the pages show it. */
export interface Rollout {
  id: string;
  spec: string;
  revision: number;
  previousRevision: number;
  state: string;
  reason: string;
  /** Batches finished (the zero-based batch in progress; equal to `batches` at the end). */
  batchesDone: number;
  batches: number;
  batchSize: number;
  errors: number;
  maxErrors: number;
  healthGateMs: number;
  autoRollback: boolean;
  rollbackOf: string;
  createdBy: string;
  createdUnixMs: number;
  updatedUnixMs: number;
  /** Each node with its batch (zero-based), state and error (empty in a list). */
  nodes: { nodeId: string; node: string; batch: number; state: string; error: string }[];
}

export function rolloutView(r: RolloutJson): Rollout {
  return {
    id: r.id ?? '',
    spec: r.spec ?? '',
    revision: r.revision ?? 0,
    previousRevision: r.previousRevision ?? 0,
    state: r.state ?? '',
    reason: r.reason ?? '',
    batchesDone: r.currentBatch ?? 0,
    batches: r.batches ?? 0,
    batchSize: r.batchSize ?? 0,
    errors: r.errors ?? 0,
    maxErrors: r.maxErrors ?? 0,
    healthGateMs: r.healthGateMs ?? 0,
    autoRollback: r.autoRollback ?? false,
    rollbackOf: r.rollbackOf ?? '',
    createdBy: r.createdBy ?? '',
    createdUnixMs: r.createdUnixMs ?? 0,
    updatedUnixMs: r.updatedUnixMs ?? 0,
    nodes: (r.nodes ?? []).map((n) => ({ nodeId: n.nodeId ?? '', node: n.nodeName ?? '', batch: n.batch ?? 0, state: n.state ?? '', error: n.error ?? '' })),
  };
}

/** A shell session as listed; `open` while it can still be attached to (it has not ended). */
export interface Session {
  id: string;
  nodeName: string;
  user: string;
  source: string;
  startedUnixMs: number;
  endedUnixMs: number;
  exitCode: number;
  outputBytes: number;
  endReason: string;
  open: boolean;
}

export function sessionView(s: SessionJson): Session {
  return {
    id: s.id ?? '',
    nodeName: s.nodeName ?? '',
    user: s.user ?? '',
    source: s.source ?? '',
    startedUnixMs: s.startedUnixMs ?? 0,
    endedUnixMs: s.endedUnixMs ?? 0,
    exitCode: s.exitCode ?? 0,
    outputBytes: s.outputBytes ?? 0,
    endReason: s.endReason ?? '',
    // The server ends every open session's record when it starts, so no end time means open.
    open: !s.endedUnixMs,
  };
}
