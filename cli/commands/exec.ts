// fleet exec [NODE…] [-l selector | --all] [rate options] -- CMD…
import { parseDuration } from '../../common/duration';
import type { Job } from '../../proto/gen/fleet/v1/control';
import type { CliEnv, CommandModule } from '../env';
import { UsageError } from '../errors';
import { jobExitCode, jobView } from '../job-view';
import { printJson } from '../output';
import { collectJob, followJob } from './jobs/follow';
import { outputOption, selectorOption } from '../options';

/** A single argument with spaces or shell syntax is a script for `sh -c`; otherwise argv. */
export function commandFrom(words: string[]): { argv: string[]; shell: string } {
  if (words.length === 1 && /[\s;&|<>()$`*?~"'\\]/.test(words[0]!)) return { argv: [], shell: words[0]! };
  return { argv: words, shell: '' };
}

async function collectJson(env: CliEnv, jobId: string): Promise<Job> {
  const { job, output } = await collectJob(env, jobId);
  const view = jobView(job);
  printJson(env.io, {
    ...view,
    runs: (view.runs as { node: string }[]).map((r) => ({
      ...r,
      stdout: Buffer.concat(output.get(r.node)?.stdout ?? []).toString('utf8'),
      stderr: Buffer.concat(output.get(r.node)?.stderr ?? []).toString('utf8'),
    })),
  });
  return job;
}

export const exec: CommandModule = (parent, env) => {
  parent
    .command('exec')
    .description('run a command on nodes, streaming their output')
    .argument('[nodes...]', 'node names or ids (combined with -l when both are given)')
    .addOption(selectorOption('label selector, e.g. role=web,env!=dev (repeat to AND)'))
    .option('--all', 'run on every node')
    .option('--max-concurrency <n>', 'at most N nodes (or N%) at a time')
    .option('--max-errors <n>', 'stop starting new nodes after N failures')
    .option('--timeout <duration>', 'per-node timeout; the process group is killed', '30s')
    .option('--queue <duration>', 'deliver to offline nodes that return within this time')
    .option('--detach', 'print the job id and return at once (follow later with `fleet jobs show ID`)')
    .addOption(outputOption(['text', 'json'], 'text', 'text is streamed as it comes, json printed at the end'))
    .addHelpText(
      'after',
      `
The command comes after --. Several words run as a program with arguments (no shell);
one word with spaces or shell syntax runs with sh -c:

  fleet exec -l role=web -- systemctl restart nginx
  fleet exec web-1 web-2 -- 'journalctl -u nginx | tail -n 5'

Exit status: 0 when every node succeeded, 1 when any failed, timed out or was offline, 2 for usage errors.`,
    )
    .action(async (nodes: string[], opts: { selector?: string; all?: boolean; maxConcurrency?: string; maxErrors?: string; timeout: string; queue?: string; detach?: boolean; output: string }) => {
      const words = env.trailing;
      if (!words || words.length === 0) throw new UsageError('put the command after --, e.g. fleet exec -l role=web -- uptime');
      if (!opts.all && !opts.selector && nodes.length === 0) throw new UsageError('say which nodes: name them, use -l SELECTOR, or --all');
      const maxErrors = opts.maxErrors === undefined ? 0 : Number(opts.maxErrors);
      if (!Number.isInteger(maxErrors) || maxErrors < 0) throw new UsageError('--max-errors must be a whole number');
      const timeoutMs = parseDuration(opts.timeout);
      if (timeoutMs <= 0) throw new UsageError('--timeout must be longer than 0');
      const queueTtlMs = opts.queue ? parseDuration(opts.queue) : 0;
      const job = await env.client().call('startJob', {
        selector: opts.selector ?? '',
        nodes,
        all: opts.all === true,
        ...commandFrom(words),
        maxConcurrency: opts.maxConcurrency ?? '',
        maxErrors,
        timeoutMs,
        queueTtlMs,
      });
      if (opts.detach) {
        env.io.stdout.write(`${job.id}\n`);
        return;
      }
      // Always said, so a job that outlives this command (Ctrl-C, a lost server) can be found again.
      env.io.stderr.write(`job ${job.id} on ${job.runs.length} node${job.runs.length === 1 ? '' : 's'} (follow again with \`fleet jobs show ${job.id}\`)\n`);
      if (opts.output === 'json') {
        env.exitCode = Math.max(env.exitCode, jobExitCode(await collectJson(env, job.id)));
        return;
      }
      env.exitCode = Math.max(env.exitCode, await followJob(env, job.id));
    });
};
