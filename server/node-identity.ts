// Recognising a machine that enrolls again (reinstalled, disk wiped) by the hardware identity its
// agent sends, so that it takes its old node back instead of becoming a second one. The rule and
// why it is safe enough: docs/security.md, "Re-enrollment".
import type { MachineIdentity } from '../proto/gen/fleet/v1/common';
import type { NodeRecord } from './store';

/** MAC addresses as the store indexes them: lower-case, empty ones dropped. */
export function normalizedMacs(identity: MachineIdentity): string[] {
  return [...new Set(identity.macs.map((m) => m.trim().toLowerCase()).filter(Boolean))];
}

/**
 * The same hardware: at least one MAC address in common, and DMI system UUIDs that do not differ
 * (either may be unknown). A UUID alone is not enough: containers and some boards share one.
 */
export function sameMachine(a: MachineIdentity, b: MachineIdentity): boolean {
  const macs = new Set(normalizedMacs(a));
  if (!normalizedMacs(b).some((m) => macs.has(m))) return false;
  const ua = a.dmiUuid.trim().toLowerCase();
  const ub = b.dmiUuid.trim().toLowerCase();
  return !ua || !ub || ua === ub;
}

/** What an enrollment found among the nodes of its own machine. */
export interface EarlierNodes {
  /** The offline node it may take over: the most recently seen one when several fit. */
  offline: NodeRecord | undefined;
  /** Nodes of this machine that are online: never taken over. */
  online: NodeRecord[];
}

/**
 * Sorts `candidates` (nodes that share a MAC address with `identity`, see NodeStore.withMacs)
 * into the offline node an enrollment of this machine takes over and the online ones it leaves
 * alone. Only nodes of the same machine count (sameMachine), and, when the enrollment asks for a
 * name, only a node of that name: asking for another name is asking to be another node.
 */
export function earlierNodes(candidates: readonly NodeRecord[], identity: MachineIdentity, askedName: string, isOnline: (nodeId: string) => boolean): EarlierNodes {
  const mine = candidates.filter((n) => sameMachine(n.identity, identity) && (!askedName || n.name === askedName));
  const offline = mine
    .filter((n) => !isOnline(n.id))
    .sort((a, b) => (b.lastSeenAt ?? 0) - (a.lastSeenAt ?? 0) || b.enrolledAt - a.enrolledAt)
    .at(0);
  return { offline, online: mine.filter((n) => isOnline(n.id)) };
}

/** The MAC addresses two identities share, for the audit log. */
export function sharedMacs(a: MachineIdentity, b: MachineIdentity): string[] {
  const macs = new Set(normalizedMacs(a));
  return normalizedMacs(b).filter((m) => macs.has(m));
}
