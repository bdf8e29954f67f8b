// Enrollment: checks a join token (format, CA, secret, revocation, expiry, uses), signs the
// agent's CSR, creates the node — or gives a reinstalled machine its offline node back
// (server/node-identity.ts) — and audits the attempt either way. Also a node's own renewal and
// its leaving the fleet (the uninstaller).
import type { Logger } from 'pino';
import { FleetError } from '../common/errors';
import { parseJoinToken, secretMatches } from '../common/join-token';
import { validateLabels, type Labels } from '../common/labels';
import type { EnrollRequest, EnrollResponse } from '../proto/gen/fleet/v1/agent';
import type { MachineIdentity } from '../proto/gen/fleet/v1/common';
import { peerAddress } from './auth';
import { AgentRefusedError, EnrollmentConflictError, InvalidEnrollmentError, JoinTokenRefusedError, NodeRemovedError, TooManySignInsError } from './errors';
import { MemoryReplayCache, type ReplayCache } from './replay-cache';
import { HELD_BACK_PAUSE_MS, MemorySignInLimits, type SignInLimits } from './sign-in-limiter';
import type { AgentPeer } from '../transport';
import { newId } from './ids';
import { csrKeyHash, type Pki } from './pki';
import type { AuditLog, NodeRecord, NodeStore, StateStore, TokenStore } from './store';
import type { Machines } from './pxe';
import type { Metrics } from './metrics';
import { isUserKey, type NatsAuthority } from './nats-authority';
import { earlierNodes, normalizedMacs, sharedMacs } from './node-identity';

const NODE_NAME = /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;
/** How long the answer to an enrollment is kept for a retry of it (the agent gave up waiting). */
const RETRY_WINDOW_MS = 10 * 60_000;

/** Turns a hostname into a valid node name ("Web_01.local" → "web-01.local"). */
export function toNodeName(text: string): string {
  const name = text
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 63);
  return name || 'node';
}

function checkIdentity(identity: MachineIdentity | undefined): MachineIdentity {
  const id = identity ?? { hostname: '', macs: [], dmiUuid: '', serial: '' };
  if (id.hostname.length > 253 || id.dmiUuid.length > 64 || id.serial.length > 128 || id.macs.length > 64 || id.macs.some((m) => m.length > 64)) {
    throw new InvalidEnrollmentError('machine identity fields are too long');
  }
  return { ...id, macs: normalizedMacs(id) };
}

/** What the audit log and the person enrolling learn about the node's machine (empty: nothing). */
function describeEarlier(earlier: { offline: NodeRecord | undefined; online: NodeRecord[] }, takenOver: boolean, identity: MachineIdentity): { audit: string; notice: string } {
  const parts: string[] = [];
  const notices: string[] = [];
  const old = earlier.offline;
  if (old && takenOver) {
    const uuid = identity.dmiUuid && identity.dmiUuid === old.identity.dmiUuid ? `, DMI UUID ${identity.dmiUuid}` : '';
    parts.push(`took over offline node ${old.name} (${old.id}): same machine (MAC ${sharedMacs(old.identity, identity).join(' ')}${uuid}); its previous certificate is refused from now on`);
    notices.push(`took over the offline node ${old.name} of this machine: its name, labels and history are kept`);
  } else if (old) {
    parts.push(`a new identity was asked for; offline node ${old.name} (${old.id}) of this machine was left as it is`);
  }
  for (const n of earlier.online) {
    parts.push(`matches online node ${n.name} (${n.id}), which was not taken over`);
    notices.push(`${n.name} has the same hardware but is online, so it was left alone`);
  }
  return { audit: parts.map((p) => `; ${p}`).join(''), notice: notices.join('; ') };
}

/** What enrollment needs to know of agent links (the AgentHub). */
export interface EnrollmentLinks {
  isOnline(nodeId: string): boolean;
  /** Closes the node's link, if it has one, telling the agent why. */
  disconnect(nodeId: string, reason: Error): void;
}

/** Refusals that a token guesser gets (rather than a real token that expired or ran out). */
const GUESS_CODES = new Set(['TOKEN_MALFORMED', 'TOKEN_UNKNOWN', 'TOKEN_WRONG_SERVER']);

export class Enrollment {
  readonly #pki: Pki;
  readonly #tokens: TokenStore;
  readonly #nodes: NodeStore;
  readonly #audit: AuditLog;
  readonly #log: Logger;
  readonly #state: StateStore;
  readonly #machines: Machines | undefined;
  readonly #nats: NatsAuthority | undefined;
  readonly #metrics: Pick<Metrics, 'enrollment'> | undefined;
  readonly #links: EnrollmentLinks;
  /**
   * Recent enrollments by join token and CSR key. An agent whose call timed out after the server
   * had enrolled it (an overloaded server, a lost answer) retries with the same key: it gets the
   * same node again instead of a duplicate, and the retry uses no token use.
   */
  readonly #recent: ReplayCache<EnrollResponse>;
  /** Join-token guesses (malformed, unknown or another server's) per address. */
  readonly #guesses: SignInLimits;

  constructor(deps: {
    pki: Pki;
    tokens: TokenStore;
    nodes: NodeStore;
    audit: AuditLog;
    log: Logger;
    /** Where a removed node's desired-state rows are forgotten. */
    state: StateStore;
    /** Which nodes are online (never taken over), and closing a link whose node changed. */
    links: EnrollmentLinks;
    machines?: Machines;
    nats?: NatsAuthority;
    metrics?: Pick<Metrics, 'enrollment'>;
    /** Join-token guesses per address (default: in memory, `guessesPerMinute` a minute). */
    guesses?: SignInLimits;
    guessesPerMinute?: number;
    /** Answers to recent enrollments, for their retries (default: in memory). */
    replies?: ReplayCache<EnrollResponse>;
  }) {
    this.#links = deps.links;
    this.#machines = deps.machines;
    this.#guesses = deps.guesses ?? new MemorySignInLimits({ max: deps.guessesPerMinute ?? 20 });
    this.#recent = deps.replies ?? new MemoryReplayCache();
    this.#metrics = deps.metrics;
    this.#nats = deps.nats;
    this.#state = deps.state;
    this.#pki = deps.pki;
    this.#tokens = deps.tokens;
    this.#nodes = deps.nodes;
    this.#audit = deps.audit;
    this.#log = deps.log;
  }

  /** Handles one Enroll call; every refusal is audited with the reason. */
  async enroll(request: EnrollRequest, remoteAddress: string): Promise<EnrollResponse> {
    let actor = 'token:?';
    const address = peerAddress(remoteAddress);
    try {
      const token = (() => {
        try {
          return parseJoinToken(request.token);
        } catch {
          throw new JoinTokenRefusedError('the join token is malformed (expected fj1_… as printed by `fleet tokens create`)', 'TOKEN_MALFORMED');
        }
      })();
      actor = `token:${token.id}`;
      const { response, about } = await this.#enrollWith(token, request, remoteAddress);
      await this.#audit.record({ actor, action: 'node.enroll', target: `${response.nodeName} (${response.nodeId})`, ok: true, detail: `from ${remoteAddress}, host ${request.identity?.hostname ?? '?'}${about}` });
      this.#log.info({ node: response.nodeName, id: response.nodeId, from: remoteAddress, notice: response.notice || undefined }, 'node enrolled');
      this.#metrics?.enrollment(true);
      return response;
    } catch (caught) {
      let err = caught;
      // Past the limit a guess is answered TooManySignInsError, after a pause; a valid token from
      // the same address (CI runners behind one NAT) enrolled above all the same.
      if (err instanceof JoinTokenRefusedError && GUESS_CODES.has(err.code)) {
        try {
          await this.#guesses.failed(address);
        } catch (held) {
          err = held;
        }
      }
      // A guesser held back by the limit is not worth an audit row per attempt (its first refusals are in).
      if (err instanceof TooManySignInsError) {
        await new Promise((resolve) => setTimeout(resolve, HELD_BACK_PAUSE_MS));
        throw err;
      }
      const reason = err instanceof FleetError ? err.message : 'internal error';
      await this.#audit.record({ actor, action: 'node.enroll', ok: false, detail: `from ${remoteAddress}: ${reason}` });
      this.#log.warn({ from: remoteAddress, reason }, 'enrollment refused');
      this.#metrics?.enrollment(false);
      throw err;
    }
  }

  /**
   * Issues a new certificate to a node that proved itself with its current one (the same check
   * as Connect: the certificate on record). Audited either way.
   */
  async renew(peer: AgentPeer, csrPem: string): Promise<string> {
    const node = await this.#nodes.get(peer.nodeId);
    if (!node || ![node.certFingerprint, node.prevCertFingerprint].includes(peer.credentialFingerprint)) {
      await this.#audit.record({ actor: `node:${peer.nodeId}`, action: 'node.renew', ok: false, detail: `from ${peer.remoteAddress}: not the certificate on record` });
      throw new AgentRefusedError('this certificate is not the one on record for the node (renewed already, or the node was removed)');
    }
    const issued = await this.#pki.issueAgentCertificate(csrPem, node.id);
    await this.#nodes.setCertificate(node.id, issued.fingerprint, issued.notAfter, peer.credentialFingerprint);
    await this.#audit.record({ actor: `node:${node.id}`, action: 'node.renew', target: node.name, ok: true, detail: `valid until ${new Date(issued.notAfter).toISOString()}` });
    this.#log.info({ node: node.name }, 'agent certificate renewed');
    return issued.certPem;
  }

  /**
   * A node leaves the fleet at its own request (its agent is being uninstalled), proving itself
   * with its certificate: removed as by `fleet nodes remove`, so it is no longer listed and its
   * certificate is refused from now on; jobs, sessions and audit keep its name. Audited either way.
   * @returns the node's name
   */
  async leave(peer: AgentPeer, reason: string): Promise<string> {
    const node = await this.#nodes.get(peer.nodeId);
    if (!node || ![node.certFingerprint, node.prevCertFingerprint].includes(peer.credentialFingerprint)) {
      await this.#audit.record({ actor: `node:${peer.nodeId}`, action: 'node.leave', ok: false, detail: `from ${peer.remoteAddress}: not the certificate on record` });
      throw new AgentRefusedError('this certificate is not the one on record for the node (removed already, or enrolled again)');
    }
    const why = reason.replace(/[\x00-\x1f\x7f]+/g, ' ').trim().slice(0, 200) || 'no reason given';
    const at = Date.now();
    await this.#nodes.remove(node, `node:${node.id}`, at);
    await this.#state.forgetNode(node.id);
    this.#links.disconnect(node.id, new NodeRemovedError(node.name, at));
    await this.#audit.record({ actor: `node:${node.id}`, action: 'node.leave', target: node.name, ok: true, detail: `from ${peer.remoteAddress}: ${why}; node ${node.id} removed, its certificate is refused from now on` });
    this.#log.info({ node: node.name, reason: why }, 'node left the fleet');
    return node.name;
  }

  async #enrollWith(token: { id: string; secret: string; caHash: string }, request: EnrollRequest, remoteAddress: string): Promise<{ response: EnrollResponse; about: string }> {
    if (token.caHash !== this.#pki.caHash) {
      throw new JoinTokenRefusedError('the join token was issued by a different fleet server (its CA fingerprint does not match)', 'TOKEN_WRONG_SERVER');
    }
    const record = await this.#tokens.getJoin(token.id);
    if (!record || !secretMatches(token.secret, record.secretHash)) {
      throw new JoinTokenRefusedError('the join token is not known to this server', 'TOKEN_UNKNOWN');
    }
    const now = Date.now();
    if (record.revokedAt !== null) {
      throw new JoinTokenRefusedError(`join token ${record.id} was revoked at ${new Date(record.revokedAt).toISOString()}`, 'TOKEN_REVOKED');
    }
    if (record.expiresAt <= now) {
      throw new JoinTokenRefusedError(`join token ${record.id} expired at ${new Date(record.expiresAt).toISOString()}`, 'TOKEN_EXPIRED');
    }
    const keyHash = csrKeyHash(request.csrPem);
    const retryKey = `${record.id}:${keyHash}`;
    const earlier = keyHash ? await this.#recent.recall(retryKey) : undefined;
    if (earlier && (await this.#nodes.get(earlier.nodeId))?.joinTokenId === record.id) {
      this.#log.info({ node: earlier.nodeName }, 'enrollment retried with the same key: same node');
      return { response: earlier, about: '' };
    }
    if (record.used >= record.maxUses) {
      throw new JoinTokenRefusedError(`join token ${record.id} has been used ${record.used} of ${record.maxUses} times`, 'TOKEN_USED_UP');
    }
    const identity = checkIdentity(request.identity);
    const requested: Labels = { ...request.labels };
    try {
      validateLabels(requested);
    } catch (err) {
      throw new InvalidEnrollmentError((err as Error).message, err);
    }
    if (request.requestedName && !NODE_NAME.test(request.requestedName)) {
      throw new InvalidEnrollmentError(`node name "${request.requestedName}" is not valid (lower-case letters, digits, "-" and ".")`);
    }
    if (request.natsPublicKey && !isUserKey(request.natsPublicKey)) throw new InvalidEnrollmentError('the NATS public key is not a user nkey (U…)');
    // A token minted for one PXE machine: only that machine, only once approved, under its name.
    const machine = record.machineId ? await this.#machines?.admit(record, identity, remoteAddress) : undefined;
    if (record.machineId && !machine) throw new JoinTokenRefusedError('machine-bound tokens need PXE, which this server has not set up', 'TOKEN_MACHINE_GONE');
    // A machine enrolling again takes its offline node back (docs/security.md, "Re-enrollment").
    const askedName = machine?.name || request.requestedName ? toNodeName(machine?.name || request.requestedName) : '';
    const sameMachine = earlierNodes(await this.#nodes.withMacs(identity.macs), identity, askedName, (id) => this.#links.isOnline(id));
    const previous = request.newIdentity ? undefined : sameMachine.offline;
    const nodeId = previous?.id ?? newId('n');
    const issued = await this.#pki.issueAgentCertificate(request.csrPem, nodeId);
    const natsUserJwt = request.natsPublicKey && this.#nats ? await this.#nats.issueAgent(nodeId, request.natsPublicKey) : '';
    // Labels the operator set on the node outlive a reinstall; the token's (and machine's) still win.
    const labels = { ...requested, ...(previous?.labels ?? {}), ...record.labels, ...(machine?.labels ?? {}) };
    let name = previous?.name ?? '';
    if (!previous) {
      const baseName = toNodeName(machine?.name || request.requestedName || identity.hostname || nodeId);
      name = baseName;
      for (let i = 2; (await this.#nodes.nameTaken(name)); i++) name = `${baseName}-${i}`;
    }

    // Counting the use and creating (or taking over) the node happen together or not at all:
    // the use is counted first and given back when the node cannot be created or taken over.
    if (!(await this.#tokens.consumeJoin(record.id))) {
      throw new JoinTokenRefusedError(`join token ${record.id} has been used ${record.maxUses} of ${record.maxUses} times`, 'TOKEN_USED_UP');
    }
    try {
      if (previous) {
        // Back online, removed, renamed or enrolled again since it was looked up: undo, and let
        // the agent retry (it then sees what the node is now).
        const taken =
          !this.#links.isOnline(previous.id) &&
          (await this.#nodes.reenroll(
            previous.id,
            { name: previous.name, certFingerprint: previous.certFingerprint },
            { identity, labels, certFingerprint: issued.fingerprint, certNotAfter: issued.notAfter, agentVersion: request.agentVersion.slice(0, 64), joinTokenId: record.id, enrolledAt: now },
          ));
        if (!taken) throw new EnrollmentConflictError(previous.name);
      } else {
        await this.#nodes.insert({
          id: nodeId,
          name,
          labels,
          facts: undefined,
          identity,
          certFingerprint: issued.fingerprint,
          prevCertFingerprint: null,
          certNotAfter: issued.notAfter,
          agentVersion: request.agentVersion.slice(0, 64),
          joinTokenId: record.id,
          enrolledAt: now,
          lastSeenAt: null,
        });
      }
    } catch (err) {
      await this.#tokens.releaseJoin(record.id);
      throw err;
    }
    if (machine) await this.#machines!.provisioned(machine.machine.id, nodeId);
    // A link with the old certificate that is still being set up (no Hello yet) is closed.
    if (previous) this.#links.disconnect(previous.id, new AgentRefusedError(`node ${previous.name} was enrolled again from its machine; this certificate is no longer valid`));
    const { audit, notice } = describeEarlier(sameMachine, previous !== undefined, identity);
    const response = {
      nodeId,
      nodeName: name,
      certificatePem: issued.certPem,
      caPem: this.#pki.caPem,
      commandSigningKey: this.#pki.commandSigningKey,
      labels,
      natsUserJwt,
      notice,
    };
    if (keyHash) await this.#recent.remember(retryKey, response, RETRY_WINDOW_MS);
    return { response, about: audit };
  }
}
