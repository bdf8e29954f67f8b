// fleet jobs list|show
import type { CommandModule } from '../../env';
import { listJobs } from './list';
import { showJob } from './show';

export const jobs: CommandModule = (parent, env) => {
  const cmd = parent.command('jobs').description('past and running jobs');
  listJobs(cmd, env);
  showJob(cmd, env);
};
