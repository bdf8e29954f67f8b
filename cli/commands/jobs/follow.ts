// Follows a job to its end through WatchJob, rendering it with JobView; returns the exit code.
// When the server goes away mid-job (a restart, a failover), it re-attaches: the job carries on
// there, and output already shown is not shown again.
import { OutputStream } from '../../../proto/gen/fleet/v1/common';
import type { Job, JobEvent } from '../../../proto/gen/fleet/v1/control';
import type { CliEnv } from '../../env';
import { JobFollowLostError } from '../../errors';
import { JobView, jobExitCode, summaryLines } from '../../job-view';
import { RECONNECT_FOR_MS, serverWentAway } from '../../reconnect';

/**
 * Watches a job until it is done, through server restarts, and returns the finished job.
 * Each output event reaches `onEvent` once: after a re-attach, the server replays the job's
 * output from the start, and the bytes already delivered for each node and stream are skipped.
 */
export async function watchJobToEnd(env: CliEnv, jobId: string, onEvent: (event: JobEvent) => void): Promise<Job> {
  const seen = new Map<string, number>();
  let giveUpAt = 0;
  for (;;) {
    const replayed = new Map<string, number>();
    try {
      const done = await watchOnce(env, jobId, (event) => {
        giveUpAt = 0;
        if (event.body?.$case === 'output') {
          const o = event.body.value;
          const key = `${o.stream}\0${o.nodeId}`;
          const before = replayed.get(key) ?? 0;
          replayed.set(key, before + o.data.length);
          const skip = Math.max(0, (seen.get(key) ?? 0) - before);
          if (skip >= o.data.length) return;
          seen.set(key, before + o.data.length);
          if (skip > 0) event = { body: { $case: 'output', value: { ...o, data: o.data.subarray(skip) } } };
        }
        onEvent(event);
      });
      if (done) return done;
    } catch (err) {
      if (!serverWentAway(err)) throw err;
    }
    if (giveUpAt === 0) {
      giveUpAt = Date.now() + RECONNECT_FOR_MS;
      env.io.stderr.write(`lost the server; reconnecting (job ${jobId} carries on there)\n`);
    } else if (Date.now() > giveUpAt) {
      throw new JobFollowLostError(jobId);
    }
    await new Promise((r) => setTimeout(r, 1000));
    env.resetClient();
  }
}

/** One WatchJob call: resolves with the finished job, or undefined when the stream ended early. */
async function watchOnce(env: CliEnv, jobId: string, onEvent: (event: JobEvent) => void): Promise<Job | undefined> {
  const client = env.client();
  const stream = await client.watchJob(jobId);
  return await new Promise<Job | undefined>((resolve, reject) => {
    let finished: Job | undefined;
    stream.on('data', (event: JobEvent) => {
      if (event.body?.$case === 'done') finished = event.body.value;
      onEvent(event);
    });
    stream.on('error', (err) => reject(client.toError(err)));
    stream.on('end', () => resolve(finished));
  });
}

/** Streams a job's output until it is done, prints the summary and returns the CLI exit code. */
export async function followJob(env: CliEnv, jobId: string): Promise<number> {
  const view = new JobView(env.io, { progress: true });
  let job: Job | undefined;
  const done = await watchJobToEnd(env, jobId, (event) => {
    job = view.handle(event) ?? job;
  });
  job ??= done;
  env.io.stderr.write(summaryLines(job).join('\n') + '\n');
  return jobExitCode(job);
}

/** Output of a job gathered per node, for `-o json`. */
export async function collectJob(env: CliEnv, jobId: string): Promise<{ job: Job; output: Map<string, { stdout: Buffer[]; stderr: Buffer[] }> }> {
  const output = new Map<string, { stdout: Buffer[]; stderr: Buffer[] }>();
  const job = await watchJobToEnd(env, jobId, (e) => {
    if (e.body?.$case !== 'output') return;
    const o = output.get(e.body.value.nodeName) ?? { stdout: [], stderr: [] };
    (e.body.value.stream === OutputStream.OUTPUT_STREAM_STDERR ? o.stderr : o.stdout).push(e.body.value.data);
    output.set(e.body.value.nodeName, o);
  });
  return { job, output };
}
