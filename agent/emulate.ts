// The agent emulator: many agent identities in one process, each running the real agent core
// (enrollment, Hello, heartbeats, inventory, signed commands, exec, spool) over its own link to
// the server, for scale tests — the way Choria's emulator is used. What a real agent does once
// per machine is done once per process here: facts are collected once and patched per identity,
// the server's CA is fetched once, and one logger serves every identity. Each identity keeps its
// own state directory, so a restarted emulator reconnects the same nodes without enrolling again.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { parseServerAddress } from '../common/address';
import { FleetError } from '../common/errors';
import { parseJoinToken } from '../common/join-token';
import type { Labels } from '../common/labels';
import { OutputStream, Facts, type MachineIdentity } from '../proto/gen/fleet/v1/common';
import { fetchPinnedCa } from '../transport';
import { Agent, backoffDelay, defaultAgentOptions } from './agent';
import { enroll } from './enroll';
import { EnrollmentRefusedError, NotEnrolledError } from './errors';
import { createAgentTransport, type AgentLinkOptions, type AgentTransportMaker } from './transports';
import type { CommandRunner } from './exec';
import { Inventory } from './inventory';
import { Spool } from './spool';
import { AgentState, type AgentIdentity } from './state';
import { UpgradeMarkers } from './upgrade';

export interface EmulatorOptions {
  /** Server address (only needed for identities not enrolled yet). */
  server?: string;
  /** Join token with at least `count` uses left (only needed for identities not enrolled yet). */
  token?: string;
  /** How many identities to run. */
  count: number;
  /** Number of the first identity (1-based), so several emulators can share one prefix. */
  first: number;
  /** Node names are `<prefix>-00001`, `<prefix>-00002`, … */
  prefix: string;
  /** One sub-directory per identity lives here. */
  stateDir: string;
  /** Labels asked for at enrollment (`emulated=true` is always added). */
  labels: Labels;
  /** Enrollments in flight at once. */
  enrollConcurrency: number;
  /** Exec answers at once (exit 0, one line of output) instead of running a process. */
  synthetic: boolean;
  /** Identities that are already enrolled start spread over this long, so N links do not open in one instant. */
  startSpreadMs: number;
  /** The transport every identity links over (NATS: each identity with its own NATS credentials). Default gRPC. */
  link: AgentLinkOptions;
}

export const defaultEmulatorOptions = (): EmulatorOptions => ({
  count: 1,
  first: 1,
  prefix: 'emu',
  stateDir: './fleet-emulator',
  labels: {},
  enrollConcurrency: 50,
  synthetic: false,
  startSpreadMs: 5000,
  link: { transport: 'grpc' },
});

/** Where the emulator stands, reported while it starts. */
export interface EmulatorProgress {
  total: number;
  /** Identities enrolled by this run. */
  enrolled: number;
  /** Identities found on disk (no enrollment). */
  reused: number;
  /** Agents started (their links are opening or open). */
  started: number;
  /** Identities whose enrollment the server refused (e.g. the token ran out of uses); the rest run. */
  refused: number;
  /** Why the first refused identity was refused. */
  refusal?: string;
  /** Milliseconds since start() began. */
  elapsedMs: number;
}

/** The node name of identity `index`: `emu-00001`. */
export function emulatedNodeName(prefix: string, index: number): string {
  return `${prefix}-${String(index).padStart(5, '0')}`;
}

/** A locally administered MAC address unique to identity `index` (02:fe:xx:xx:xx:xx). */
export function emulatedMac(index: number): string {
  const bytes = [2, 0xfe, (index >>> 24) & 255, (index >>> 16) & 255, (index >>> 8) & 255, index & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** A private IPv4 address unique to identity `index` (below 2^24). */
export function emulatedIpv4(index: number): string {
  return `10.${(index >>> 16) & 255}.${(index >>> 8) & 255}.${index & 255}`;
}

/** What an emulated identity enrolls with: its node name as hostname and its own MAC. */
export function emulatedIdentity(name: string, index: number): MachineIdentity {
  return { hostname: name, macs: [emulatedMac(index)], dmiUuid: '', serial: '' };
}

/**
 * A small inventory for an emulated identity: the real machine's OS, CPU and memory, with the
 * hostname, one network interface of its own, and at most one disk.
 */
export function emulatedFacts(base: Facts, name: string, index: number): Facts {
  return Facts.fromPartial({
    ...base,
    os: base.os && { ...base.os, hostname: name, fqdn: name },
    disks: base.disks.slice(0, 1),
    interfaces: [{ name: 'eth0', mac: emulatedMac(index), ipv4: [emulatedIpv4(index)], ipv6: [], internal: false, virtual: true }],
  });
}

/** Exec without a process: started, one line naming the command, exit 0 — at once. */
export const syntheticRunner: CommandRunner = async (command, emit) => {
  const what = command.shell ? command.shell : command.argv.join(' ');
  emit({ $case: 'started', value: { pid: 0 } });
  emit({ $case: 'output', value: { stream: OutputStream.OUTPUT_STREAM_STDOUT, data: Buffer.from(`emulated: ${what}\n`) } });
  emit({ $case: 'finished', value: { exitCode: 0, signal: '', timedOut: false, error: '' } });
};

/** The soft limit on open files from /proc/self/limits text, or null when it is not there (or unlimited). */
export function openFilesLimit(limitsText: string): number | null {
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(limitsText);
  return m && m[1] !== 'unlimited' ? Number(m[1]) : null;
}

/** File descriptors the emulator needs for `count` identities: one socket each, plus room for enrollment and files. */
export function filesNeeded(count: number, enrollConcurrency: number): number {
  return count + 2 * enrollConcurrency + 256;
}

/** Runs `fn` over `items` with at most `concurrency` at a time; rejects with the first failure. */
export async function forEachLimited<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
}

/** N agent identities in this process. */
export class Emulator {
  readonly #o: EmulatorOptions;
  readonly #log: Logger;
  readonly #agents: Agent[] = [];
  readonly #runs: Promise<void>[] = [];
  #caPem: Promise<string> | undefined;
  #baseFacts: Promise<Facts> | undefined;
  #stopped = false;

  constructor(options: EmulatorOptions, log: Logger) {
    this.#o = options;
    this.#log = log;
  }

  /**
   * Loads or enrolls every identity and starts its agent. Resolves once every agent has started
   * (links may still be opening); `progress` is called about once a second meanwhile.
   * @throws NotEnrolledError (no token for a new identity), EnrollmentRefusedError and the like.
   */
  async start(progress?: (p: EmulatorProgress) => void): Promise<EmulatorProgress> {
    const o = this.#o;
    const began = Date.now();
    const p: EmulatorProgress = { total: o.count, enrolled: 0, reused: 0, started: 0, refused: 0, elapsedMs: 0 };
    let firstRefusal: unknown;
    const report = () => progress?.({ ...p, elapsedMs: Date.now() - began });
    const timer = setInterval(report, 1000);
    const indices = Array.from({ length: o.count }, (_, i) => o.first + i);
    const labels = { ...o.labels, emulated: 'true' };
    try {
      await forEachLimited(indices, o.enrollConcurrency, async (index) => {
        if (this.#stopped) return;
        const name = emulatedNodeName(o.prefix, index);
        const state = new AgentState(join(o.stateDir, name));
        state.ensure();
        let identity = state.load();
        if (identity) {
          p.reused++;
          // Already enrolled: nothing paces these starts, so spread them.
          const delay = Math.floor(Math.random() * o.startSpreadMs);
          setTimeout(() => this.#startAgent(state, identity!, index), delay);
        } else {
          try {
            identity = await this.#enroll(state, name, index, labels);
          } catch (err) {
            // One identity refused (a used-up token, say) does not stop the others.
            if (!(err instanceof EnrollmentRefusedError)) throw err;
            firstRefusal ??= err;
            p.refusal ??= err.message;
            p.refused++;
            this.#log.error({ node: name, reason: err.message }, 'enrollment refused; this identity does not run');
            return;
          }
          p.enrolled++;
          this.#startAgent(state, identity, index);
        }
        p.started++;
      });
    } finally {
      clearInterval(timer);
    }
    if (p.refused === o.count) throw firstRefusal;
    report();
    return { ...p, elapsedMs: Date.now() - began };
  }

  /** Stops every agent and waits until each has closed its link. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const agent of this.#agents) agent.stop();
    await Promise.allSettled(this.#runs);
  }

  /** The real machine's facts, read once (no fqdn: each identity has its own name). */
  #facts(): Promise<Facts> {
    this.#baseFacts ??= new Inventory({ lookupFqdn: null }).collect();
    return this.#baseFacts;
  }

  async #enroll(state: AgentState, name: string, index: number, labels: Labels): Promise<AgentIdentity> {
    const { server, token } = this.#o;
    if (!server || !token) throw new NotEnrolledError(state.dir);
    // One check of the server's CA for every identity (the token pins it).
    this.#caPem ??= fetchPinnedCa(parseServerAddress(server), parseJoinToken(token).caHash);
    const caPem = await this.#caPem;
    for (let attempt = 0; ; attempt++) {
      try {
        return await enroll(state, { server, token, name, labels, identity: emulatedIdentity(name, index), caPem }, this.#log);
      } catch (err) {
        // An unreachable (or overloaded) server is worth waiting for; a refusal is final.
        if (!(err instanceof FleetError) || err.kind !== 'unavailable' || this.#stopped) throw err;
        const delay = backoffDelay(attempt, 1000, 30_000);
        this.#log.warn({ node: name, reason: err.message, retryInMs: delay }, 'cannot reach the server to enroll; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  #startAgent(state: AgentState, identity: AgentIdentity, index: number): void {
    if (this.#stopped) return;
    const log = this.#log.child({ node: identity.nodeName });
    const facts = this.#facts().then((base) => emulatedFacts(base, identity.nodeName, index));
    let transport: AgentTransportMaker;
    try {
      transport = createAgentTransport(this.#o.link, { state, log });
    } catch (err) {
      this.#log.error({ err, node: identity.nodeName, transport: this.#o.link.transport }, 'cannot start this emulated agent on its transport');
      return;
    }
    const agent = new Agent({
      identity,
      state,
      spool: new Spool(state.spoolDir, log),
      markers: new UpgradeMarkers(state.dir),
      log,
      // Desired state stays inside the identity's own directory, never the real machine's root.
      options: { ...defaultAgentOptions(), root: join(state.dir, 'root') },
      runCommand: this.#o.synthetic ? syntheticRunner : undefined,
      collectFacts: () => facts,
      selfUpgrade: false,
      transport,
    });
    this.#agents.push(agent);
    this.#runs.push(
      agent.run().catch((err: unknown) => {
        this.#log.error({ err, node: identity.nodeName }, 'emulated agent stopped with an error');
      }),
    );
  }
}

/** The process's open-files soft limit, or null when it cannot be read (not Linux). */
export function currentOpenFilesLimit(): number | null {
  try {
    return openFilesLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return null;
  }
}
