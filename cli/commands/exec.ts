// fleet exec [NODE…] [-l selector | --all] [rate options] -- CMD…
import { Option } from 'commander';
import { parseDuration } from '../../common/duration';
import { OutputStream } from '../../proto/gen/fleet/v1/common';
import type { Job } from '../../proto/gen/fleet/v1/control';
import type { CliEnv, CommandModule } from '../env';
import { UsageError } from '../errors';
import { jobExitCode, jobView } from '../job-view';
import { printJson } from '../output';
import { followJob } from './jobs/follow';

/** A single argument with spaces or shell syntax is a script for `sh -c`; otherwise argv. */
export function commandFrom(words: string[]): { argv: string[]; shell: string } {
  if (words.length === 1 && /[\s;&|<>()$`*?~"'\\]/.test(words[0]!)) return { argv: [], shell: words[0]! };
  return { argv: words, shell: '' };
}

async function collectJson(env: CliEnv, jobId: string): Promise<Job> {
  const output = new Map<string, { stdout: Buffer[]; stderr: Buffer[] }>();
  const job = await new Promise<Job>((resolve, reject) => {
    let done: Job | undefined;
    const stream = env.client().watchJob(jobId);
    stream.on('data', (e) => {
      if (e.body?.$case === 'output') {
        const o = output.get(e.body.value.nodeName) ?? { stdout: [], stderr: [] };
        (e.body.value.stream === OutputStream.OUTPUT_STREAM_STDERR ? o.stderr : o.stdout).push(e.body.value.data);
        output.set(e.body.value.nodeName, o);
      } else if (e.body?.$case === 'done') done = e.body.value;
    });
    stream.on('error', reject);
    stream.on('end', () => (done ? resolve(done) : reject(new Error('the server ended the job stream early'))));
  });
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
    .option('-l, --selector <selector>', 'label selector, e.g. role=web,env!=dev')
    .option('--all', 'run on every node')
    .option('--max-concurrency <n>', 'at most N nodes (or N%) at a time')
    .option('--max-errors <n>', 'stop starting new nodes after N failures')
    .option('--timeout <duration>', 'per-node timeout; the process group is killed', '30s')
    .option('--queue <duration>', 'deliver to offline nodes that return within this time')
    .option('--detach', 'print the job id and return at once (follow later with `fleet jobs show ID`)')
    .addOption(new Option('-o, --output <format>', 'text (streamed) or json (at the end)').choices(['text', 'json']).default('text'))
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
      if (opts.output === 'json') {
        env.exitCode = Math.max(env.exitCode, jobExitCode(await collectJson(env, job.id)));
        return;
      }
      if (env.io.stderr.isTTY) env.io.stderr.write(`job ${job.id} on ${job.runs.length} node(s)\n`);
      env.exitCode = Math.max(env.exitCode, await followJob(env, job.id));
    });
};
