// The Jobs page (newest first) and the page of one job: its runs and each node's output.
import { ApiError, getJson } from './api';
import { errorBox, h, replace, when } from './dom';
import type { Page } from './page';
import type { WebJobDetail as JobDetail, WebJobSummary as JobSummary } from '../http/web-api';



const states = (s: Record<string, number>) => Object.entries(s).map(([k, v]) => `${v} ${k}`).join(', ');

export const jobsPage: Page = async (main, ctx) => {
  replace(main, h('h1', {}, 'Jobs'), h('p', { class: 'muted' }, 'Loading…'));
  try {
    const { jobs } = await getJson<{ jobs: JobSummary[] }>('/api/jobs?limit=100', ctx.signal);
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

export const jobPage: Page = async (main, ctx) => {
  const id = ctx.params[0] ?? '';
  let timer: number | undefined;
  const load = async () => {
    try {
      const job = await getJson<JobDetail>(`/api/jobs/${encodeURIComponent(id)}`, ctx.signal);
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
        ...job.output.map((o) =>
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
      if (!job.done && !ctx.signal.aborted) timer = window.setTimeout(load, 2000);
    } catch (err) {
      if (!ctx.signal.aborted) replace(main, h('h1', {}, `Job ${id}`), errorBox(err instanceof ApiError ? err.message : String(err)));
    }
  };
  await load();
  return () => clearTimeout(timer);
};
