// fleet label NODE k=v k2-   (set and remove labels)
import type { CommandModule } from '../env';
import { UsageError } from '../errors';
import { parseLabelAssignments } from '../../common/labels';
import { formatLabels } from '../output';

export const label: CommandModule = (parent, env) => {
  parent
    .command('label')
    .description('set (k=v) and remove (k-) labels on a node')
    .argument('<node>', 'node name or id')
    .argument('<changes...>', 'k=v to set, k- to remove')
    .action(async (node: string, changes: string[]) => {
      const remove = changes.filter((c) => c.endsWith('-') && !c.includes('=')).map((c) => c.slice(0, -1));
      const set = parseLabelAssignments(changes.filter((c) => c.includes('=')));
      if (remove.length + Object.keys(set).length !== changes.length) throw new UsageError('each change is k=v (set) or k- (remove)');
      const updated = await env.client().call('labelNode', { node, set, remove });
      env.io.stdout.write(`${updated.name}: ${formatLabels(updated.labels)}\n`);
    });
};
