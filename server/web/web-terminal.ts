// The browser side of a remote shell: an xterm.js terminal connected to the terminal WebSocket
// (protocol in server/http/websocket-shell.ts). Sends the fitted size first and on every
// resize, acknowledges output once xterm has written it (in batches), and when the socket drops
// reconnects with `resume` and the byte count it has, within the server's grace time.
import { FitAddon } from '@xterm/addon-fit';
import type { Terminal } from '@xterm/xterm';
import { API } from './api';
import { newTerminal } from './new-terminal';

/** Acknowledge at least this often (bytes), or after ACK_DELAY_MS. */
const ACK_EVERY_BYTES = 64 * 1024;
const ACK_DELAY_MS = 50;
/** Keystrokes typed while reconnecting are kept up to this much. */
const MAX_PENDING_INPUT = 64 * 1024;

export interface WebTerminalEvents {
  /** Connection state for a status line. */
  status(text: string, kind: 'ok' | 'busy' | 'error'): void;
  /** The shell ended (exit code and reason). */
  exit(code: number, reason: string): void;
}

type ServerMessage =
  | { type: 'opened'; session: string; node: string; graceMs: number }
  | { type: 'exit'; code: number; reason: string }
  | { type: 'error'; code: string; message: string };

/**
 * A terminal bound to one shell on one node.
 * @example
 * const t = new WebTerminal(container, 'web-1', () => csrf, { status: show, exit: done });
 * t.connect();  // …later: t.leave() ends the shell
 */
export class WebTerminal {
  readonly term: Terminal;
  readonly #fit = new FitAddon();
  readonly #node: string;
  readonly #csrf: () => string;
  readonly #events: WebTerminalEvents;
  readonly #resizeObserver: ResizeObserver;
  #socket: WebSocket | undefined;
  #session = '';
  #graceMs = 60_000;
  /** Output bytes received (in the session's count) and written into xterm. */
  #have = 0;
  #written = 0;
  #acked = 0;
  #ackTimer: number | undefined;
  #opened = false;
  #finished = false;
  #droppedAt = 0;
  #retryTimer: number | undefined;
  #retries = 0;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;

  constructor(container: HTMLElement, node: string, csrf: () => string, events: WebTerminalEvents) {
    this.#node = node;
    this.#csrf = csrf;
    this.#events = events;
    this.term = newTerminal({ cursorBlink: true, fontSize: 14, scrollback: 5000, rightClickSelectsWord: true });
    this.term.loadAddon(this.#fit);
    this.term.open(container);
    this.#fit.fit();
    const encoder = new TextEncoder();
    this.term.onData((data) => this.#input(encoder.encode(data)));
    this.term.onBinary((data) => this.#input(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
    this.term.onResize(({ cols, rows }) => this.#sendJson({ type: 'resize', cols, rows }));
    // Ctrl+Shift+C copies the selection (Ctrl+C stays an interrupt); pasting (Ctrl+V,
    // Ctrl+Shift+V, the context menu) reaches xterm as a paste event and goes to the PTY.
    this.term.attachCustomKeyEventHandler((e) => {
      if (e.type === 'keydown' && e.ctrlKey && e.shiftKey && e.code === 'KeyC') {
        const text = this.term.getSelection();
        if (text) void navigator.clipboard?.writeText(text).catch(() => {});
        e.preventDefault();
        return false;
      }
      return true;
    });
    this.#resizeObserver = new ResizeObserver(() => this.fit());
    this.#resizeObserver.observe(container);
  }

  /** The shell's id once opened. */
  get session(): string {
    return this.#session;
  }

  /** Output bytes received so far. */
  get have(): number {
    return this.#have;
  }

  /** Fits the terminal to its container (a size change is sent to the shell). */
  fit(): void {
    if (this.#finished && !this.#opened) return;
    try {
      this.#fit.fit();
    } catch {
      // not laid out (hidden): keep the size
    }
  }

  /** Opens a new shell on the node. */
  connect(): void {
    this.#dial();
  }

  /** Drops the socket without ending the shell, as a network failure would (for tests). */
  dropSocket(): void {
    this.#socket?.close();
  }

  /** Ends the shell and the terminal (leaving the page). */
  leave(): void {
    this.#finished = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#ackTimer);
    this.#resizeObserver.disconnect();
    if (this.#socket?.readyState === WebSocket.OPEN && this.#opened) this.#socket.send(JSON.stringify({ type: 'close' }));
    this.#socket?.close();
    this.term.dispose();
  }

  #dial(): void {
    const resume = this.#session !== '';
    this.#events.status(resume ? 'reconnecting…' : `connecting to ${this.#node}…`, 'busy');
    const ws = new WebSocket(`wss://${location.host}${API}/shell`);
    ws.binaryType = 'arraybuffer';
    this.#socket = ws;
    this.#opened = false;
    ws.onopen = () => {
      const { cols, rows } = this.term;
      const first = resume
        ? { type: 'resume', session: this.#session, have: this.#have, cols, rows, csrf: this.#csrf() }
        : { type: 'open', node: this.#node, cols, rows, csrf: this.#csrf() };
      ws.send(JSON.stringify(first));
    };
    ws.onmessage = (event: MessageEvent<ArrayBuffer | string>) => {
      if (ws !== this.#socket) return;
      if (typeof event.data !== 'string') return this.#output(new Uint8Array(event.data));
      let message: ServerMessage;
      try {
        message = JSON.parse(event.data) as ServerMessage;
      } catch {
        return;
      }
      if (message.type === 'opened') {
        this.#session = message.session;
        this.#graceMs = message.graceMs;
        this.#opened = true;
        this.#retries = 0;
        this.#droppedAt = 0;
        this.#events.status(`connected to ${message.node}`, 'ok');
        // The size may have changed while the socket was down.
        this.#sendJson({ type: 'resize', cols: this.term.cols, rows: this.term.rows });
        for (const chunk of this.#pending) ws.send(chunk);
        this.#pending = [];
        this.#pendingBytes = 0;
      } else if (message.type === 'exit') {
        this.#finish();
        this.#events.exit(message.code, message.reason);
      } else if (message.type === 'error') {
        this.#finish();
        this.#events.status(message.code === 'SESSION_NOT_FOUND' && resume ? 'the shell ended while the connection was down' : message.message, 'error');
      }
    };
    ws.onclose = (event) => {
      if (ws !== this.#socket || this.#finished) return;
      if (!this.#session) {
        this.#finish();
        this.#events.status(event.reason || 'could not connect (are you still signed in?)', 'error');
        return;
      }
      this.#opened = false;
      this.#droppedAt ||= Date.now();
      if (Date.now() - this.#droppedAt > this.#graceMs) {
        this.#finish();
        this.#events.status('the connection did not come back in time; the shell is gone', 'error');
        return;
      }
      const delay = Math.min(250 * 2 ** this.#retries++, 3000);
      this.#events.status(`connection lost; reconnecting in ${(delay / 1000).toFixed(1)} s…`, 'busy');
      this.#retryTimer = window.setTimeout(() => this.#dial(), delay);
    };
  }

  #finish(): void {
    this.#finished = true;
    clearTimeout(this.#retryTimer);
    this.#flushAck();
  }

  #output(bytes: Uint8Array): void {
    this.#have += bytes.length;
    this.term.write(bytes, () => {
      this.#written += bytes.length;
      if (this.#written - this.#acked >= ACK_EVERY_BYTES) this.#flushAck();
      else this.#ackTimer ??= window.setTimeout(() => this.#flushAck(), ACK_DELAY_MS);
    });
  }

  #flushAck(): void {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    if (this.#written > this.#acked && this.#sendJson({ type: 'ack', total: this.#written })) this.#acked = this.#written;
  }

  #input(bytes: Uint8Array): void {
    if (this.#finished) return;
    if (this.#opened && this.#socket?.readyState === WebSocket.OPEN) {
      this.#socket.send(bytes);
    } else if (this.#pendingBytes + bytes.length <= MAX_PENDING_INPUT) {
      this.#pending.push(bytes);
      this.#pendingBytes += bytes.length;
    }
  }

  #sendJson(message: object): boolean {
    if (!this.#opened || this.#socket?.readyState !== WebSocket.OPEN) return false;
    this.#socket.send(JSON.stringify(message));
    return true;
  }
}
