// fleet tokens list
import type { Command } from 'commander';
import type { CliEnv } from '../../env';
import { formatLabels, parseOutputFormat, printStructured, printTable } from '../../output';
import { outputOption } from '../../options';

export const listTokens = (tokens: Command, env: CliEnv) => {
  tokens
    .command('list')
    .description('list join tokens (never their secrets)')
    .addOption(outputOption(['table', 'json', 'yaml'], 'table'))
    .action(async (opts: { output: string }) => {
      const format = parseOutputFormat(opts.output, ['table', 'json', 'yaml']);
      const { tokens: list } = await env.client().call('listJoinTokens', {});
      if (printStructured(env.io, format, list)) return;
      const now = Date.now();
      printTable(
        env.io,
        ['ID', 'STATUS', 'USED', 'EXPIRES', 'LABELS', 'DESCRIPTION'],
        list.map((t) => [
          t.id,
          t.revoked ? 'revoked' : t.expiresUnixMs <= now ? 'expired' : t.used >= t.maxUses ? 'used-up' : 'valid',
          `${t.used}/${t.maxUses}`,
          new Date(t.expiresUnixMs).toISOString(),
          formatLabels(t.labels),
          t.description || '-',
        ]),
      );
    });
};
