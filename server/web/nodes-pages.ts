// The Nodes page (filter by label selector, online state, key facts) and the page of one node
// (inventory, recent jobs, and the Terminal button for operators).
import { ApiError, getJson } from './api';
import { ago, bytes, errorBox, h, replace, when } from './dom';
import { isOperator, type Page } from './page';
import type { WebNodeDetail as NodeDetail, WebNodeSummary as NodeSummary } from '../http/web-api';




const REFRESH_MS = 5000;

export const onlineBadge = (online: boolean) => h('span', { class: online ? 'badge online' : 'badge offline' }, online ? 'online' : 'offline');
const labelList = (labels: Record<string, string>) =>
  h('span', { class: 'labels' }, ...Object.entries(labels).map(([k, v]) => h('code', { class: 'label' }, `${k}=${v}`)));

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
      const { nodes } = await getJson<{ nodes: NodeSummary[] }>(`/api/nodes?selector=${encodeURIComponent(selector)}`, ctx.signal);
      const online = nodes.filter((n) => n.online).length;
      replace(status, `${nodes.length} node${nodes.length === 1 ? '' : 's'}${selector ? ` matching ${selector}` : ''}, ${online} online`);
      replace(
        table,
        h('thead', {}, h('tr', {}, ...['Node', 'State', 'Labels', 'OS', 'Kernel', 'CPUs', 'Memory', 'IPs', 'Agent'].map((t) => h('th', {}, t)))),
        h(
          'tbody',
          {},
          ...nodes.map((n) =>
            h(
              'tr',
              { 'data-node': n.name },
              h('td', {}, h('a', { href: `#/nodes/${encodeURIComponent(n.name)}` }, n.name)),
              h('td', {}, onlineBadge(n.online)),
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

export const nodePage: Page = async (main, ctx) => {
  const name = ctx.params[0] ?? '';
  replace(main, h('p', { class: 'muted' }, 'Loading…'));
  let node: NodeDetail;
  try {
    node = await getJson<NodeDetail>(`/api/nodes/${encodeURIComponent(name)}`, ctx.signal);
  } catch (err) {
    replace(main, h('h1', {}, name), errorBox(err instanceof ApiError ? err.message : String(err)));
    return;
  }
  const actions = h('p', { class: 'actions' });
  if (isOperator(ctx.me)) {
    actions.append(h('a', { class: 'button', id: 'open-terminal', href: `#/nodes/${encodeURIComponent(node.name)}/terminal` }, 'Terminal'));
  }
  replace(
    main,
    h('h1', {}, node.name, ' ', onlineBadge(node.online)),
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
    h('h2', {}, 'Recent jobs'),
    node.recentJobs.length
      ? h(
          'table',
          {},
          h('thead', {}, h('tr', {}, ...['Job', 'Command', 'State', 'Exit', 'Started', 'By'].map((t) => h('th', {}, t)))),
          h(
            'tbody',
            {},
            ...node.recentJobs.map((j) =>
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
};
