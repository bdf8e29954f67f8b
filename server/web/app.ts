// The web app's entry point: sign-in, the navigation bar and a small hash router over the
// pages (nodes, node, terminal, jobs, job, rollouts, rollout, sessions, playback). Bundled with xterm.js and the
// styles into dist/web by tsup.
import '@xterm/xterm/css/xterm.css';
import './style.css';
import { API, ApiError, deleteJson, getJson, postJson, setCsrf, type Me } from './api';
import { errorBox, h, replace } from './dom';
import { jobPage, jobsPage } from './jobs-pages';
import { nodePage, nodesPage } from './nodes-pages';
import { isOperator, type Page } from './page';
import { rolloutPage, rolloutsPage } from './rollouts-pages';
import { playbackPage, sessionsPage } from './sessions-pages';
import { terminalPage } from './terminal-page';

const main = document.getElementById('main')!;
const nav = document.getElementById('nav')!;
const who = document.getElementById('who')!;

let me: Me | undefined;
let leave: (() => void) | undefined;
let controller: AbortController | undefined;

function route(path: string[]): Page {
  const [section, , sub] = path;
  if (section === 'nodes' && path.length === 1) return nodesPage;
  if (section === 'nodes' && path.length === 2) return nodePage;
  if (section === 'nodes' && sub === 'terminal') return terminalPage;
  if (section === 'jobs') return path.length === 1 ? jobsPage : jobPage;
  if (section === 'rollouts') return path.length === 1 ? rolloutsPage : rolloutPage;
  if (section === 'sessions') return path.length === 1 ? sessionsPage : playbackPage;
  return (m) => replace(m, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/nodes' }, 'Go to the nodes')));
}

async function render(): Promise<void> {
  leave?.();
  leave = undefined;
  controller?.abort();
  if (!me) return signIn();
  const hash = location.hash.replace(/^#\/?/, '') || 'nodes';
  const [pathPart = '', queryPart = ''] = hash.split('?', 2);
  const path = pathPart.split('/').filter(Boolean).map((p) => decodeURIComponent(p));
  for (const a of Array.from(nav.querySelectorAll<HTMLAnchorElement>('a'))) a.classList.toggle('current', a.dataset.section === path[0]);
  controller = new AbortController();
  const signal = controller.signal;
  try {
    const cleanup = await route(path)(main, { me, params: path.slice(1), query: new URLSearchParams(queryPart), signal });
    if (signal.aborted) cleanup?.();
    else leave = cleanup ?? undefined;
  } catch (err) {
    // A page left while it loaded has nothing more to show (its fetch was aborted).
    if (signal.aborted) return;
    if (err instanceof ApiError && err.status === 401) return signedOut(err.message);
    replace(main, errorBox(err instanceof Error ? err.message : String(err)));
  }
}

function showUser(): void {
  if (!me) {
    nav.hidden = true;
    who.replaceChildren();
    return;
  }
  nav.hidden = false;
  for (const a of Array.from(nav.querySelectorAll<HTMLAnchorElement>('a[data-role="operator"]'))) a.hidden = !isOperator(me);
  replace(
    who,
    h('span', { class: 'muted' }, `${me.description || me.tokenId} (${me.role})`),
    ' ',
    h('button', { type: 'button', id: 'sign-out', onclick: () => void signOut() }, 'Sign out'),
  );
}

function signedOut(message?: string): void {
  me = undefined;
  setCsrf('');
  showUser();
  signIn(message);
}

function signIn(message?: string): void {
  const input = h('input', { type: 'password', name: 'token', id: 'token', autocomplete: 'off', placeholder: 'fa1_…', required: true, size: 50 });
  const error = h('div', { id: 'sign-in-error' });
  if (message) error.append(errorBox(message));
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'sign-in',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        button.disabled = true;
        error.replaceChildren();
        try {
          me = await postJson<Me>(`${API}/session`, { token: input.value.trim() });
          setCsrf(me.csrf);
          input.value = '';
          showUser();
          await render();
        } catch (err) {
          error.append(errorBox(err instanceof Error ? err.message : String(err)));
        } finally {
          button.disabled = false;
        }
      },
    },
    h('h1', {}, 'Sign in'),
    h('p', {}, 'Paste an API token (', h('code', {}, 'fleet api-tokens create'), ' prints one). It is exchanged for a session cookie and not kept in the browser.'),
    h('label', { for: 'token' }, 'API token'),
    ' ',
    input,
    ' ',
    button,
    error,
  );
  replace(main, form);
  input.focus();
}

async function signOut(): Promise<void> {
  leave?.();
  leave = undefined;
  try {
    await deleteJson(`${API}/session`);
  } catch {
    // signed out anyway
  }
  location.hash = '#/nodes';
  signedOut();
}

async function start(): Promise<void> {
  try {
    me = await getJson<Me>(`${API}/session`);
    setCsrf(me.csrf);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) replace(main, errorBox(err instanceof Error ? err.message : String(err)));
    me = undefined;
  }
  showUser();
  window.addEventListener('hashchange', () => void render());
  await render();
}

void start();
