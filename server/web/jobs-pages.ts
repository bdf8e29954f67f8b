// The Jobs page (newest first) and the page of one job: its runs and each node's output, which
// follows the job's event stream (stored output first, then live) until the job is done.
import { API, ApiError, getJson, readEvents } from './api';
import { errorBox, h, replace, when } from './dom';
import { JobOutput, MAX_OUTPUT_PER_NODE, jobSummary, type JobEventJson, type JobJson, type JobSummary } from './model';
import type { Page } from './page';

/** Redraw a running job's page at most this often; wait this long before following it again after a drop. */
const REDRAW_MS = 250;
const RETRY_MS = 2000;

const states = (s: Record<string, number>) => Object.entries(s).map(([k, v]) => `${v} ${k}`).join(', ');

export const jobsPage: Page = async (main, ctx) => {
  replace(main, h('h1', {}, 'Jobs'), h('p', { class: 'muted' }, 'Loading…'));
  try {
    const jobs = ((await getJson<{ jobs?: JobJson[] }>(`${API}/jobs?limit=100`, ctx.signal)).jobs ?? []).map(jobSummary);
    replace(
      main,
      h('h1', {}, 'Jobs'),
      jobs.length
        ? h(
            'table',
            {},
            h('thead', {}, h('tr', {}, ...['Job', 'Command', 'Nodes', 'States', 'Created', 'By'].map((t) => h('th', {}, t)))),
            h(
              'tbody',
              {},
              ...jobs.map((j) =>
                h(
                  'tr',
                  {},
                  h('td', {}, h('a', { href: `#/jobs/${encodeURIComponent(j.id)}` }, j.id)),
                  h('td', {}, h('code', {}, j.command)),
                  h('td', {}, j.nodes),
                  h('td', {}, states(j.states)),
                  h('td', {}, when(j.createdUnixMs)),
                  h('td', {}, j.createdBy),
                ),
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'No jobs yet. Run one with `fleet exec`.'),
    );
  } catch (err) {
    // Left while loading: the fetch was aborted, and the next page owns main now.
    if (ctx.signal.aborted) return;
    replace(main, h('h1', {}, 'Jobs'), errorBox(err instanceof ApiError ? err.message : String(err)));
  }
};

/** Renders a job: its head, each run, and each node's output. */
function showJob(main: HTMLElement, id: string, job: JobSummary, output: JobOutput): void {
  replace(
    main,
    h('h1', {}, `Job ${job.id}`),
    h('p', {}, h('code', {}, job.command)),
    h('p', { class: 'muted' }, `${when(job.createdUnixMs)} by ${job.createdBy} · ${states(job.states)}${job.done ? '' : ' · running'}`),
    h(
      'table',
      {},
      h('thead', {}, h('tr', {}, ...['Node', 'State', 'Exit', 'Error', 'Started', 'Finished'].map((t) => h('th', {}, t)))),
      h(
        'tbody',
        {},
        ...job.runs.map((r) =>
          h(
            'tr',
            {},
            h('td', {}, h('a', { href: `#/nodes/${encodeURIComponent(r.node)}` }, r.node)),
            h('td', {}, r.state),
            h('td', {}, r.finishedUnixMs ? (r.signal ? r.signal : r.exitCode) : ''),
            h('td', {}, r.error),
            h('td', {}, when(r.startedUnixMs)),
            h('td', {}, when(r.finishedUnixMs)),
          ),
        ),
      ),
    ),
    ...output.nodes().map((o) =>
      h(
        'section',
        { class: 'output', 'data-node': o.node },
        h('h2', {}, o.node),
        o.chunks.length
          ? h('pre', {}, ...o.chunks.map((c) => (c.stream === 'err' ? h('span', { class: 'stderr' }, c.text) : c.text)))
          : h('p', { class: 'muted' }, 'no output'),
        o.truncated ? h('p', { class: 'muted' }, `output truncated (\`fleet jobs show ${id}\` has all of it)`) : null,
      ),
    ),
  );
}

export const jobPage: Page = async (main, ctx) => {
  const id = ctx.params[0] ?? '';
  let redraw: number | undefined;
  let retry: number | undefined;
  /** Follows the job's events from the start; resolves once the first batch is shown. */
  const follow = () =>
    new Promise<void>((shown) => {
      let job: JobJson | undefined;
      let output = new JobOutput();
      let done = false;
      const draw = () => {
        redraw = undefined;
        if (job && !ctx.signal.aborted) showJob(main, id, jobSummary(job), output);
        shown();
      };
      const onEvent = (e: JobEventJson) => {
        if (e.job) {
          job = e.job;
          output = new JobOutput();
          for (const r of job.runs ?? []) output.addNode(r.nodeId ?? '', r.nodeName ?? '');
        } else if (e.output) output.add(e.output);
        else if (e.run && job) {
          const run = e.run;
          job = { ...job, runs: (job.runs ?? []).map((r) => (r.nodeId === run.nodeId ? run : r)) };
        } else if (e.done) {
          job = e.done;
          done = true;
          output.end();
        }
      };
      // The first batch and the last show at once; those between at most every REDRAW_MS.
      let first = true;
      const batch = () => {
        if (!job) return;
        if (first || done) {
          first = false;
          clearTimeout(redraw);
          draw();
        } else redraw ??= window.setTimeout(draw, REDRAW_MS);
      };
      readEvents<JobEventJson>(`${API}/jobs/${encodeURIComponent(id)}/events?max_output_per_node=${MAX_OUTPUT_PER_NODE}`, ctx.signal, onEvent, batch)
        .then(() => {
          if (done || ctx.signal.aborted) return;
          // The stream ended before the job did (a server restart): follow it again.
          retry = window.setTimeout(() => void follow(), RETRY_MS);
        })
        .catch((err: unknown) => {
          if (!ctx.signal.aborted) replace(main, h('h1', {}, `Job ${id}`), errorBox(err instanceof ApiError ? err.message : String(err)));
        })
        .finally(shown);
    });
  await follow();
  return () => {
    clearTimeout(redraw);
    clearTimeout(retry);
  };
};
