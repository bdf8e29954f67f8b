// Renders a job as it runs: each node's output line by line, prefixed "node: " (stdout lines on
// stdout, stderr lines on stderr), progress on stderr when it is a terminal, and a per-node
// summary at the end. Used by `fleet exec` and `fleet jobs show`.
import { StringDecoder } from 'node:string_decoder';
import { formatDuration } from '../common/duration';
import { TERMINAL_RUN_STATES } from '../common/run-states';
import { OutputStream } from '../proto/gen/fleet/v1/common';
import { RunState, type Job, type JobEvent, type NodeRun } from '../proto/gen/fleet/v1/control';
import type { CliIo } from './io';


/** Lower-case state word for display: "succeeded", "timed-out", ... */
export function stateName(state: RunState): string {
  const key = Object.entries(RunState).find(([, v]) => v === state)?.[0] ?? 'RUN_STATE_UNKNOWN';
  return key.replace('RUN_STATE_', '').toLowerCase().replace('_', '-');
}

/** The exit code the CLI ends with for a finished job: 0 only when every node succeeded. */
export function jobExitCode(job: Job): number {
  return job.runs.length > 0 && job.runs.every((r) => r.state === RunState.RUN_STATE_SUCCEEDED) ? 0 : 1;
}

function resultText(r: NodeRun): string {
  if (r.state === RunState.RUN_STATE_TIMED_OUT || r.error) return r.error;
  if (r.signal) return `killed by ${r.signal}`;
  if (r.state === RunState.RUN_STATE_SUCCEEDED || r.state === RunState.RUN_STATE_FAILED) return `exit ${r.exitCode}`;
  return '';
}

/** A job as users see it in JSON/YAML: state names and ISO times instead of enums and epochs. */
export function jobView(job: Job): Record<string, unknown> {
  const iso = (ms: number) => (ms ? new Date(ms).toISOString() : null);
  return {
    id: job.id,
    createdAt: iso(job.createdUnixMs),
    createdBy: job.createdBy,
    command: job.shell ? { shell: job.shell } : { argv: job.argv },
    selector: job.selector || null,
    nodes: job.nodes,
    maxConcurrency: job.maxConcurrency || null,
    maxErrors: job.maxErrors || null,
    timeoutMs: Number(job.timeoutMs),
    queueTtlMs: Number(job.queueTtlMs) || null,
    done: job.done,
    finishedAt: iso(job.finishedUnixMs),
    runs: job.runs.map((r) => ({
      node: r.nodeName,
      nodeId: r.nodeId,
      state: stateName(r.state),
      exitCode: r.exitCode,
      signal: r.signal || null,
      error: r.error || null,
      startedAt: iso(r.startedUnixMs),
      finishedAt: iso(r.finishedUnixMs),
    })),
  };
}

/** One line per node: name, state, result and duration. */
export function summaryLines(job: Job): string[] {
  const width = Math.max(...job.runs.map((r) => r.nodeName.length), 4);
  const counts = new Map<string, number>();
  for (const r of job.runs) counts.set(stateName(r.state), (counts.get(stateName(r.state)) ?? 0) + 1);
  const tally = [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
  const lines = [`job ${job.id}: ${job.runs.length} node${job.runs.length === 1 ? '' : 's'}, ${tally}`];
  for (const r of job.runs) {
    const took = r.startedUnixMs && r.finishedUnixMs ? formatDuration(r.finishedUnixMs - r.startedUnixMs) : '';
    lines.push(`  ${r.nodeName.padEnd(width)}  ${stateName(r.state).padEnd(9)}  ${resultText(r)}${took ? `  (${took})` : ''}`.trimEnd());
  }
  return lines;
}

/** Turns a stream of JobEvents into prefixed lines; returns the finished job. */
export class JobView {
  readonly #io: CliIo;
  readonly #partial = new Map<string, string>();
  /** One UTF-8 decoder per node and stream: a character cut between two chunks stays whole. */
  readonly #decoders = new Map<string, StringDecoder>();
  readonly #runs = new Map<string, NodeRun>();
  readonly #progress: boolean;
  #total = 0;

  constructor(io: CliIo, options: { progress: boolean }) {
    this.#io = io;
    this.#progress = options.progress && io.stderr.isTTY === true;
  }

  handle(event: JobEvent): Job | undefined {
    const body = event.body;
    if (!body) return undefined;
    switch (body.$case) {
      case 'job':
        this.#total = body.value.runs.length;
        for (const r of body.value.runs) this.#runs.set(r.nodeId, r);
        this.#drawProgress();
        return undefined;
      case 'output': {
        const o = body.value;
        this.#write(o.nodeName, o.stream, Buffer.from(o.data));
        return undefined;
      }
      case 'run': {
        this.#runs.set(body.value.nodeId, body.value);
        if (TERMINAL_RUN_STATES.has(body.value.state)) this.#flushNode(body.value.nodeName);
        this.#drawProgress();
        return undefined;
      }
      case 'done':
        for (const key of [...this.#partial.keys()]) this.#flushKey(key);
        this.#clearProgress();
        return body.value;
    }
  }

  #write(node: string, stream: OutputStream, data: Buffer): void {
    const key = `${stream}\0${node}`;
    let decoder = this.#decoders.get(key);
    if (!decoder) this.#decoders.set(key, (decoder = new StringDecoder('utf8')));
    const lines = ((this.#partial.get(key) ?? '') + decoder.write(data)).split('\n');
    this.#partial.set(key, lines.pop()!);
    if (lines.length === 0) return;
    this.#clearProgress();
    const out = stream === OutputStream.OUTPUT_STREAM_STDERR ? this.#io.stderr : this.#io.stdout;
    out.write(lines.map((l) => `${node}: ${l}\n`).join(''));
    this.#drawProgress();
  }

  #flushNode(node: string): void {
    for (const key of [...this.#partial.keys()]) if (key.endsWith(`\0${node}`)) this.#flushKey(key);
  }

  #flushKey(key: string): void {
    const rest = (this.#partial.get(key) ?? '') + (this.#decoders.get(key)?.end() ?? '');
    this.#partial.delete(key);
    this.#decoders.delete(key);
    if (!rest) return;
    const [stream, node] = key.split('\0') as [string, string];
    const out = Number(stream) === OutputStream.OUTPUT_STREAM_STDERR ? this.#io.stderr : this.#io.stdout;
    this.#clearProgress();
    out.write(`${node}: ${rest}\n`);
  }

  #drawProgress(): void {
    if (!this.#progress || this.#total === 0) return;
    const runs = [...this.#runs.values()];
    const done = runs.filter((r) => TERMINAL_RUN_STATES.has(r.state)).length;
    const failed = runs.filter((r) => TERMINAL_RUN_STATES.has(r.state) && r.state !== RunState.RUN_STATE_SUCCEEDED).length;
    this.#io.stderr.write(`\r\x1b[K[${done}/${this.#total} done${failed ? `, ${failed} not ok` : ''}]`);
  }

  #clearProgress(): void {
    if (this.#progress) this.#io.stderr.write('\r\x1b[K');
  }
}
