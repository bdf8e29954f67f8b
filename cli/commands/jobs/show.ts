// fleet jobs show ID: replays a job's output and follows it until it ends (same exit codes as exec).
import type { Command } from 'commander';
import type { CliEnv } from '../../env';
import { parseOutputFormat, printStructured } from '../../output';
import { followJob } from './follow';
import { jobView } from '../../job-view';
import { outputOption } from '../../options';

export const showJob = (jobs: Command, env: CliEnv) => {
  jobs
    .command('show')
    .description('replay a job\'s output and follow it if it is still running')
    .argument('<id>', 'job id')
    .addOption(outputOption(['text', 'json', 'yaml'], 'text', 'json/yaml: the job and its runs, without output'))
    .action(async (id: string, opts: { output: string }) => {
      const format = parseOutputFormat(opts.output === 'text' ? 'table' : opts.output, ['table', 'json', 'yaml']);
      if (printStructured(env.io, format, jobView(await env.client().call('getJob', { id })))) return;
      env.exitCode = Math.max(env.exitCode, await followJob(env, id));
    });
};
