// Makes the page's xterm.js terminals (the web terminal and the recording player) alike: the same
// look, and Unicode 11 character widths. xterm.js's default (Unicode 6) gives an emoji one cell
// where the shell on the node (glibc) counts two, so line editing after one goes astray.
import { Unicode11Addon } from '@xterm/addon-unicode11';
import { Terminal, type ITerminalInitOnlyOptions, type ITerminalOptions } from '@xterm/xterm';

/**
 * A terminal with Unicode 11 widths and fleet's dark background.
 * @example const term = newTerminal({ cols: 80, rows: 24, disableStdin: true });
 */
export function newTerminal(options: ITerminalOptions & ITerminalInitOnlyOptions): Terminal {
  // The Unicode API the addon registers with is a "proposed" API in xterm.js 6.
  const term = new Terminal({ theme: { background: '#111418' }, ...options, allowProposedApi: true });
  term.loadAddon(new Unicode11Addon());
  term.unicode.activeVersion = '11';
  return term;
}
