// The Nodes page (filter by label selector, online state, health, key facts) and the page of one
// node (health checks, desired state, recent jobs, inventory, and the Terminal button for
// operators).
import { API, ApiError, getJson } from './api';
import { ago, bytes, errorBox, h, replace, when } from './dom';
import { jobSummary, nodeSpecs, nodeSummary, type Check, type JobJson, type JobSummary, type NodeHealth, type NodeJson, type NodeSpec, type NodeStateJson, type NodeSummary, type Run } from './model';
import { isOperator, type Page } from './page';

/** How many of the newest jobs the node page looks through for its own, and how many it lists. */
const JOBS_LOOKED_AT = 200;
const RECENT_JOBS = 20;

const REFRESH_MS = 5000;

export const onlineBadge = (online: boolean) => h('span', { class: online ? 'badge online' : 'badge offline' }, online ? 'online' : 'offline');
const labelList = (labels: Record<string, string>) =>
  h('span', { class: 'labels' }, ...Object.entries(labels).map(([k, v]) => h('code', { class: 'label' }, `${k}=${v}`)));

/** "–" without checks, "ok" when all pass, "2 failing" otherwise. */
export const healthBadge = (health: NodeHealth) =>
  health.checks === 0
    ? h('span', { class: 'health none muted' }, '–')
    : health.failing === 0
      ? h('span', { class: 'health ok' }, 'ok')
      : h('span', { class: 'health failing' }, `${health.failing} failing`);

/** A time as "5 s ago", with the full date and time on hover. */
const agoWithTitle = (ms: number) => h('span', { title: when(ms) }, ago(ms));

export const nodesPage: Page = (main, ctx) => {
  const selector = ctx.query.get('selector') ?? '';
  const input = h('input', { type: 'search', name: 'selector', value: selector, placeholder: 'label selector, e.g. role=web,env!=dev', 'aria-label': 'label selector', size: 40 });
  const form = h('form', { class: 'filter', onsubmit: (e: Event) => {
    e.preventDefault();
    location.hash = input.value.trim() ? `#/nodes?selector=${encodeURIComponent(input.value.trim())}` : '#/nodes';
  } }, input, h('button', { type: 'submit' }, 'Filter'));
  const status = h('p', { class: 'muted' }, 'Loading…');
  const table = h('table', { class: 'nodes' });
  replace(main, h('h1', {}, 'Nodes'), form, status, table);

  const load = async () => {
    try {
      const nodes = ((await getJson<{ nodes?: NodeJson[] }>(`${API}/nodes?selector=${encodeURIComponent(selector)}`, ctx.signal)).nodes ?? []).map(nodeSummary);
      const online = nodes.filter((n) => n.online).length;
      replace(status, `${nodes.length} node${nodes.length === 1 ? '' : 's'}${selector ? ` matching ${selector}` : ''}, ${online} online`);
      replace(
        table,
        h('thead', {}, h('tr', {}, ...['Node', 'State', 'Health', 'Labels', 'OS', 'Kernel', 'CPUs', 'Memory', 'IPs', 'Agent'].map((t) => h('th', {}, t)))),
        h(
          'tbody',
          {},
          ...nodes.map((n) =>
            h(
              'tr',
              { 'data-node': n.name },
              h('td', {}, h('a', { href: `#/nodes/${encodeURIComponent(n.name)}` }, n.name)),
              h('td', {}, onlineBadge(n.online)),
              h('td', { class: 'health-cell' }, healthBadge(n.health)),
              h('td', {}, labelList(n.labels)),
              h('td', {}, n.os || '–'),
              h('td', {}, n.kernel || '–'),
              h('td', {}, n.cpus || '–'),
              h('td', {}, bytes(n.memoryBytes)),
              h('td', { class: 'ips' }, n.ips.join(' ') || '–'),
              h('td', {}, n.agentVersion),
            ),
          ),
        ),
      );
    } catch (err) {
      if (ctx.signal.aborted) return;
      table.replaceChildren();
      replace(status, errorBox(err instanceof ApiError ? err.message : String(err)));
      if (err instanceof ApiError && err.status === 400) return; // a bad selector stays bad
    }
    if (!ctx.signal.aborted) timer = window.setTimeout(load, REFRESH_MS);
  };
  let timer: number | undefined;
  void load();
  return () => clearTimeout(timer);
};

function factRows(value: unknown, prefix = ''): [string, string][] {
  if (value === null || value === undefined || value === '') return [];
  if (Array.isArray(value)) return value.flatMap((v, i) => factRows(v, `${prefix}[${i}]`));
  if (typeof value === 'object') return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => factRows(v, prefix ? `${prefix}.${k}` : k));
  return [[prefix, String(value)]];
}

/** The Health section: every check the node reports, failing ones first. */
function healthSection(checks: Check[]): HTMLElement[] {
  if (checks.length === 0) return [h('p', { class: 'muted' }, 'No health checks.')];
  const sorted = [...checks].sort((a, b) => Number(a.passing) - Number(b.passing) || a.spec.localeCompare(b.spec) || a.name.localeCompare(b.name));
  return [
    h(
      'table',
      { class: 'checks' },
      h('thead', {}, h('tr', {}, ...['Spec', 'Check', 'State', 'Since', 'Output'].map((t) => h('th', {}, t)))),
      h(
        'tbody',
        {},
        ...sorted.map((c) =>
          h(
            'tr',
            { 'data-check': c.name, 'data-spec': c.spec },
            h('td', {}, c.spec),
            h('td', {}, c.name),
            h('td', {}, h('span', { class: c.passing ? 'check passing' : 'check failing' }, c.passing ? 'passing' : 'failing')),
            h('td', {}, agoWithTitle(c.sinceUnixMs)),
            h('td', {}, h('code', {}, c.output)),
          ),
        ),
      ),
    ),
  ];
}

/** The Desired state section: per spec, the revisions, status, last drift and each resource. */
function desiredStateSection(specs: NodeSpec[]): HTMLElement[] {
  if (specs.length === 0) return [h('p', { class: 'muted' }, 'No spec applies to this node.')];
  return specs.map((s) =>
    h(
      'section',
      { class: 'spec', 'data-spec': s.spec },
      h('h3', {}, s.spec),
      h(
        'p',
        {},
        `revision ${s.appliedRevision || '–'} applied, ${s.desiredRevision || '–'} desired · `,
        h('span', { class: `spec-status ${s.status}` }, s.status || 'unknown'),
        ` · reported ${ago(s.reportedUnixMs)} · last drift ${s.driftUnixMs ? ago(s.driftUnixMs) : 'never'}`,
      ),
      s.resources.length
        ? h(
            'table',
            { class: 'resources' },
            h('thead', {}, h('tr', {}, ...['Id', 'Status', 'Changes or error'].map((t) => h('th', {}, t)))),
            h(
              'tbody',
              {},
              ...s.resources.map((r) =>
                h(
                  'tr',
                  { 'data-resource': r.id },
                  h('td', {}, h('code', {}, r.id)),
                  h('td', {}, h('span', { class: `resource-status ${r.status}` }, r.status)),
                  h('td', {}, r.error ? h('span', { class: 'error' }, r.error) : r.changes.join('\n') || '–'),
                ),
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'No resources.'),
    ),
  );
}

/** A node's page: its summary, inventory, checks and desired state. */
interface NodeDetail extends NodeSummary {
  identity: unknown;
  facts: unknown;
  specs: NodeSpec[];
}

/** The node and where it stands on its specs (two API calls). */
async function nodeDetail(name: string, signal: AbortSignal): Promise<NodeDetail> {
  const url = `${API}/nodes/${encodeURIComponent(name)}`;
  const [node, state] = await Promise.all([getJson<NodeJson>(url, signal), getJson<NodeStateJson>(`${url}/state`, signal)]);
  return { ...nodeSummary(node), identity: node.identity ?? {}, facts: node.facts ?? null, specs: nodeSpecs(state) };
}

/** The newest jobs that ran on the node, each with the node's run. */
async function recentJobs(nodeId: string, signal: AbortSignal): Promise<(JobSummary & { run: Run | undefined })[]> {
  const { jobs = [] } = await getJson<{ jobs?: JobJson[] }>(`${API}/jobs?limit=${JOBS_LOOKED_AT}`, signal);
  return jobs
    .map(jobSummary)
    .filter((j) => j.runs.some((r) => r.nodeId === nodeId))
    .slice(0, RECENT_JOBS)
    .map((j) => ({ ...j, run: j.runs.find((r) => r.nodeId === nodeId) }));
}

export const nodePage: Page = async (main, ctx) => {
  const name = ctx.params[0] ?? '';
  replace(main, h('p', { class: 'muted' }, 'Loading…'));
  let node: NodeDetail;
  let jobs: Awaited<ReturnType<typeof recentJobs>>;
  try {
    node = await nodeDetail(name, ctx.signal);
    jobs = await recentJobs(node.id, ctx.signal);
  } catch (err) {
    if (ctx.signal.aborted) return;
    replace(main, h('h1', {}, name), errorBox(err instanceof ApiError ? err.message : String(err)));
    return;
  }
  const actions = h('p', { class: 'actions' });
  if (isOperator(ctx.me)) {
    actions.append(h('a', { class: 'button', id: 'open-terminal', href: `#/nodes/${encodeURIComponent(node.name)}/terminal` }, 'Terminal'));
  }
  // Online state, health and desired state change while the page is open: they refresh.
  const badge = h('span', {});
  const health = h('div', { id: 'health' });
  const state = h('div', { id: 'desired-state' });
  const refreshError = h('div', {});
  const show = (n: NodeDetail) => {
    replace(badge, onlineBadge(n.online));
    replace(health, ...healthSection(n.checks));
    replace(state, ...desiredStateSection(n.specs));
  };
  show(node);
  replace(
    main,
    h('h1', {}, node.name, ' ', badge),
    actions,
    h(
      'dl',
      { class: 'facts' },
      ...([
        ['Labels', labelList(node.labels)],
        ['OS', `${node.os} (${node.arch})`],
        ['Kernel', node.kernel],
        ['CPU', `${node.cpus} × ${node.cpuModel}`],
        ['Memory', bytes(node.memoryBytes)],
        ['IPs', node.ips.join(' ')],
        ['Agent', node.agentVersion],
        ['Last seen', ago(node.lastSeenUnixMs)],
        ['Enrolled', when(node.enrolledUnixMs)],
        ['Id', node.id],
      ] as [string, Node | string][]).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
    ),
    refreshError,
    h('h2', {}, 'Health'),
    health,
    h('h2', {}, 'Desired state'),
    state,
    h('h2', {}, 'Recent jobs'),
    jobs.length
      ? h(
          'table',
          { class: 'recent-jobs' },
          h('thead', {}, h('tr', {}, ...['Job', 'Command', 'State', 'Exit', 'Started', 'By'].map((t) => h('th', {}, t)))),
          h(
            'tbody',
            {},
            ...jobs.map((j) =>
              h(
                'tr',
                {},
                h('td', {}, h('a', { href: `#/jobs/${encodeURIComponent(j.id)}` }, j.id)),
                h('td', {}, h('code', {}, j.command)),
                h('td', {}, j.run?.state ?? '–'),
                h('td', {}, j.run && j.done ? j.run.exitCode : ''),
                h('td', {}, when(j.createdUnixMs)),
                h('td', {}, j.createdBy),
              ),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'No jobs ran on this node yet.'),
    h('h2', {}, 'Inventory'),
    h('table', { class: 'inventory' }, h('tbody', {}, ...[...factRows(node.identity, 'identity'), ...factRows(node.facts)].map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))))),
  );

  let timer: number | undefined;
  const refresh = async () => {
    try {
      show(await nodeDetail(name, ctx.signal));
      refreshError.replaceChildren();
    } catch (err) {
      if (ctx.signal.aborted) return;
      replace(refreshError, errorBox(`could not refresh: ${err instanceof ApiError ? err.message : String(err)}`));
    }
    if (!ctx.signal.aborted) timer = window.setTimeout(refresh, REFRESH_MS);
  };
  timer = window.setTimeout(refresh, REFRESH_MS);
  return () => clearTimeout(timer);
};
