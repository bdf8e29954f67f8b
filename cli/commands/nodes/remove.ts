// fleet nodes remove NODE --yes
import type { Command } from 'commander';
import type { CommandModule } from '../../env';
import { UsageError } from '../../errors';

export const removeNode = (nodes: Command, env: Parameters<CommandModule>[1]) => {
  nodes
    .command('remove')
    .description('remove a node: its agent is disconnected and its certificate refused from now on (admin)')
    .argument('<node>', 'node name or id')
    .option('-y, --yes', 'do not ask (required when stdin is not a terminal)')
    .addHelpText('after', '\nThe node keeps its jobs, sessions and history. To bring the machine back, enroll it again with a new join token.')
    .action(async (node: string, opts: { yes?: boolean }) => {
      if (!opts.yes) throw new UsageError(`removing ${node} cannot be undone (it must enroll again to come back): add --yes`);
      const removed = await env.client().call('removeNode', { node });
      env.io.stdout.write(`node ${removed.name} removed; its certificate is refused from now on\n`);
    });
};
