// fleet agents upgrade [NODE…] [-l selector | --all] --version V [--batch 10%] [--deadline 60s]
import type { Command } from 'commander';
import { parseDuration } from '../../../common/duration';
import type { UpgradeEvent } from '../../../proto/gen/fleet/v1/control';
import type { CliEnv } from '../../env';
import { UsageError } from '../../errors';
import { selectorOption } from '../../options';

export const upgradeAgents = (agents: Command, env: CliEnv) => {
  agents
    .command('upgrade')
    .description('upgrade agents to another version, batch by batch; a node that does not come back healthy rolls back by itself')
    .argument('[nodes...]', 'node names or ids')
    .addOption(selectorOption())
    .option('--all', 'every node')
    .requiredOption('--version <version>', 'agent version the server offers (see DATA/releases)')
    .option('--batch <n>', 'nodes per batch: N or N%', '100%')
    .option('--deadline <duration>', 'time a node has to come back healthy before it rolls back', '60s')
    .action(async (nodes: string[], opts: { selector?: string; all?: boolean; version: string; batch: string; deadline: string }) => {
      if (!opts.all && !opts.selector && nodes.length === 0) throw new UsageError('say which nodes: name them, use -l SELECTOR, or --all');
      const deadlineMs = parseDuration(opts.deadline);
      if (deadlineMs < 5000 || deadlineMs > 3_600_000) throw new UsageError('--deadline must be between 5s and 1h');
      const client = env.client();
      const stream = await client.upgradeAgents({ selector: opts.selector ?? '', nodes, all: opts.all === true, version: opts.version, batch: opts.batch, deadlineMs });
      const failed = await new Promise<number>((resolve, reject) => {
        let result = -1;
        stream.on('data', (event: UpgradeEvent) => {
          const b = event.body;
          if (b?.$case === 'plan') {
            env.io.stderr.write(`upgrading ${b.value.nodes.length} node(s) to ${b.value.version}, ${b.value.batchSize} at a time\n`);
          } else if (b?.$case === 'node') {
            const r = b.value;
            env.io.stdout.write(`${r.nodeName}: ${r.outcome}${r.version ? ` (now ${r.version})` : ''}${r.detail ? `: ${r.detail}` : ''}\n`);
          } else if (b?.$case === 'done') {
            env.io.stderr.write(`${b.value.upgraded} upgraded, ${b.value.current} already current, ${b.value.failed} not upgraded\n`);
            result = b.value.failed;
          }
        });
        stream.on('error', (err) => reject(client.toError(err)));
        stream.on('end', () => (result >= 0 ? resolve(result) : reject(new Error('the server ended the upgrade stream early'))));
      });
      if (failed > 0) env.exitCode = Math.max(env.exitCode, 1);
    });
};
