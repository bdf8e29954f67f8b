// fleet audit [--since 1h|ISO-TIME] [--action A] [--limit N] [-o json]
import { parseDuration } from '../../../common/duration';
import type { CommandModule } from '../../env';
import { UsageError } from '../../errors';
import { parseOutputFormat, printStructured, printTable } from '../../output';
import { outputOption } from '../../options';

export const audit: CommandModule = (parent, env) => {
  parent
    .command('audit')
    .description('show the audit log, newest first (admin)')
    .option('--action <action>', 'only this action, e.g. node.enroll, job.start, token.create')
    .option('--since <when>', 'only entries since a duration ago (30m, 24h, 7d) or a time (2026-11-24T10:00:00Z)')
    .option('--limit <n>', 'how many entries at most', '50')
    .addOption(outputOption(['table', 'json', 'yaml'], 'table'))
    .action(async (opts: { action?: string; since?: string; limit: string; output: string }) => {
      const format = parseOutputFormat(opts.output, ['table', 'json', 'yaml']);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive whole number');
      const { entries } = await env.client().call('listAudit', { limit, action: opts.action ?? '', sinceUnixMs: opts.since ? sinceTime(opts.since) : 0 });
      if (printStructured(env.io, format, entries.map((e) => ({ ...e, at: new Date(e.atUnixMs).toISOString() })))) return;
      printTable(env.io, ['TIME', 'ACTOR', 'ACTION', 'RESULT', 'TARGET', 'DETAIL'], entries.map((e) => [new Date(e.atUnixMs).toISOString(), e.actor, e.action, e.ok ? 'ok' : 'refused', e.target || '-', e.detail]));
    });
};

/** A --since value as a time: a duration ago, or an ISO 8601 time. */
function sinceTime(text: string): number {
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const at = Date.parse(text);
    if (Number.isNaN(at)) throw new UsageError(`--since: "${text}" is not a valid time (e.g. 2026-11-24T10:00:00Z)`);
    return at;
  }
  try {
    return Date.now() - parseDuration(text);
  } catch {
    throw new UsageError(`--since: "${text}" is neither a duration (30m, 24h, 7d) nor a time (2026-11-24T10:00:00Z)`);
  }
}
