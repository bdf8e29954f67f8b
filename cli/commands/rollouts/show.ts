// fleet rollouts show ID [-o json|yaml]: the rollout's settings and where each node stands.
import type { Command } from 'commander';
import { formatDuration } from '../../../common/duration';
import type { Rollout, RolloutNode } from '../../../proto/gen/fleet/v1/control';
import type { CliEnv } from '../../env';
import { ago, oneLine, parseOutputFormat, printStructured, printTable } from '../../output';
import { batchText, changedResources, plural } from '../../rollout-view';
import { outputOption } from '../../options';

/** The DETAIL column: the error, or what changed. */
function detail(n: RolloutNode): string {
  if (n.error) return n.error;
  const changed = changedResources(n.resources);
  return changed.length ? `${changed.length} changed: ${changed.map((r) => r.id).join(', ')}` : '-';
}

function gate(ms: number): string {
  if (!ms) return 'none';
  return ms < 60_000 && ms % 1000 === 0 ? `${ms / 1000}s` : formatDuration(ms);
}

/** The header lines of `fleet rollouts show`. */
export function rolloutHeader(r: Rollout): string[] {
  const rows: [string, string][] = [
    ['rollout', r.id],
    ['spec', `${r.spec} revision ${r.revision}${r.previousRevision ? ` (from ${r.previousRevision})` : ''}`],
    ['state', `${r.state}${r.reason ? `: ${r.reason}` : ''}`],
    ['batches', `${batchText(r)}, ${plural(r.batchSize, 'node')} each`],
    ['errors', `${r.errors} (maxErrors ${r.maxErrors})`],
    ['health gate', `${gate(r.healthGateMs)}; auto-rollback ${r.autoRollback ? 'on' : 'off'}`],
    ['started', `${ago(r.createdUnixMs)} by ${r.createdBy}`],
    ['updated', ago(r.updatedUnixMs)],
  ];
  if (r.rollbackOf) rows.splice(2, 0, ['rolls back', r.rollbackOf]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`);
}

export const showRollout = (rollouts: Command, env: CliEnv) => {
  rollouts
    .command('show')
    .description('one rollout: its settings and each node\'s state')
    .argument('<id>', 'rollout id (r-…)')
    .addOption(outputOption(['table', 'json', 'yaml'], 'table'))
    .action(async (id: string, opts: { output: string }) => {
      const format = parseOutputFormat(opts.output, ['table', 'json', 'yaml']);
      const r = await env.client().call('getRollout', { id });
      if (printStructured(env.io, format, r)) return;
      env.io.stdout.write(rolloutHeader(r).join('\n') + '\n\n');
      printTable(env.io, ['NODE', 'BATCH', 'STATE', 'DETAIL'], r.nodes.map((n) => [n.nodeName, String(n.batch + 1), n.state, oneLine(detail(n), 160)]));
    });
};
