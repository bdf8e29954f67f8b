// fleet agents upgrade
import type { CommandModule } from '../../env';
import { upgradeAgents } from './upgrade';

export const agents: CommandModule = (parent, env) => {
  const cmd = parent.command('agents').description('the agent software on nodes (versions are in `fleet nodes -o wide`)');
  upgradeAgents(cmd, env);
};
