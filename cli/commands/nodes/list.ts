// fleet nodes [-l selector] [-o table|wide|json|yaml]
import type { Command } from 'commander';
import type { Node } from '../../../proto/gen/fleet/v1/control';
import type { CommandModule } from '../../env';
import { ago, formatBytes, formatLabels, parseOutputFormat, printStructured, printTable } from '../../output';
import { healthSummary } from '../health';
import { outputOption, selectorOption } from '../../options';

/** A node as users see it in JSON/YAML: plain values, bytes as numbers. */
export function nodeView(n: Node): Record<string, unknown> {
  return {
    id: n.id,
    name: n.name,
    online: n.online,
    labels: n.labels,
    agentVersion: n.agentVersion,
    enrolledAt: n.enrolledUnixMs ? new Date(n.enrolledUnixMs).toISOString() : null,
    lastSeenAt: n.lastSeenUnixMs ? new Date(n.lastSeenUnixMs).toISOString() : null,
    identity: n.identity,
    facts: n.facts ?? null,
    checks: n.checks,
  };
}

function addresses(n: Node): string {
  const ips = (n.facts?.interfaces ?? []).filter((i) => !i.internal).flatMap((i) => i.ipv4);
  return ips.length ? ips.join(',') : '-';
}

export const listNodes = (nodes: Command, env: Parameters<CommandModule>[1]) => {
  nodes
    .addOption(selectorOption('label selector, e.g. role=web,env!=dev,zone in (a,b) (repeat to AND)'))
    .addOption(outputOption(['table', 'wide', 'json', 'yaml'], 'table'))
    .action(async (opts: { selector?: string; output: string }) => {
      const format = parseOutputFormat(opts.output);
      const { nodes: list } = await env.client().call('listNodes', { selector: opts.selector ?? '' });
      if (printStructured(env.io, format, list.map(nodeView))) return;
      const os = (n: Node) => (n.facts?.os ? `${n.facts.os.distro} ${n.facts.os.release}`.trim() : '-');
      if (format === 'wide') {
        printTable(
          env.io,
          ['NAME', 'STATUS', 'ID', 'VERSION', 'OS', 'KERNEL', 'CPUS', 'MEMORY', 'ADDRESSES', 'LAST SEEN', 'LABELS', 'HEALTH'],
          list.map((n) => [
            n.name,
            n.online ? 'online' : 'offline',
            n.id,
            n.agentVersion || '-',
            os(n),
            n.facts?.os?.kernel || '-',
            String(n.facts?.cpu?.cores ?? '-'),
            formatBytes(Number(n.facts?.memory?.totalBytes ?? 0)),
            addresses(n),
            n.online ? 'now' : ago(n.lastSeenUnixMs),
            formatLabels(n.labels),
            healthSummary(n.checks),
          ]),
        );
      } else {
        printTable(env.io, ['NAME', 'STATUS', 'OS', 'LAST SEEN', 'LABELS'], list.map((n) => [n.name, n.online ? 'online' : 'offline', os(n), n.online ? 'now' : ago(n.lastSeenUnixMs), formatLabels(n.labels)]));
      }
      if (list.length === 0) env.io.stderr.write(opts.selector ? `no node matches "${opts.selector}"\n` : 'no nodes yet: create a join token with `fleet tokens create` and start an agent\n');
    });
};
