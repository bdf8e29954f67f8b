// Agent self-upgrades, server side: resolve the targets, then batch by batch send each node a
// signed UpgradeCommand and wait for it to come back: with the new version (upgraded), or with a
// rollback report / the old version (rolled back), or not at all before the deadline (failed).
import type { Logger } from 'pino';
import { quote } from '../common/format';
import type { Hello } from '../proto/gen/fleet/v1/agent';
import type { UpgradeAgentsRequest, UpgradeEvent, UpgradeNodeResult } from '../proto/gen/fleet/v1/control';
import type { AgentHub } from './agent-hub';
import { InvalidRequestError } from './errors';
import type { CommandSender } from './commands';
import { concurrencyLimit } from './jobs';
import { validVersion, type Releases } from './releases';
import type { AuditLog, NodeRecord, NodeStore } from './store';
import { resolveTargets } from './targets';

const DEFAULT_DEADLINE_MS = 60_000;
/** Extra time past the agent's own deadline before the server gives up waiting. */
const GRACE_MS = 20_000;

interface Waiter {
  version: string;
  commandId: string;
  resolve: (result: Omit<UpgradeNodeResult, 'nodeId' | 'nodeName'>) => void;
}

export class AgentUpgrades {
  readonly #nodes: NodeStore;
  readonly #hub: AgentHub;
  readonly #releases: Releases;
  readonly #commands: CommandSender;
  readonly #audit: AuditLog;
  readonly #log: Logger;
  readonly #httpsPort: () => number;
  readonly #waiting = new Map<string, Waiter>();

  constructor(deps: { nodes: NodeStore; hub: AgentHub; releases: Releases; commands: CommandSender; audit: AuditLog; log: Logger; httpsPort: () => number }) {
    this.#nodes = deps.nodes;
    this.#hub = deps.hub;
    this.#releases = deps.releases;
    this.#commands = deps.commands;
    this.#audit = deps.audit;
    this.#log = deps.log;
    this.#httpsPort = deps.httpsPort;
    this.#hub.addListener({
      onOnline: (nodeId, hello) => this.#onHello(nodeId, hello),
      onCommandRejected: (nodeId, rejection) => {
        const w = this.#waiting.get(nodeId);
        if (w && rejection.commandId === w.commandId) w.resolve({ outcome: 'failed', version: '', detail: rejection.reason });
      },
    });
  }

  #onHello(nodeId: string, hello: Hello): void {
    const w = this.#waiting.get(nodeId);
    if (!w) return;
    if (hello.agentVersion === w.version) w.resolve({ outcome: 'upgraded', version: hello.agentVersion, detail: '' });
    else if (hello.upgrade?.rolledBack) w.resolve({ outcome: 'rolled-back', version: hello.agentVersion, detail: `${hello.upgrade.version}: ${hello.upgrade.reason}` });
    // Back on the old version without a report: the link blipped before the swap; keep waiting.
  }

  /** Checks the request and resolves targets (throws on bad input), then returns the runner. */
  async prepare(request: UpgradeAgentsRequest, actor: string): Promise<(emit: (e: UpgradeEvent) => void) => Promise<void>> {
    if (!validVersion(request.version)) throw new InvalidRequestError(`${quote(request.version)} is not a valid version`);
    if (this.#releases.files(request.version).length === 0) {
      throw new InvalidRequestError(`the server has no agent release ${request.version} (available: ${this.#releases.versions().join(', ') || 'none'})`);
    }
    const targets = await resolveTargets(this.#nodes, request);
    const batchSize = Math.min(targets.length, concurrencyLimit(request.batch || '100%', targets.length));
    const deadlineMs = request.deadlineMs || DEFAULT_DEADLINE_MS;
    return async (emit) => {
      emit({ body: { $case: 'plan', value: { version: request.version, nodes: targets.map((t) => t.name), batchSize } } });
      const summary = { upgraded: 0, current: 0, failed: 0 };
      for (let i = 0; i < targets.length; i += batchSize) {
        const batch = targets.slice(i, i + batchSize);
        const results = await Promise.all(batch.map((node) => this.#upgradeOne(node, request.version, deadlineMs)));
        for (const [j, r] of results.entries()) {
          const node = batch[j]!;
          if (r.outcome === 'upgraded') summary.upgraded++;
          else if (r.outcome === 'current') summary.current++;
          else summary.failed++;
          await this.#audit.record({ actor, action: 'agent.upgrade', target: node.name, ok: r.outcome === 'upgraded' || r.outcome === 'current', detail: `${r.outcome} ${request.version}${r.detail ? `: ${r.detail}` : ''}` });
          emit({ body: { $case: 'node', value: { nodeId: node.id, nodeName: node.name, ...r } } });
        }
      }
      emit({ body: { $case: 'done', value: summary } });
    };
  }

  async #upgradeOne(node: NodeRecord, version: string, deadlineMs: number): Promise<Omit<UpgradeNodeResult, 'nodeId' | 'nodeName'>> {
    const current = (await this.#nodes.get(node.id))?.agentVersion ?? '';
    if (!this.#hub.isOnline(node.id)) return { outcome: 'offline', version: current, detail: 'node is offline' };
    if (current === version) return { outcome: 'current', version, detail: '' };
    const arch = node.facts?.os?.arch === 'arm64' ? 'arm64' : 'x64';
    const file = this.#releases.file(version, arch);
    if (!file) return { outcome: 'failed', version: current, detail: `no build of ${version} for linux-${arch}` };
    const commandId = `upgrade/${version}/${node.id}/${Date.now()}`;
    const result = new Promise<Omit<UpgradeNodeResult, 'nodeId' | 'nodeName'>>((resolve) => {
      const timer = setTimeout(() => resolve({ outcome: 'failed', version: current, detail: `not back within ${Math.round((deadlineMs + GRACE_MS) / 1000)} s` }), deadlineMs + GRACE_MS);
      this.#waiting.set(node.id, {
        version,
        commandId,
        resolve: (r) => {
          clearTimeout(timer);
          this.#waiting.delete(node.id);
          resolve(r);
        },
      });
    });
    this.#hub.expectRestart(node.id, Date.now() + deadlineMs + GRACE_MS);
    this.#log.info({ node: node.name, version }, 'sending upgrade');
    const body = { $case: 'upgrade' as const, value: { version, sha256: file.sha256, size: file.size, httpsPort: this.#httpsPort(), path: `/agent/${version}/linux-${arch}`, deadlineMs } };
    void this.#commands.send(node.id, commandId, body).then((sent) => {
      if (!sent) this.#waiting.get(node.id)?.resolve({ outcome: 'offline', version: current, detail: 'node went offline' });
    });
    return result;
  }
}
