// The terminal page of one node (#/nodes/<name>/terminal): a full-size web terminal. Leaving the
// page ends the shell; a dropped connection is resumed (see web-terminal.ts).
import type { Terminal } from '@xterm/xterm';
import { csrfToken } from './api';
import { h, replace } from './dom';
import { isOperator, type Page } from './page';
import { WebTerminal } from './web-terminal';

/** Hooks for the browser test (and for curious operators in the console). */
interface TestHooks {
  __fleetTerm?: Terminal;
  __fleetSession?: () => string;
  __fleetDropSocket?: () => void;
}

export const terminalPage: Page = (main, ctx) => {
  const node = ctx.params[0] ?? '';
  const status = h('span', { class: 'status busy', id: 'terminal-status', role: 'status' }, '');
  const screen = h('div', { class: 'terminal', id: 'terminal' });
  replace(main, h('div', { class: 'terminal-bar' }, h('a', { href: `#/nodes/${encodeURIComponent(node)}` }, `← ${node}`), status), screen);
  main.classList.add('full');
  if (!isOperator(ctx.me)) {
    status.className = 'status error';
    replace(status, `Opening a terminal needs the operator role; your token has ${ctx.me.role}.`);
    return () => main.classList.remove('full');
  }
  const terminal = new WebTerminal(screen, node, csrfToken, {
    status(text, kind) {
      status.className = `status ${kind}`;
      replace(status, text);
    },
    exit(code, reason) {
      status.className = 'status ended';
      replace(status, `the shell ended (exit ${code}${reason ? `: ${reason}` : ''})`);
    },
  });
  const hooks = window as unknown as TestHooks;
  hooks.__fleetTerm = terminal.term;
  hooks.__fleetSession = () => terminal.session;
  hooks.__fleetDropSocket = () => terminal.dropSocket();
  terminal.connect();
  terminal.term.focus();
  return () => {
    main.classList.remove('full');
    terminal.leave();
    delete hooks.__fleetTerm;
    delete hooks.__fleetSession;
    delete hooks.__fleetDropSocket;
  };
};
