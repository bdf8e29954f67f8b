// What fleet-server prints on stdout at start: where it listens, its CA fingerprint, and the lines
// to copy (install an agent, log in) with addresses other machines reach it by. A bare hostname
// is never printed: it often resolves to nothing, or to 127.0.0.1, on the machines that need it.
import { isIP } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';

/** At most this many addresses are printed for a wildcard listener; `--name` picks them instead. */
const MAX_HOSTS = 5;

/** True for a listener bound to every address (`0.0.0.0`, `::` or no host). */
export function isWildcard(host: string): boolean {
  return host === '' || host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** `host` as it goes into a URL (IPv6 in brackets). */
export function urlHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

/** 127.0.0.0/8, 169.254.0.0/16, ::1, fe80::/10 and IPv4-mapped loopback: not reachable from another machine. */
function localOnly(address: string): boolean {
  const a = address.toLowerCase();
  return /^127\./.test(a) || /^169\.254\./.test(a) || a === '::1' || /^fe[89ab][0-9a-f]:/.test(a) || /^::ffff:127\./.test(a);
}

/** The hosts a listener is reached by, and how many more there were than printed. */
export interface ReachableHosts {
  hosts: string[];
  more: number;
}

/**
 * The addresses other machines reach a listener bound to `bindHost` by: the bound address itself;
 * for a wildcard listener the server's `--name` values when given, else the machine's addresses
 * that are not loopback or link-local (IPv4 first; IPv6 too when bound to `::`), else 127.0.0.1.
 * @example reachableHosts('10.0.0.5', [], interfaces) → { hosts: ['10.0.0.5'], more: 0 }
 */
export function reachableHosts(bindHost: string, names: string[], interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): ReachableHosts {
  if (!isWildcard(bindHost)) return { hosts: [bindHost], more: 0 };
  let hosts = [...new Set(names)];
  if (hosts.length === 0) {
    const v4 = new Set<string>();
    const v6 = new Set<string>();
    for (const list of Object.values(interfaces)) {
      for (const a of list ?? []) {
        if (a.internal || localOnly(a.address)) continue;
        if (a.family === 'IPv4') v4.add(a.address);
        else if (bindHost !== '0.0.0.0') v6.add(a.address.split('%')[0]!);
      }
    }
    hosts = [...v4, ...v6];
  }
  if (hosts.length === 0) hosts = ['127.0.0.1'];
  return { hosts: hosts.slice(0, MAX_HOSTS), more: Math.max(0, hosts.length - MAX_HOSTS) };
}

export interface BannerInput {
  version: string;
  caHash: string;
  installPin: string;
  /** `--name` values (the server certificate's extra names). */
  names: string[];
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>;
  grpc: { host: string; port: number };
  https: { host: string; port: number };
  metrics?: { host: string; port: number };
  pxe?: { host: string; port: number };
  /** Shown once, at first start. */
  firstAdminToken?: string;
}

/** The start-up text, every URL in it one that other machines can use (see reachableHosts). */
export function bannerText(b: BannerInput): string {
  const reach = (l: { host: string }) => reachableHosts(l.host, b.names, b.interfaces);
  const urls = (l: { host: string; port: number }, scheme: string, path = '') => reach(l).hosts.map((h) => `${scheme}://${urlHost(h)}:${l.port}${path}`);
  const https = reach(b.https);
  const grpc = reach(b.grpc);
  const moreNote = (r: ReachableHosts) => (r.more ? `  (and ${r.more} more address${r.more === 1 ? '' : 'es'}: start fleet-server with --name to choose the ones printed)\n` : '');
  const several = (lines: string[], intro: string, r: ReachableHosts) =>
    lines.length === 1 ? `${intro}: ${lines[0]}\n` : `${intro} (use an address the machine reaches this server by):\n${lines.map((l) => `  ${l}\n`).join('')}${moreNote(r)}`;
  const install = urls(b.https, 'https', '/install.sh').map((u) => `curl -fsSL -k --pinnedpubkey '${b.installPin}' ${u} | sudo sh -s -- --token TOKEN`);
  let text =
    `fleet-server ${b.version} listening on ${urlHost(b.grpc.host)}:${b.grpc.port}\n` +
    `CA fingerprint: sha256:${b.caHash}\n` +
    `installs on ${urls(b.https, 'https').join(', ')} (pin ${b.installPin})\n` +
    (b.metrics ? `metrics on ${urls(b.metrics, 'http', '/metrics').join(', ')}\n` : '') +
    (b.pxe ? `PXE on ${urls(b.pxe, 'http', '/pxe/boot.ipxe').join(', ')}\n` : '') +
    several(install, 'install an agent', https);
  if (b.firstAdminToken) {
    const logins = urls(b.grpc, 'https').map((u) => `fleet login --server ${u} --token ${b.firstAdminToken} --ca-hash sha256:${b.caHash}`);
    text +=
      `\nFirst start: an admin API token was created. It is shown only this once; keep it safe:\n\n  ${b.firstAdminToken}\n\n` +
      `Log in from any machine with${logins.length > 1 ? ' one of these (an address that machine reaches this server by)' : ''}:\n\n` +
      `${logins.map((l) => `  ${l}\n`).join('')}${moreNote(grpc)}\n`;
  }
  return text;
}
