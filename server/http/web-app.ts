// The web app on the HTTPS port: the page itself (/, /web/*, built into dist/web), sign-in and
// sign-out (/api/login, /api/logout), the JSON API the page reads (/api/me, /api/nodes,
// /api/jobs, /api/rollouts, /api/sessions, recordings) and the terminal WebSocket (/api/shell, see
// websocket-shell.ts). Every API call needs the session cookie; state-changing calls also need
// the CSRF token in `x-csrf-token` and a same-origin request. Errors are JSON `{error, code}`.
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { z } from 'zod';
import { FleetError } from '../../common/errors';
import { quote } from '../../common/format';
import { parseSelector } from '../../common/labels';
import { checkText, LIMITS } from '../../common/limits';
import type { CheckState } from '../../proto/gen/fleet/v1/common';
import type { AgentHub } from '../agent-hub';
import type { Access } from '../access';
import type { ApiAuth, Principal } from '../auth';
import { InvalidRequestError, JobNotFoundError, NodeNotFoundError, RolloutNotFoundError, SessionNotFoundError } from '../errors';
import type { JobDispatcher } from '../jobs/dispatcher';
import type { ShellSessions } from '../shells/sessions';
import type { RolloutEngine } from '../state/rollouts';
import type { AuditLog } from '../store/audit-log';
import type { NodeStore } from '../store/node-store';
import type { StateStore } from '../store/state-store';
import { Role, type TokenStore } from '../store/token-store';
import { BadRequestBodyError, BodyTooLargeError, CrossOriginError, MethodNotAllowedError, NotSignedInError, RouteNotFoundError, TooManySignInsError } from './errors';
import { httpStatus, requestUrl, sameOrigin, SECURITY_HEADERS } from './web-common';
import { jobDetail, jobSummary, nodeDetail, nodeSummary, rolloutDetail, rolloutSummary, sessionView } from './web-api';
import { HELD_BACK_PAUSE_MS } from '../sign-in-limiter';
import { sessionCookie, SignInLimiter, WebSessions, type WebSession } from './web-sessions';
import { ShellSockets } from './websocket-shell';

export interface WebAppDeps {
  auth: ApiAuth;
  access: Access;
  tokens: TokenStore;
  nodes: NodeStore;
  hub: AgentHub;
  dispatcher: JobDispatcher;
  shells: ShellSessions;
  audit: AuditLog;
  /** Desired state: each node's specs and health checks, and the rollouts. */
  stateStore: StateStore;
  rollouts: RolloutEngine;
  log: Logger;
  /** Where the built page is (index.html, app.js, app.css); default: findWebRoot(). */
  root?: string | null;
}

/** What the HTTPS server needs from the web app. */
export interface WebApp {
  /** Answers the request and returns true when it is the web app's (/, /web/*, /api/*). */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Takes a connection upgrade (the terminal WebSocket); refuses anything else. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes the WebSockets and stops the timers. */
  close(): void;
}

/** Finds the built page (dist/web) by walking up from this module; null when it was not built. */
export function findWebRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    for (const candidate of [join(dir, 'web'), join(dir, 'dist', 'web')]) {
      if (existsSync(join(candidate, 'index.html'))) return candidate;
    }
    dir = dirname(dir);
  }
  return null;
}

const MAX_BODY_BYTES = 16 * 1024;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
};

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | number> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

function readJsonBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') {
      req.resume();
      return reject(new BadRequestBodyError('send the body as application/json'));
    }
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        // Answer, then drop the connection rather than read the rest.
        req.removeAllListeners('data');
        req.pause();
        reject(new BodyTooLargeError(MAX_BODY_BYTES));
        return;
      }
      parts.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      try {
        resolve(parts.length ? JSON.parse(Buffer.concat(parts).toString('utf8')) : {});
      } catch (err) {
        reject(new BadRequestBodyError('the body is not valid JSON', err));
      }
    });
  });
}

const loginBody = z.object({ token: z.string().trim().min(1, 'paste an API token (fa1_…)').max(500) });

function limitParam(url: URL, fallback: number, max: number): number {
  const text = url.searchParams.get('limit');
  if (text === null || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidRequestError(`limit must be a whole number from 1 to ${max}`);
  return n;
}

/**
 * A path segment (a node name, a job, rollout or session id), decoded and within the limit for
 * names; malformed escapes are the client's mistake, not a server error.
 */
function segment(text: string, field: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(text);
  } catch {
    throw new InvalidRequestError(`malformed path segment ${quote(text)}`);
  }
  checkText(field, decoded, LIMITS.name);
  return decoded;
}

/** A query parameter ('' when absent), within its limit. */
function param(url: URL, name: string, limit = LIMITS.name): string {
  const value = url.searchParams.get(name) ?? '';
  checkText(name, value, limit);
  return value;
}

/** Builds the web app; the HTTPS install server hands it requests and upgrades. */
export function createWebApp(d: WebAppDeps): WebApp {
  const root = d.root === undefined ? findWebRoot() : d.root;
  if (!root) d.log.warn('the web page is not built (dist/web is missing): run `npm run build`; the API still works');
  const sessions = new WebSessions();
  const limiter = new SignInLimiter();
  const actorOf = (p: Principal) => `api:${p.tokenId}`;

  /** The caller's session, checked against the token store (a revoked token ends its sessions). */
  const signedIn = (req: IncomingMessage): WebSession => {
    const session = sessions.require(req.headers.cookie);
    const token = d.tokens.getApi(session.principal.tokenId);
    if (!token || token.revokedAt !== null) {
      sessions.deleteForToken(session.principal.tokenId);
      throw new NotSignedInError('your API token was revoked: sign in with another one');
    }
    return session;
  };

  const shellSockets = new ShellSockets({ shells: d.shells, auth: d.auth, access: d.access, nodes: d.nodes, sessions: signedIn, log: d.log.child({ part: 'web-shell' }) });

  const sweeper = setInterval(() => {
    sessions.sweep();
    limiter.sweep();
  }, 60_000);
  sweeper.unref();

  const remoteAddress = (req: IncomingMessage) => req.socket.remoteAddress ?? 'unknown';
  /** Who made a request, once signed in (for the audit of a refusal). */
  const callers = new WeakMap<IncomingMessage, Principal>();
  /** Refusals of a signed-in caller (role too low, outside its scope, bad CSRF) go to the audit log. */
  const auditRefusal = (req: IncomingMessage, err: unknown, path: string) => {
    if (httpStatus(err) !== 403) return;
    const p = callers.get(req);
    d.audit.record({ actor: p ? actorOf(p) : 'anonymous', action: 'access.denied', target: `web ${req.method ?? ''} ${path}`, ok: false, detail: `from ${remoteAddress(req)}: ${(err as Error).message}` });
  };

  async function login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const address = remoteAddress(req);
    const parsed = loginBody.safeParse(await readJsonBody(req));
    let principal: Principal;
    try {
      if (!parsed.success) throw new BadRequestBodyError(parsed.error.issues[0]?.message ?? 'expected {"token": "fa1_…"}');
      principal = d.auth.check(parsed.data.token);
    } catch (err) {
      // A held-back address gets TooManySignInsError here (not audited again: its failures are);
      // a valid token from it was accepted above all the same.
      limiter.failed(address);
      d.audit.record({ actor: `web:${address}`, action: 'web.login', target: address, ok: false, detail: err instanceof FleetError ? err.code : 'error' });
      throw err;
    }
    const { id, session } = sessions.create(principal);
    d.audit.record({ actor: actorOf(principal), action: 'web.login', target: address, ok: true, detail: `role ${principal.role}` });
    d.log.info({ token: principal.tokenId, address }, 'web sign-in');
    sendJson(res, 200, me(session), { 'set-cookie': sessionCookie(id) });
  }

  const me = (s: WebSession) => ({ tokenId: s.principal.tokenId, role: s.principal.role, scope: s.principal.scope, description: s.principal.description, csrf: s.csrf, expiresUnixMs: s.expiresAt });

  const findNode = (nameOrId: string) => {
    const node = d.nodes.find(nameOrId);
    if (!node) throw new NodeNotFoundError(nameOrId);
    return node;
  };

  async function api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const mutating = method !== 'GET' && method !== 'HEAD';
    if (mutating && !sameOrigin(req)) throw new CrossOriginError();

    if (path === '/api/login') {
      if (method !== 'POST') throw new MethodNotAllowedError(method);
      return login(req, res);
    }
    const session = signedIn(req);
    if (mutating) sessions.checkCsrf(session, req.headers['x-csrf-token']);
    const { principal } = session;
    callers.set(req, principal);
    if (path === '/api/logout') {
      if (method !== 'POST') throw new MethodNotAllowedError(method);
      sessions.delete(req.headers.cookie);
      d.audit.record({ actor: actorOf(principal), action: 'web.logout', target: remoteAddress(req), ok: true });
      return sendJson(res, 200, { ok: true }, { 'set-cookie': sessionCookie(null) });
    }
    if (method !== 'GET') throw new MethodNotAllowedError(method);
    d.auth.require(principal, Role.Viewer);

    if (path === '/api/me') return sendJson(res, 200, me(session));
    if (path === '/api/nodes') {
      const selector = parseSelector(param(url, 'selector', LIMITS.selector));
      const list = d.nodes.list().filter((n) => selector.matches(n.labels) && d.access.sees(principal, n));
      // One query for every node's checks rather than one per node.
      const checks = new Map<string, CheckState[]>();
      for (const c of d.stateStore.checks()) {
        const forNode = checks.get(c.nodeId);
        if (forNode) forNode.push(c);
        else checks.set(c.nodeId, [c]);
      }
      return sendJson(res, 200, { nodes: list.map((n) => nodeSummary(n, d.hub.isOnline(n.id), checks.get(n.id) ?? [])) });
    }
    const nodeMatch = /^\/api\/nodes\/([^/]+)$/.exec(path);
    if (nodeMatch) {
      const name = segment(nodeMatch[1]!, 'node');
      const node = findNode(name);
      if (!d.access.sees(principal, node)) throw new NodeNotFoundError(name);
      const recent = d.dispatcher
        .list(200)
        .filter((j) => j.runs.some((r) => r.nodeId === node.id) && d.access.seesIds(principal, j.runs.map((r) => r.nodeId)))
        .slice(0, 20);
      return sendJson(res, 200, nodeDetail(node, { online: d.hub.isOnline(node.id), recentJobs: recent, checks: d.stateStore.checks(node.id), specs: d.stateStore.nodeSpecs(node.id) }));
    }
    const seesRuns = (runs: readonly { nodeId: string }[]) => d.access.seesIds(principal, runs.map((r) => r.nodeId));
    if (path === '/api/jobs') {
      const jobs = d.access.newestVisible(principal, limitParam(url, 50, 500), (n) => d.dispatcher.list(n), (j) => j.runs.map((r) => r.nodeId));
      return sendJson(res, 200, { jobs: jobs.map(jobSummary) });
    }
    const jobMatch = /^\/api\/jobs\/([^/]+)$/.exec(path);
    if (jobMatch) {
      const id = segment(jobMatch[1]!, 'job');
      const job = d.dispatcher.describe(id);
      if (!seesRuns(job.runs)) throw new JobNotFoundError(id);
      // Read lazily: jobDetail keeps at most its cap per node, so a huge job stays small here.
      return sendJson(res, 200, jobDetail(job, d.dispatcher.storedOutput(job.id)));
    }
    if (path === '/api/rollouts') {
      const list = d.stateStore.rollouts(limitParam(url, 50, 500));
      const visible = list.map((r) => d.rollouts.toProto(r.id)).filter((r) => seesRuns(r.nodes));
      return sendJson(res, 200, { rollouts: visible.map(rolloutSummary) });
    }
    const rolloutMatch = /^\/api\/rollouts\/([^/]+)$/.exec(path);
    if (rolloutMatch) {
      const id = segment(rolloutMatch[1]!, 'rollout');
      const rollout = d.rollouts.toProto(id);
      if (!seesRuns(rollout.nodes)) throw new RolloutNotFoundError(id);
      return sendJson(res, 200, rolloutDetail(rollout));
    }

    // Recordings hold everything a shell printed: the same operator role as on the gRPC side.
    if (path === '/api/sessions') {
      d.auth.require(principal, Role.Operator);
      const nodeName = param(url, 'node');
      const nodeId = nodeName ? findNode(nodeName).id : undefined;
      const list = d.access.newestVisible(principal, limitParam(url, 50, 500), (n) => d.shells.history(n, nodeId), (s) => [s.nodeId]);
      return sendJson(res, 200, { sessions: list.map((s) => sessionView(s, d.shells.get(s.id) !== undefined)) });
    }
    const recMatch = /^\/api\/sessions\/([^/]+)\/recording$/.exec(path);
    if (recMatch) {
      d.auth.require(principal, Role.Operator);
      const id = segment(recMatch[1]!, 'session');
      const record = /^[A-Za-z0-9_-]{1,64}$/.test(id) ? d.shells.record(id) : undefined;
      if (!record || !seesRuns([record])) throw new SessionNotFoundError(id);
      const file = d.shells.recordingFile(id);
      if (!existsSync(file)) throw new SessionNotFoundError(id);
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/x-asciicast; charset=utf-8', 'cache-control': 'no-store' });
      createReadStream(file, { highWaterMark: 64 * 1024 })
        .on('error', (err) => {
          d.log.warn({ err, session: id }, 'recording read failed');
          res.destroy();
        })
        .pipe(res);
      return;
    }
    if (path === '/api/shell') throw new InvalidRequestError('the terminal is a WebSocket: connect with Upgrade: websocket');
    throw new RouteNotFoundError(path);
  }

  function staticFile(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      return void res.end('only GET\n');
    }
    const name = path === '/' ? 'index.html' : /^\/web\/([A-Za-z0-9_-][A-Za-z0-9._-]*)$/.exec(path)?.[1];
    const type = name ? CONTENT_TYPES[extname(name)] : undefined;
    const file = root && name && type ? join(root, name) : undefined;
    if (!root) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      return void res.end('the web page is not built on this server (run `npm run build`)\n');
    }
    if (!file || !type || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
      return void res.end('not found\n');
    }
    const body = readFileSync(file);
    // index.html names its assets without a version, so nothing is cached for long.
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': body.length, 'cache-control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  const fail = (res: ServerResponse, err: unknown, url: string) => {
    const status = httpStatus(err);
    if (status === 500) d.log.error({ err, url }, 'web request failed');
    if (res.headersSent) return void res.destroy();
    const headers: Record<string, string | number> = {};
    if (err instanceof TooManySignInsError) headers['retry-after'] = err.retryAfterSeconds;
    if (err instanceof MethodNotAllowedError) headers.allow = 'GET, POST';
    if (err instanceof BodyTooLargeError) headers.connection = 'close';
    const body = err instanceof FleetError && status !== 500 ? { error: err.message, code: err.code } : { error: 'internal server error (see the server log)', code: 'INTERNAL' };
    // A held-back address waits for its refusal: a guesser that ignores Retry-After is slowed.
    if (err instanceof TooManySignInsError) setTimeout(() => !res.destroyed && sendJson(res, status, body, headers), HELD_BACK_PAUSE_MS);
    else sendJson(res, status, body, headers);
  };

  return {
    handle(req, res) {
      const url = requestUrl(req.url, 'https://x');
      if (!url) return false;
      const path = url.pathname;
      if (path === '/api' || path.startsWith('/api/')) {
        api(req, res, url).catch((err: unknown) => {
          auditRefusal(req, err, path);
          fail(res, err, path);
        });
        return true;
      }
      if (path === '/' || path.startsWith('/web/')) {
        staticFile(req, res, path);
        return true;
      }
      return false;
    },
    upgrade(req, socket, head) {
      shellSockets.upgrade(req, socket, head);
    },
    close() {
      clearInterval(sweeper);
      shellSockets.close();
    },
  };
}
