// fleet nodes remove NODE [--yes]: asks for the node's name on a terminal; scripts pass --yes.
import type { Command } from 'commander';
import type { CommandModule } from '../../env';
import { UsageError, UserError } from '../../errors';
import { promptLine } from '../../io';

export const removeNode = (nodes: Command, env: Parameters<CommandModule>[1]) => {
  nodes
    .command('remove')
    .description('remove a node: its agent is disconnected and its certificate refused from now on (admin)')
    .argument('<node>', 'node name or id')
    .option('-y, --yes', 'do not ask; required when not run from a terminal')
    .addHelpText(
      'after',
      `
On a terminal, fleet asks you to type the node's name to confirm; without a terminal (scripts,
pipes) it refuses unless --yes is given.

The node keeps its jobs, sessions and history. To bring the machine back, enroll it again with a new join token.`,
    )
    .action(async (node: string, opts: { yes?: boolean }) => {
      if (!opts.yes) {
        const interactive = env.io.stdin?.isTTY === true && env.io.stderr.isTTY === true;
        if (!interactive) throw new UsageError(`removing ${node} cannot be undone (it must enroll again to come back): add --yes`);
        const shown = await env.client().call('getNode', { node });
        const answer = await promptLine(env.io, `Remove node ${shown.name}? It is disconnected, its certificate refused, and it must enroll again to come back.\nType its name to confirm: `);
        if (answer?.trim() !== shown.name) throw new UserError(`node ${shown.name} not removed (the name typed did not match)`, 'NOT_CONFIRMED');
      }
      const removed = await env.client().call('removeNode', { node });
      env.io.stdout.write(`node ${removed.name} removed; its certificate is refused from now on\n`);
    });
};
