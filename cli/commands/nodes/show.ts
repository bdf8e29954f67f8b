// fleet nodes show NODE [-o yaml|json]
import type { Command } from 'commander';
import type { CommandModule } from '../../env';
import { parseOutputFormat, printStructured } from '../../output';
import { nodeView } from './list';
import { outputOption } from '../../options';

export const showNode = (nodes: Command, env: Parameters<CommandModule>[1]) => {
  nodes
    .command('show')
    .description('everything known about one node (inventory, labels, identity)')
    .argument('<node>', 'node name or id')
    .addOption(outputOption(['yaml', 'json'], 'yaml'))
    .action(async (node: string, opts: { output: string }) => {
      const format = parseOutputFormat(opts.output, ['yaml', 'json']);
      printStructured(env.io, format, nodeView(await env.client().call('getNode', { node })));
    });
};
