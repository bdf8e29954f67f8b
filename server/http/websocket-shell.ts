// The web terminal's WebSocket (GET /api/shell, Upgrade: websocket) on the HTTPS port: connects
// a browser to a ShellSession (server/shells/sessions.ts). @fastify/websocket takes the upgrade
// (web-app.ts routes it); this module speaks the protocol on the socket.
//
// Before the upgrade is accepted the request must carry a live `fleet_session` cookie and come
// from this origin (else plain HTTP 401/403, from web-app.ts's checks). Then:
//
//   client → server, first message (text, JSON), within 10 s:
//     {"type":"open",   "node": "<name or id>", "cols": 80, "rows": 24, "csrf": "<token>"}
//     {"type":"resume", "session": "<id>", "have": <bytes>, "cols": 80, "rows": 24, "csrf": "<token>"}
//   server → client: {"type":"opened", "session": "<id>", "node": "<name>", "graceMs": <ms>}
//     `have` is how many output bytes the client already has; output after it that the client
//     did not acknowledge yet is sent again, so nothing is lost or doubled.
//   afterwards, client → server:
//     binary            keystrokes (and pastes) for the PTY
//     {"type":"resize", "cols": 120, "rows": 40}
//     {"type":"ack", "total": <bytes>}   output consumed so far (the agent pauses the PTY while
//                                        more than 1 MiB is unacknowledged); send it in batches
//     {"type":"close"}                   end the shell now (instead of waiting out the grace time)
//   server → client:
//     binary            output bytes, in order
//     {"type":"exit", "code": <n>, "reason": "<text>"}   then the socket closes (1000)
//     {"type":"error", "code": "<CODE>", "message": "<text>"}   then, before `opened`, the socket
//                                        closes with 4000 + the HTTP status (4403: not allowed)
//
// A socket that drops without `close` leaves the shell running for the grace time
// (FLEET_SHELL_GRACE_MS) so the page can `resume`. Only the role operator or higher may open or
// resume a shell, only its own (same API token), and ShellSessions' per-user limit applies.
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import { z } from 'zod';
import { LIMITS } from '../../common/limits';
import { FleetError } from '../../common/errors';
import type { Access } from '../access';
import type { ApiAuth } from '../auth';
import { InvalidRequestError, NodeNotFoundError, SessionNotFoundError } from '../errors';
import type { NodeStore } from '../store/node-store';
import type { ShellSession, ShellSessions } from '../shells/sessions';
import { Role } from '../store/token-store';
import { CsrfError } from './errors';
import { httpStatus } from './web-common';
import { sameSecret, type WebSession } from './web-sessions';

/** The path of the terminal WebSocket. */
export const SHELL_SOCKET_PATH = '/api/shell';

const FIRST_MESSAGE_TIMEOUT_MS = 10_000;
const PING_EVERY_MS = 20_000;

/** Options of the WebSocket server (ws) that takes the terminal's upgrades: 1 MiB messages, no compression. */
export const SHELL_SOCKET_OPTIONS = { maxPayload: 1 << 20, perMessageDeflate: false } as const;

const size = { cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) };
const firstMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('open'), node: z.string().min(1).max(LIMITS.name.max), csrf: z.string().max(200), ...size }),
  z.object({ type: z.literal('resume'), session: z.string().min(1).max(64), have: z.number().int().min(0), csrf: z.string().max(200), ...size }),
]);
const laterMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('resize'), ...size }),
  z.object({ type: z.literal('ack'), total: z.number().int().min(0) }),
  z.object({ type: z.literal('close') }),
]);

function parseJson(data: RawData): unknown {
  try {
    return JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8'));
  } catch {
    return undefined;
  }
}

/** A close reason fits in 123 bytes. */
function closeReason(text: string): string {
  const bytes = Buffer.from(text);
  return bytes.length <= 123 ? text : `${bytes.subarray(0, 120).toString('utf8').replace(/\uFFFD$/, '')}…`;
}

/** The terminal WebSockets of one HTTPS server. */
export class ShellSockets {
  readonly #sockets = new Set<WebSocket>();
  readonly #shells: ShellSessions;
  readonly #auth: ApiAuth;
  readonly #access: Access;
  readonly #nodes: NodeStore;
  readonly #log: Logger;
  /** The socket currently attached to each shell (a resume replaces it). */
  readonly #attached = new Map<string, WebSocket>();
  readonly #alive = new WeakSet<WebSocket>();
  readonly #pinger: NodeJS.Timeout;

  constructor(deps: { shells: ShellSessions; auth: ApiAuth; access: Access; nodes: NodeStore; log: Logger }) {
    this.#shells = deps.shells;
    this.#auth = deps.auth;
    this.#access = deps.access;
    this.#nodes = deps.nodes;
    this.#log = deps.log;
    // A socket that stops answering pings is dropped, which detaches its shell (grace time starts).
    this.#pinger = setInterval(() => {
      for (const ws of this.#sockets) {
        if (!this.#alive.has(ws)) {
          ws.terminate();
          continue;
        }
        this.#alive.delete(ws);
        ws.ping();
      }
    }, PING_EVERY_MS);
    this.#pinger.unref();
  }

  /** Closes every terminal socket (their shells wait out the grace time or the server's stop). */
  close(): void {
    clearInterval(this.#pinger);
    for (const ws of this.#sockets) ws.terminate();
    this.#sockets.clear();
  }

  /** Runs the protocol above on an accepted socket of a signed-in browser. */
  serve(ws: WebSocket, web: WebSession): void {
    this.#sockets.add(ws);
    this.#alive.add(ws);
    ws.on('pong', () => this.#alive.add(ws));
    let session: ShellSession | undefined;
    let detach = () => {};
    const sendJson = (message: object) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
    };
    const failFirst = (err: unknown) => {
      const status = httpStatus(err);
      if (status === 500) this.#log.error({ err }, 'terminal open failed');
      const known = err instanceof FleetError && status !== 500;
      const message = known ? err.message : 'internal server error (see the server log)';
      sendJson({ type: 'error', code: known ? err.code : 'INTERNAL', message });
      ws.close(4000 + status, closeReason(message));
    };
    const firstTimer = setTimeout(() => failFirst(new InvalidRequestError('no open or resume message in time')), FIRST_MESSAGE_TIMEOUT_MS);

    const start = async (data: RawData, isBinary: boolean) => {
      clearTimeout(firstTimer);
      const parsed = isBinary ? undefined : firstMessage.safeParse(parseJson(data));
      if (!parsed?.success) {
        const issue = parsed?.error.issues[0];
        const detail = issue && issue.path.length ? ` (${issue.path.join('.')}: ${issue.message})` : '';
        throw new InvalidRequestError(`the first message must be JSON {type:"open"|"resume", …}${detail}`);
      }
      const m = parsed.data;
      if (!sameSecret(m.csrf, web.csrf)) throw new CsrfError();
      this.#auth.require(web.principal, Role.Operator);
      const user = `api:${web.principal.tokenId}`;
      let from = 0;
      if (m.type === 'open') {
        // A node outside the token's scope looks like one that does not exist.
        const node = await this.#nodes.find(m.node);
        if (node && !this.#access.sees(web.principal, node)) throw new NodeNotFoundError(m.node);
        session = await this.#shells.open({ node: m.node, user, source: 'web', cols: m.cols, rows: m.rows, argv: [], pty: true, term: 'xterm-256color' });
      } else {
        const found = this.#shells.resumable(m.session);
        // Someone else's shell looks the same as one that does not exist.
        if (!found || found.user !== user || found.source !== 'web') throw new SessionNotFoundError(m.session);
        if (m.have > found.outputBytes) throw new InvalidRequestError(`the client claims ${m.have} bytes; the session has only sent ${found.outputBytes}`);
        session = found;
        session.resize(m.cols, m.rows);
        from = m.have;
      }
      const s = session;
      sendJson({ type: 'opened', session: s.id, node: s.nodeName, graceMs: this.#shells.limits.reattachGraceMs });
      const previous = this.#attached.get(s.id);
      this.#attached.set(s.id, ws);
      detach = s.attach(
        {
          output: (chunk) => {
            if (ws.readyState === ws.OPEN) ws.send(chunk, { binary: true });
          },
          exit: (code, reason) => {
            sendJson({ type: 'exit', code, reason });
            ws.close(1000, 'exit');
          },
        },
        from,
      );
      if (previous && previous !== ws) previous.close(4000, 'the terminal was opened again elsewhere');
      this.#log.info({ session: s.id, node: s.nodeName, user, resumed: m.type === 'resume' }, 'web terminal attached');
    };

    const later = (s: ShellSession, data: RawData, isBinary: boolean) => {
      if (this.#attached.get(s.id) !== ws) return;
      if (isBinary) return s.write(Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]));
      const parsed = laterMessage.safeParse(parseJson(data));
      if (!parsed.success) return sendJson({ type: 'error', code: 'INVALID_REQUEST', message: 'unknown message (expected resize, ack or close)' });
      const m = parsed.data;
      if (m.type === 'resize') s.resize(m.cols, m.rows);
      else if (m.type === 'ack') s.ack(m.total);
      else s.close('closed from the web page');
    };

    // The first message opens (or resumes) the shell; what comes while it opens waits, in order.
    let started: Promise<void> | undefined;
    ws.on('message', (data, isBinary) => {
      if (!started) {
        started = start(data, isBinary).catch(failFirst);
        return;
      }
      void started.then(() => {
        if (!session) return;
        try {
          later(session, data, isBinary);
        } catch (err) {
          this.#log.error({ err }, 'terminal message failed');
        }
      });
    });
    ws.on('close', () => {
      this.#sockets.delete(ws);
      clearTimeout(firstTimer);
      detach();
      if (session && this.#attached.get(session.id) === ws) this.#attached.delete(session.id);
    });
  }
}
