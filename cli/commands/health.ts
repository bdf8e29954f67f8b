// fleet health [-l selector] [-o json|yaml]: every node's health checks, one row per check.
import type { CheckState } from '../../proto/gen/fleet/v1/common';
import type { CommandModule } from '../env';
import { ago, oneLine, parseOutputFormat, printStructured, printTable } from '../output';
import { outputOption, selectorOption } from '../options';

/** "web/http": the spec a check belongs to, and its name. */
export function checkName(c: CheckState): string {
  return c.spec ? `${c.spec}/${c.name}` : c.name;
}

/** The HEALTH column of `fleet nodes -o wide`: "-", "ok" or "2/3 failing". */
export function healthSummary(checks: readonly CheckState[]): string {
  if (checks.length === 0) return '-';
  const failing = checks.filter((c) => !c.passing).length;
  return failing === 0 ? 'ok' : `${failing}/${checks.length} failing`;
}

export const health: CommandModule = (parent, env) => {
  parent
    .command('health')
    .description('health checks of every node (from the specs\' checks:)')
    .addOption(selectorOption('label selector, e.g. role=web (repeat to AND)'))
    .addOption(outputOption(['table', 'json', 'yaml'], 'table'))
    .addHelpText(
      'after',
      `
Checks are run by each agent (http, tcp or cmd) at their interval and reported when they change.
A node with no checks shows "-". An offline node shows its checks as last reported.

Exit status: 0 when every check passes, 1 when any check is failing (so scripts and monitors can
use \`fleet health -l role=web\` directly), 2 for usage errors.`,
    )
    .action(async (opts: { selector?: string; output: string }) => {
      const format = parseOutputFormat(opts.output, ['table', 'json', 'yaml']);
      const { nodes } = await env.client().call('listHealth', { selector: opts.selector ?? '' });
      const failing = nodes.some((n) => n.checks.some((c) => !c.passing));
      if (failing) env.exitCode = Math.max(env.exitCode, 1);
      if (printStructured(env.io, format, nodes)) return;
      const rows = nodes.flatMap((n) => {
        const online = n.online ? 'yes' : 'no';
        if (n.checks.length === 0) return [[n.nodeName, online, '-', '-', '-', '-']];
        return [...n.checks]
          .sort((a, b) => checkName(a).localeCompare(checkName(b)))
          .map((c) => [n.nodeName, online, checkName(c), c.passing ? 'passing' : 'failing', ago(c.sinceUnixMs), oneLine(c.output, 80)]);
      });
      printTable(env.io, ['NODE', 'ONLINE', 'CHECK', 'STATUS', 'SINCE', 'OUTPUT'], rows);
      if (nodes.length === 0) env.io.stderr.write(opts.selector ? `no node matches "${opts.selector}"\n` : 'no nodes yet\n');
    });
};
