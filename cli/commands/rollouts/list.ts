// fleet rollouts list [--spec S] [--limit n] [-o json|yaml]
import type { Command } from 'commander';
import type { CliEnv } from '../../env';
import { UsageError } from '../../errors';
import { ago, parseOutputFormat, printStructured, printTable } from '../../output';
import { batchText } from '../../rollout-view';
import { outputOption } from '../../options';

export const listRollouts = (rollouts: Command, env: CliEnv) => {
  rollouts
    .command('list')
    .description('recent rollouts, newest first')
    .option('--spec <name>', 'only this spec\'s rollouts')
    .option('--limit <n>', 'how many', '20')
    .addOption(outputOption(['table', 'json', 'yaml'], 'table'))
    .action(async (opts: { spec?: string; limit: string; output: string }) => {
      const format = parseOutputFormat(opts.output, ['table', 'json', 'yaml']);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive whole number');
      const { rollouts: list } = await env.client().call('listRollouts', { spec: opts.spec ?? '', limit });
      if (printStructured(env.io, format, list)) return;
      printTable(
        env.io,
        ['ID', 'SPEC', 'REV', 'STATE', 'BATCH', 'ERRORS', 'STARTED', 'BY', 'REASON'],
        list.map((r) => [
          r.id,
          r.spec,
          r.rollbackOf ? `${r.revision} (rollback)` : String(r.revision),
          r.state,
          batchText(r),
          `${r.errors} (max ${r.maxErrors})`,
          ago(r.createdUnixMs),
          r.createdBy,
          r.reason || '-',
        ]),
      );
      if (list.length === 0) env.io.stderr.write(opts.spec ? `no rollouts of spec ${opts.spec}\n` : 'no rollouts yet: start one with `fleet apply -f SPEC`\n');
    });
};
