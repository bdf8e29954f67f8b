// The Rollouts page (newest first) and the page of one rollout: its nodes by batch, each with its
// state and error — and, for a rollback, the rollout it undoes with each node's error there. Both
// refresh while a rollout is still going.
import { API, ApiError, getJson } from './api';
import { ago, errorBox, h, replace, when } from './dom';
import { rolloutView, type Rollout, type RolloutJson } from './model';
import type { Page } from './page';

/** One rollout with its nodes. */
async function getRollout(id: string, signal: AbortSignal): Promise<Rollout> {
  return rolloutView(await getJson<RolloutJson>(`${API}/rollouts/${encodeURIComponent(id)}`, signal));
}

const REFRESH_MS = 2000;

/** Rollout states that can still change without anyone asking. */
const GOING: readonly string[] = ['running', 'rolling-back', 'paused'];

const rolloutState = (state: string) => h('span', { class: `rollout-state ${state}` }, state);

const batchesText = (r: Rollout) => `${r.batchesDone}/${r.batches}`;

const errorsText = (r: Rollout) => `${r.errors} (max ${r.maxErrors})`;

/** Renders with `load` now and again every REFRESH_MS while `going` says so; returns the cleanup. */
async function refreshing(ctx: { signal: AbortSignal }, load: () => Promise<boolean>): Promise<() => void> {
  let timer: number | undefined;
  const tick = async () => {
    const going = await load();
    if (going && !ctx.signal.aborted) timer = window.setTimeout(() => void tick(), REFRESH_MS);
  };
  await tick();
  return () => clearTimeout(timer);
}

export const rolloutsPage: Page = async (main, ctx) => {
  replace(main, h('h1', {}, 'Rollouts'), h('p', { class: 'muted' }, 'Loading…'));
  return refreshing(ctx, async () => {
    try {
      const rollouts = ((await getJson<{ rollouts?: RolloutJson[] }>(`${API}/rollouts?limit=100`, ctx.signal)).rollouts ?? []).map(rolloutView);
      replace(
        main,
        h('h1', {}, 'Rollouts'),
        rollouts.length
          ? h(
              'table',
              { class: 'rollouts' },
              h('thead', {}, h('tr', {}, ...['Rollout', 'Spec', 'Revision', 'State', 'Batches', 'Errors', 'By', 'Started'].map((t) => h('th', {}, t)))),
              h(
                'tbody',
                {},
                ...rollouts.map((r) =>
                  h(
                    'tr',
                    { 'data-rollout': r.id },
                    h('td', {}, h('a', { href: `#/rollouts/${encodeURIComponent(r.id)}` }, r.id)),
                    h('td', {}, r.spec),
                    h('td', {}, r.revision),
                    h('td', {}, rolloutState(r.state), r.rollbackOf ? h('span', { class: 'muted' }, ` (undoes ${r.rollbackOf})`) : null),
                    h('td', {}, batchesText(r)),
                    h('td', {}, errorsText(r)),
                    h('td', {}, r.createdBy),
                    h('td', {}, when(r.createdUnixMs)),
                  ),
                ),
              ),
            )
          : h('p', { class: 'muted' }, 'No rollouts yet. Start one with `fleet apply -f SPEC`.'),
      );
      return rollouts.some((r) => GOING.includes(r.state));
    } catch (err) {
      if (!ctx.signal.aborted) replace(main, h('h1', {}, 'Rollouts'), errorBox(err instanceof ApiError ? err.message : String(err)));
      return false;
    }
  });
};

/** Each node of a rollout: batch, state and error. */
function nodesTable(nodes: Rollout['nodes']): HTMLElement {
  if (nodes.length === 0) return h('p', { class: 'muted' }, 'No nodes matched the selector.');
  return h(
    'table',
    { class: 'rollout-nodes' },
    h('thead', {}, h('tr', {}, ...['Node', 'Batch', 'State', 'Error'].map((t) => h('th', {}, t)))),
    h(
      'tbody',
      {},
      ...nodes.map((n) =>
        h(
          'tr',
          { 'data-node': n.node },
          h('td', {}, h('a', { href: `#/nodes/${encodeURIComponent(n.node)}` }, n.node)),
          h('td', {}, n.batch + 1),
          h('td', {}, h('span', { class: `node-state ${n.state}` }, n.state)),
          h('td', {}, n.error ? h('span', { class: 'error' }, n.error) : ''),
        ),
      ),
    ),
  );
}

/** For a rollback: the rollout it undoes, with why it failed there, node by node. */
async function undoneSection(id: string, signal: AbortSignal): Promise<HTMLElement> {
  const link = h('a', { href: `#/rollouts/${encodeURIComponent(id)}` }, id);
  try {
    const o = await getRollout(id, signal);
    return h(
      'section',
      { class: 'undone' },
      h('h2', {}, 'What it rolls back'),
      h('p', {}, link, ` (${o.spec} revision ${o.revision}) `, rolloutState(o.state), o.reason ? `: ${o.reason}` : ''),
      nodesTable(o.nodes),
    );
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return h('section', { class: 'undone' }, h('h2', {}, 'What it rolls back'), h('p', {}, link, ': ', err.message));
  }
}

export const rolloutPage: Page = async (main, ctx) => {
  const id = ctx.params[0] ?? '';
  return refreshing(ctx, async () => {
    try {
      const r = await getRollout(id, ctx.signal);
      const undone = r.rollbackOf ? await undoneSection(r.rollbackOf, ctx.signal) : null;
      replace(
        main,
        h('h1', {}, `Rollout ${r.id} `, rolloutState(r.state)),
        h(
          'dl',
          { class: 'facts' },
          ...([
            ['Spec', `${r.spec} revision ${r.revision}${r.previousRevision ? ` (from ${r.previousRevision})` : ''}`],
            ['Batches', `${batchesText(r)} done, ${r.batchSize} node${r.batchSize === 1 ? '' : 's'} each`],
            ['Errors', errorsText(r)],
            ['Health gate', r.healthGateMs ? `${r.healthGateMs / 1000} s` : 'none'],
            ['Auto rollback', r.autoRollback ? 'yes' : 'no'],
            ['Reason', r.reason || '–'],
            ['Undoes', r.rollbackOf ? h('a', { href: `#/rollouts/${encodeURIComponent(r.rollbackOf)}` }, r.rollbackOf) : '–'],
            ['Started', `${when(r.createdUnixMs)} by ${r.createdBy}`],
            ['Updated', ago(r.updatedUnixMs)],
          ] as [string, Node | string][]).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
        ),
        h('h2', {}, 'Nodes'),
        nodesTable(r.nodes),
        undone,
      );
      return GOING.includes(r.state);
    } catch (err) {
      if (!ctx.signal.aborted) replace(main, h('h1', {}, `Rollout ${id}`), errorBox(err instanceof ApiError ? err.message : String(err)));
      return false;
    }
  });
};
