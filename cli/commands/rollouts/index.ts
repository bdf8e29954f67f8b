// fleet rollouts list|show|pause|resume|rollback
import type { CommandModule } from '../../env';
import { listRollouts } from './list';
import { pauseRollout, resumeRollout } from './pause';
import { rollbackRollout } from './rollback';
import { showRollout } from './show';

export const rollouts: CommandModule = (parent, env) => {
  const cmd = parent.command('rollouts').description('rollouts of spec revisions (started by `fleet apply`)');
  listRollouts(cmd, env);
  showRollout(cmd, env);
  pauseRollout(cmd, env);
  resumeRollout(cmd, env);
  rollbackRollout(cmd, env);
};
