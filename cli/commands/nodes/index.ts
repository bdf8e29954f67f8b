// fleet nodes …
import type { CommandModule } from '../../env';
import { listNodes } from './list';
import { showNode } from './show';

export const nodes: CommandModule = (parent, env) => {
  const cmd = parent.command('nodes').description('list nodes (and `nodes show NODE` for one)');
  listNodes(cmd, env);
  showNode(cmd, env);
};
