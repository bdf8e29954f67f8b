// The JSON shapes the web page reads: nodes with their key facts, jobs with per-node output as
// text, and shell sessions. Pure functions over the server's records, so the router stays small.
import { RunState, type Job, type NodeRun, type Session } from '../../proto/gen/fleet/v1/control';
import { Facts, MachineIdentity, OutputStream } from '../../proto/gen/fleet/v1/common';
import type { NodeRecord } from '../store/node-store';

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
}

/** The list view of a node (no full inventory). */
export function nodeSummary(n: NodeRecord, online: boolean): WebNodeSummary {
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
  };
}

/** A node page: the summary, the whole inventory and the node's recent jobs. */
export function nodeDetail(n: NodeRecord, online: boolean, recentJobs: Job[]) {
  return {
    ...nodeSummary(n, online),
    identity: MachineIdentity.toJSON(n.identity),
    facts: n.facts ? Facts.toJSON(n.facts) : null,
    recentJobs: recentJobs.map((j) => {
      const run = j.runs.find((r) => r.nodeId === n.id);
      return { ...jobSummary(j), run: run ? runView(run) : null };
    }),
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

/** A job page: the summary, each run, and each node's output (decoded as UTF-8). */
export function jobDetail(j: Job, output: Iterable<{ nodeId: string; nodeName: string; stream: OutputStream; data: Uint8Array }>) {
  const perNode = new Map<string, { node: string; parts: { stream: 'out' | 'err'; data: Buffer[] }[]; bytes: number; truncated: boolean }>();
  for (const r of j.runs) perNode.set(r.nodeId, { node: r.nodeName, parts: [], bytes: 0, truncated: false });
  for (const o of output) {
    let entry = perNode.get(o.nodeId);
    if (!entry) perNode.set(o.nodeId, (entry = { node: o.nodeName, parts: [], bytes: 0, truncated: false }));
    if (entry.bytes >= MAX_OUTPUT_PER_NODE) {
      entry.truncated = true;
      continue;
    }
    const data = Buffer.from(o.data).subarray(0, MAX_OUTPUT_PER_NODE - entry.bytes);
    entry.bytes += data.length;
    if (data.length < o.data.length) entry.truncated = true;
    const stream = o.stream === OutputStream.OUTPUT_STREAM_STDERR ? 'err' : 'out';
    const last = entry.parts.at(-1);
    if (last && last.stream === stream) last.data.push(data);
    else entry.parts.push({ stream, data: [data] });
  }
  const outputs: WebNodeOutput[] = [...perNode].map(([nodeId, e]) => ({
    nodeId,
    node: e.node,
    chunks: e.parts.map((p) => ({ stream: p.stream, text: Buffer.concat(p.data).toString('utf8') })),
    truncated: e.truncated,
  }));
  return { ...jobSummary(j), argv: j.argv, shell: j.shell, timeoutMs: j.timeoutMs, runs: j.runs.map(runView), output: outputs };
}

/** A shell session as listed; `open` says whether it can still be attached to. */
export function sessionView(s: Session, open: boolean) {
  return { ...s, open };
}

/** Shapes of the JSON API, shared with the page (server/web) as types only. */
export type WebNodeDetail = ReturnType<typeof nodeDetail>;
export type WebJobSummary = ReturnType<typeof jobSummary>;
export type WebJobDetail = ReturnType<typeof jobDetail>;
export type WebSession = ReturnType<typeof sessionView>;
