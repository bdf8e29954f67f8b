// The Sessions page (past and open shells) and playback of one session's recording.
import type { Terminal } from '@xterm/xterm';
import { API, ApiError, getJson, getStream } from './api';
import { bytes, errorBox, h, replace, when } from './dom';
import { playCast } from './cast-player';
import { sessionView, type SessionJson } from './model';
import type { Page } from './page';

export const sessionsPage: Page = async (main, ctx) => {
  replace(main, h('h1', {}, 'Sessions'), h('p', { class: 'muted' }, 'Loading…'));
  try {
    const sessions = ((await getJson<{ sessions?: SessionJson[] }>(`${API}/sessions?limit=100`, ctx.signal)).sessions ?? []).map(sessionView);
    replace(
      main,
      h('h1', {}, 'Sessions'),
      sessions.length
        ? h(
            'table',
            {},
            h('thead', {}, h('tr', {}, ...['Session', 'Node', 'User', 'From', 'Started', 'Ended', 'Exit', 'Output', ''].map((t) => h('th', {}, t)))),
            h(
              'tbody',
              {},
              ...sessions.map((s) =>
                h(
                  'tr',
                  { 'data-session': s.id },
                  h('td', {}, h('code', {}, s.id)),
                  h('td', {}, h('a', { href: `#/nodes/${encodeURIComponent(s.nodeName)}` }, s.nodeName)),
                  h('td', {}, s.user),
                  h('td', {}, s.source),
                  h('td', {}, when(s.startedUnixMs)),
                  h('td', { title: s.endReason }, s.open ? 'open' : when(s.endedUnixMs)),
                  h('td', {}, s.open ? '' : s.exitCode),
                  h('td', {}, bytes(s.outputBytes)),
                  h('td', {}, h('a', { class: 'button', href: `#/sessions/${encodeURIComponent(s.id)}` }, 'Play')),
                ),
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'No shell sessions yet.'),
    );
  } catch (err) {
    // Left while loading: the fetch was aborted, and the next page owns main now.
    if (ctx.signal.aborted) return;
    replace(main, h('h1', {}, 'Sessions'), errorBox(err instanceof ApiError ? err.message : String(err)));
  }
};

export const playbackPage: Page = (main, ctx) => {
  const id = ctx.params[0] ?? '';
  const status = h('p', { class: 'muted', id: 'playback-status' }, 'Loading the recording…');
  const screen = h('div', { class: 'player' });
  let term: Terminal | undefined;
  let controller: AbortController | undefined;
  const play = async () => {
    controller?.abort();
    term?.dispose();
    term = undefined;
    screen.replaceChildren();
    controller = new AbortController();
    const signal = AbortSignal.any([ctx.signal, controller.signal]);
    try {
      replace(status, 'Playing (pauses longer than 2 s are cut short)…');
      const events = await playCast(screen, await getStream(`${API}/sessions/${encodeURIComponent(id)}/recording`, signal), {
        idleLimit: 2,
        signal,
        started: (t) => {
          term = t;
          (window as unknown as { __fleetPlayer?: Terminal }).__fleetPlayer = t;
        },
      });
      if (!signal.aborted) replace(status, `Done (${events} events).`);
    } catch (err) {
      if (!signal.aborted) replace(status, errorBox(err instanceof ApiError ? err.message : String(err)));
    }
  };
  replace(main, h('h1', {}, `Session ${id}`), h('p', {}, h('a', { href: '#/sessions' }, '← all sessions'), ' ', h('button', { type: 'button', onclick: () => void play() }, 'Play again')), status, screen);
  void play();
  return () => {
    controller?.abort();
    term?.dispose();
  };
};
