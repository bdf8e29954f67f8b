// How machines (bare-metal provisioning over PXE) read in the terminal: hardware addresses checked
// and normalised before they are sent, a machine as plain JSON/YAML, and the one-line sentences the
// `fleet machines` verbs print about a machine's new state.
import type { Machine } from '../proto/gen/fleet/v1/control';
import { UsageError } from './errors';
import { formatLabels } from './output';

const MAC = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True when `text` is a MAC address written with colons or hyphens, in either case. */
export function isMac(text: string): boolean {
  return MAC.test(text.trim());
}

/**
 * A MAC address in the form the server stores: lower case, colon-separated.
 * @example parseMac('52-54-00-12-34-56') === '52:54:00:12:34:56'
 * @throws UsageError for anything but six pairs of hex digits separated by `:` or `-`.
 */
export function parseMac(text: string): string {
  const trimmed = text.trim();
  if (!MAC.test(trimmed)) throw new UsageError(`invalid MAC address "${text}" (expected six hex pairs, e.g. 52:54:00:12:34:56 or 52-54-00-12-34-56)`);
  return trimmed.toLowerCase().replaceAll('-', ':');
}

/**
 * An SMBIOS system UUID, lower case (as iPXE's `${uuid}` prints it).
 * @throws UsageError unless it is 8-4-4-4-12 hex digits.
 */
export function parseUuid(text: string): string {
  const trimmed = text.trim();
  if (!UUID.test(trimmed)) throw new UsageError(`invalid UUID "${text}" (expected 8-4-4-4-12 hex digits, e.g. 4c4c4544-0042-3510-8057-b4c04f564433)`);
  return trimmed.toLowerCase();
}

/** A MACHINE argument (name, id or MAC): a MAC in any accepted spelling is sent normalised. */
export function machineRef(text: string): string {
  return isMac(text) ? parseMac(text) : text;
}

/** The name to show for a machine (pending machines may not have one yet). */
export function machineName(m: Machine): string {
  return m.name || m.mac || m.id;
}

/** A machine as users see it in JSON/YAML: plain values, times as ISO 8601. */
export function machineView(m: Machine): Record<string, unknown> {
  return {
    id: m.id,
    name: m.name,
    state: m.state,
    mac: m.mac,
    uuid: m.uuid,
    serial: m.serial,
    profile: m.profile,
    bootProfile: m.bootProfile,
    bootProfileFrom: m.bootProfileFrom,
    labels: m.labels,
    nodeId: m.nodeId,
    createdAt: m.createdUnixMs ? new Date(m.createdUnixMs).toISOString() : null,
    lastBootAt: m.lastBootUnixMs ? new Date(m.lastBootUnixMs).toISOString() : null,
    lastBootAddress: m.lastBootAddress,
    reported: m.reported ?? null,
    approvedBy: m.approvedBy,
  };
}

/** "mac 52:54:00:12:34:56, serial ABC123": the hardware identities a machine is known by. */
export function identityText(m: Pick<Machine, 'mac' | 'uuid' | 'serial'>): string {
  const parts = [m.mac && `mac ${m.mac}`, m.uuid && `uuid ${m.uuid}`, m.serial && `serial ${m.serial}`].filter(Boolean);
  return parts.length ? parts.join(', ') : 'no hardware address';
}

/**
 * "debian12 (from group rack-a-web)", "debian12 (from machine)", "discovery (pending approval)",
 * or "-" when no profile applies.
 */
export function profileText(m: Machine): string {
  if (!m.bootProfile) return '-';
  if (!m.bootProfileFrom) return m.bootProfile;
  // The discovery image says where it comes from itself: "discovery (pending approval)".
  if (m.bootProfileFrom.startsWith(m.bootProfile)) return m.bootProfileFrom;
  return `${m.bootProfile} (from ${m.bootProfileFrom})`;
}

/** What the machine's agent last said about itself when it enrolled: "host-1 (52:54:00:12:34:56,…)". */
export function reportedText(m: Machine): string {
  const r = m.reported;
  if (!r || (!r.hostname && r.macs.length === 0 && !r.dmiUuid && !r.serial)) return '-';
  const extra = [r.macs.join(','), r.serial && `serial ${r.serial}`].filter(Boolean).join('; ');
  return `${r.hostname || '?'}${extra ? ` (${extra})` : ''}`;
}

const NO_PROFILE = 'no profile applies to it yet: add a matching or default group to the PXE config (`fleet pxe set`)';

/**
 * One line on a machine's state after a change, e.g.
 * `machine web-3 approved: profile debian12 (from group rack-a-web), labels role=web`.
 */
export function stateLine(m: Machine): string {
  const name = machineName(m);
  switch (m.state) {
    case 'registered':
    case 'approved':
      return m.bootProfile ? `machine ${name} ${m.state}: profile ${profileText(m)}, labels ${formatLabels(m.labels)}` : `machine ${name} ${m.state}, but ${NO_PROFILE}`;
    case 'pending':
      return `machine ${name} pending; it waits for \`fleet machines approve ${name}\``;
    case 'rejected':
      return `machine ${name} rejected; it is offered no profile when it network-boots`;
    case 'provisioned':
      return `machine ${name} provisioned${m.nodeId ? ` as node ${m.nodeId}` : ''}; it boots from its disk (\`fleet machines reinstall ${name}\` installs it again)`;
    default:
      return `machine ${name} ${m.state || 'in an unknown state'}`;
  }
}

/** The line `fleet machines reinstall` prints. */
export function reinstallLine(m: Machine): string {
  const name = machineName(m);
  if (!m.bootProfile) return `machine ${name} ${m.state} for reinstalling, but ${NO_PROFILE}`;
  return `machine ${name} ${m.state} for reinstalling: at its next network boot it installs profile ${profileText(m)} and enrolls again`;
}
