// Nodes: list, show, label and remove them, and read what they report (desired-state status and
// health checks). Scope: a limited token sees only its nodes; one outside looks like none.
import { parseSelector, validateLabels } from '../../common/labels';
import type { CheckState } from '../../proto/gen/fleet/v1/common';
import type { GetNodeRequest, LabelNodeRequest, ListHealthResponse, ListNodesRequest, ListNodesResponse, Node, NodeState, RemoveNodeRequest, UpgradeAgentsRequest, UpgradeEvent } from '../../proto/gen/fleet/v1/control';
import type { Presence } from '../agent-hub';
import { NodeNotFoundError, NodeRemovedError } from '../errors';
import { Role, type AuditLog, type NodeRecord, type NodeStore, type StateStore } from '../store';
import type { AgentUpgrades } from '../upgrades';
import { actorOf, type Caller } from './caller';
import type { Gate } from './gate';

/** A node record as the contract's Node. */
export function toNode(n: NodeRecord, online: boolean, checks: CheckState[] = []): Node {
  return {
    id: n.id,
    name: n.name,
    online,
    labels: n.labels,
    facts: n.facts,
    identity: n.identity,
    agentVersion: n.agentVersion,
    enrolledUnixMs: n.enrolledAt,
    lastSeenUnixMs: n.lastSeenAt ?? 0,
    joinTokenId: n.joinTokenId ?? '',
    checks,
  };
}

export interface NodesDeps {
  gate: Gate;
  nodes: NodeStore;
  /** Which nodes are online (the agent hub, or a replica's view of every hub). */
  hub: Presence;
  stateStore: StateStore;
  audit: AuditLog;
  upgrades: AgentUpgrades;
}

export class NodesService {
  readonly #d: NodesDeps;

  constructor(d: NodesDeps) {
    this.#d = d;
  }

  /**
   * A node the caller may see, by name or id; one outside its scope is audited and answered
   * NodeNotFoundError like one that does not exist.
   * @throws NodeNotFoundError
   */
  async visible(caller: Caller, nameOrId: string, operation: string): Promise<NodeRecord> {
    const node = await this.#d.nodes.find(nameOrId);
    if (!node) throw new NodeNotFoundError(nameOrId);
    if (!this.#d.gate.access.sees(caller.principal, node)) {
      await this.#d.gate.hidden(caller, operation, `node ${node.name}`);
      throw new NodeNotFoundError(nameOrId);
    }
    return node;
  }

  /** The nodes matching a selector that the caller may see, in the store's order. */
  async #matching(caller: Caller, selectorText: string): Promise<NodeRecord[]> {
    const selector = parseSelector(selectorText);
    return (await this.#d.nodes.list()).filter((n) => selector.matches(n.labels) && this.#d.gate.access.sees(caller.principal, n));
  }

  /** Every node's checks, by node id (one query for all). */
  async #checksByNode(): Promise<Map<string, CheckState[]>> {
    const checks = new Map<string, CheckState[]>();
    for (const c of (await this.#d.stateStore.checks())) {
      const list = checks.get(c.nodeId);
      if (list) list.push(c);
      else checks.set(c.nodeId, [c]);
    }
    return checks;
  }

  async listNodes(caller: Caller, req: ListNodesRequest): Promise<ListNodesResponse> {
    this.#d.gate.require(caller, Role.Viewer);
    const checks = await this.#checksByNode();
    return { nodes: (await this.#matching(caller, req.selector)).map((n) => toNode(n, this.#d.hub.isOnline(n.id), checks.get(n.id))) };
  }

  async getNode(caller: Caller, req: GetNodeRequest): Promise<Node> {
    this.#d.gate.require(caller, Role.Viewer);
    const node = await this.visible(caller, req.node, 'GetNode');
    return toNode(node, this.#d.hub.isOnline(node.id), await this.#d.stateStore.checks(node.id));
  }

  async labelNode(caller: Caller, req: LabelNodeRequest): Promise<Node> {
    this.#d.gate.require(caller, Role.Operator);
    const node = await this.visible(caller, req.node, 'LabelNode');
    validateLabels(req.set);
    const labels = { ...node.labels };
    for (const key of req.remove) delete labels[key];
    Object.assign(labels, req.set);
    // A limited token cannot move a node out of its scope (it would lose it) or change the labels that define it.
    this.#d.gate.access.requireNodes(caller.principal, [{ name: node.name, labels }], `relabelling ${node.name}`);
    await this.#d.nodes.setLabels(node.id, labels);
    const change = [...Object.entries(req.set).map(([k, v]) => `${k}=${v}`), ...req.remove.map((k) => `${k}-`)].join(' ');
    await this.#d.audit.record({ actor: actorOf(caller), action: 'node.label', target: node.name, ok: true, detail: change });
    return toNode({ ...node, labels }, this.#d.hub.isOnline(node.id));
  }

  async removeNode(caller: Caller, req: RemoveNodeRequest): Promise<Node> {
    this.#d.gate.require(caller, Role.Admin);
    const node = await this.#d.nodes.find(req.node);
    if (!node) throw new NodeNotFoundError(req.node);
    const online = this.#d.hub.isOnline(node.id);
    const at = Date.now();
    await this.#d.nodes.remove(node, actorOf(caller), at);
    await this.#d.stateStore.forgetNode(node.id);
    this.#d.hub.disconnect(node.id, new NodeRemovedError(node.name, at));
    await this.#d.audit.record({ actor: actorOf(caller), action: 'node.remove', target: node.name, ok: true, detail: `node ${node.id}; its certificate is refused from now on${online ? '; it was online and was disconnected' : ''}` });
    return toNode(node, false);
  }

  async getNodeState(caller: Caller, req: GetNodeRequest): Promise<NodeState> {
    this.#d.gate.require(caller, Role.Viewer);
    const node = await this.visible(caller, req.node, 'GetNodeState');
    return {
      nodeId: node.id,
      nodeName: node.name,
      online: this.#d.hub.isOnline(node.id),
      specs: (await this.#d.stateStore.nodeSpecs(node.id)).map((s) => ({
        spec: s.spec,
        desiredRevision: s.desiredRevision,
        appliedRevision: s.appliedRevision,
        status: s.status,
        resources: s.resources,
        reportedUnixMs: s.reportedAt,
        driftUnixMs: s.driftAt,
      })),
      checks: await this.#d.stateStore.checks(node.id),
    };
  }

  async listHealth(caller: Caller, req: ListNodesRequest): Promise<ListHealthResponse> {
    this.#d.gate.require(caller, Role.Viewer);
    const checks = await this.#checksByNode();
    return {
      nodes: (await this.#matching(caller, req.selector))
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((n) => ({ nodeId: n.id, nodeName: n.name, online: this.#d.hub.isOnline(n.id), checks: checks.get(n.id) ?? [] })),
    };
  }

  /**
   * Checks an agent upgrade and resolves its nodes (refusing bad input before anything starts);
   * returns the run, which emits each node's outcome and then a summary.
   */
  async upgradeAgents(caller: Caller, req: UpgradeAgentsRequest): Promise<(emit: (event: UpgradeEvent) => void) => Promise<void>> {
    this.#d.gate.require(caller, Role.Admin);
    return this.#d.upgrades.prepare(req, actorOf(caller));
  }
}
