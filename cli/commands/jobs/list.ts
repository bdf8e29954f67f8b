// fleet jobs list
import type { Command } from 'commander';
import { RunState, type Job } from '../../../proto/gen/fleet/v1/control';
import type { CliEnv } from '../../env';
import { UsageError } from '../../errors';
import { jobView } from '../../job-view';
import { ago, parseOutputFormat, printStructured, printTable } from '../../output';
import { outputOption } from '../../options';

function commandText(job: Job): string {
  const text = job.shell || job.argv.join(' ');
  return text.length > 50 ? `${text.slice(0, 47)}...` : text;
}

function statusText(job: Job): string {
  const ok = job.runs.filter((r) => r.state === RunState.RUN_STATE_SUCCEEDED).length;
  const bad = job.done ? job.runs.length - ok : 0;
  return `${job.done ? 'done' : 'running'}: ${ok}/${job.runs.length} ok${bad ? `, ${bad} not ok` : ''}`;
}

export const listJobs = (jobs: Command, env: CliEnv) => {
  jobs
    .command('list')
    .description('recent jobs, newest first')
    .option('--limit <n>', 'how many', '20')
    .addOption(outputOption(['table', 'json', 'yaml'], 'table'))
    .action(async (opts: { limit: string; output: string }) => {
      const format = parseOutputFormat(opts.output, ['table', 'json', 'yaml']);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive whole number');
      const { jobs: list } = await env.client().call('listJobs', { limit });
      if (printStructured(env.io, format, list.map(jobView))) return;
      printTable(env.io, ['ID', 'STARTED', 'BY', 'NODES', 'STATUS', 'COMMAND'], list.map((j) => [j.id, ago(j.createdUnixMs), j.createdBy, String(j.runs.length), statusText(j), commandText(j)]));
    });
};
