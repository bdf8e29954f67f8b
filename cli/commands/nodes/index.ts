// fleet nodes …
import type { CommandModule } from '../../env';
import { listNodes } from './list';
import { removeNode } from './remove';
import { showNode } from './show';

export const nodes: CommandModule = (parent, env) => {
  const cmd = parent.command('nodes').description('list nodes (`nodes show NODE` for one, `nodes remove NODE` to take one out of the fleet)');
  listNodes(cmd, env);
  showNode(cmd, env);
  removeNode(cmd, env);
};
