// fleet audit [--action A] [--limit N]
import type { CommandModule } from '../../env';
import { UsageError } from '../../errors';
import { parseOutputFormat, printStructured, printTable } from '../../output';

export const audit: CommandModule = (parent, env) => {
  parent
    .command('audit')
    .description('show the audit log, newest first (admin)')
    .option('--action <action>', 'only this action, e.g. node.enroll, job.start, token.create')
    .option('--limit <n>', 'how many entries', '50')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (opts: { action?: string; limit: string; output: string }) => {
      const format = parseOutputFormat(opts.output, ['table', 'json', 'yaml']);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive whole number');
      const { entries } = await env.client().call('listAudit', { limit, action: opts.action ?? '' });
      if (printStructured(env.io, format, entries.map((e) => ({ ...e, at: new Date(e.atUnixMs).toISOString() })))) return;
      printTable(env.io, ['TIME', 'ACTOR', 'ACTION', 'RESULT', 'TARGET', 'DETAIL'], entries.map((e) => [new Date(e.atUnixMs).toISOString(), e.actor, e.action, e.ok ? 'ok' : 'refused', e.target || '-', e.detail]));
    });
};
