// The `curl … | sh` line that installs an agent from this server, pinned to its HTTPS key.
import { parseServerAddress } from '../common/address';
import type { WhoAmIResponse } from '../proto/gen/fleet/v1/control';

/** Quotes a word for POSIX sh. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The install command for `token`, fetching from `host` (default: the host of the CLI's server).
 * `args` are passed to install.sh after `--token`.
 */
export function installCommand(me: WhoAmIResponse, server: string, token: string, options: { host?: string; sudo?: boolean; args?: string[] } = {}): string {
  const host = options.host ?? parseServerAddress(server).host;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${me.installPort}/install.sh`;
  const args = ['--token', token, ...(options.args ?? [])].map(shellQuote).join(' ');
  return `curl -fsSL -k --pinnedpubkey ${shellQuote(me.installPin)} ${url} | ${options.sudo === false ? '' : 'sudo '}sh -s -- ${args}`;
}
