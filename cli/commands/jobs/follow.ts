// Follows a job to its end through WatchJob, rendering it with JobView; returns the exit code.
import { fromGrpcError, isServiceError } from '../../../transport';
import type { Job } from '../../../proto/gen/fleet/v1/control';
import type { CliEnv } from '../../env';
import { JobView, jobExitCode, summaryLines } from '../../job-view';

/** Streams a job's output until it is done, prints the summary and returns the CLI exit code. */
export async function followJob(env: CliEnv, jobId: string): Promise<number> {
  const view = new JobView(env.io, { progress: true });
  const stream = env.client().watchJob(jobId);
  const job = await new Promise<Job>((resolve, reject) => {
    let finished: Job | undefined;
    stream.on('data', (event) => {
      finished = view.handle(event) ?? finished;
    });
    stream.on('error', (err) => reject(isServiceError(err) ? fromGrpcError(err) : err));
    stream.on('end', () => (finished ? resolve(finished) : reject(new Error('the server ended the job stream early'))));
  });
  env.io.stderr.write(summaryLines(job).join('\n') + '\n');
  return jobExitCode(job);
}
