// fleet tokens create [--ttl 1h] [--uses N] [--label k=v]… : prints a join token (only the token on stdout).
import type { Command } from 'commander';
import { parseDuration } from '../../../common/duration';
import { parseLabelAssignments } from '../../../common/labels';
import { resolveContext } from '../../context';
import type { CliEnv } from '../../env';
import { UsageError } from '../../errors';
import { formatLabels, parseOutputFormat, printJson } from '../../output';
import { installCommand } from '../../install-command';
import { outputOption } from '../../options';

export const createToken = (tokens: Command, env: CliEnv) => {
  tokens
    .command('create')
    .description('create a join token for agents (printed once; it carries the CA fingerprint)')
    .option('--ttl <duration>', 'how long the token is valid', '1h')
    .option('--uses <n>', 'how many agents may enroll with it', '1')
    .option('-l, --label <k=v>', 'label every node enrolled with this token (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('-d, --description <text>', 'what the token is for', '')
    .addOption(outputOption(['text', 'json'], 'text'))
    .action(async (opts: { ttl: string; uses: string; label: string[]; description: string; output: string }) => {
      const format = parseOutputFormat(opts.output === 'text' ? 'table' : opts.output, ['table', 'json']);
      const uses = Number(opts.uses);
      if (!Number.isInteger(uses) || uses < 1 || uses > 1_000_000) throw new UsageError('--uses must be a whole number from 1 to 1000000');
      const ttlMs = parseDuration(opts.ttl);
      if (ttlMs <= 0) throw new UsageError('--ttl must be longer than 0');
      const labels = parseLabelAssignments(opts.label);
      const res = await env.client().call('createJoinToken', { ttlMs, maxUses: uses, labels, description: opts.description });
      if (format === 'json') {
        printJson(env.io, { token: res.token, id: res.info!.id, expiresAt: new Date(res.info!.expiresUnixMs).toISOString(), maxUses: res.info!.maxUses, labels: res.info!.labels });
        return;
      }
      env.io.stdout.write(`${res.token}\n`);
      const server = resolveContext(env.configFile, env.contextName).context.server;
      const me = await env.client().call('whoAmI', {});
      env.io.stderr.write(
        `join token ${res.info!.id}: ${uses} use${uses === 1 ? '' : 's'}, expires ${new Date(res.info!.expiresUnixMs).toISOString()}, labels ${formatLabels(res.info!.labels)}\n` +
          `install an agent with:\n  ${installCommand(me, server, res.token)}\n`,
      );
    });
};
