// The web app on the HTTPS port, as a Fastify plugin: the page itself (/, /web/*, built into
// dist/web), sign-in and sign-out (/api/login, /api/logout), the JSON API the page reads
// (web-api-routes.ts) and the terminal WebSocket (/api/shell, see websocket-shell.ts). Every API
// call needs the session cookie (@fastify/cookie); state-changing calls also need the CSRF token
// in `x-csrf-token` and a same-origin request; every answer carries the security headers
// (@fastify/helmet). Errors are JSON `{error, code}`.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyHelmet from '@fastify/helmet';
import type {} from '@fastify/websocket';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import { FleetError } from '../../common/errors';
import type { AgentHub } from '../agent-hub';
import type { Access } from '../access';
import type { ApiAuth, Principal } from '../auth';
import { InvalidRequestError } from '../errors';
import type { JobDispatcher } from '../jobs/dispatcher';
import type { ShellSessions } from '../shells/sessions';
import { HELD_BACK_PAUSE_MS, type SignInLimiter } from '../sign-in-limiter';
import type { RolloutEngine } from '../state/rollouts';
import type { AuditLog } from '../store/audit-log';
import type { NodeStore } from '../store/node-store';
import type { StateStore } from '../store/state-store';
import { Role, type TokenStore } from '../store/token-store';
import { BadRequestBodyError, BodyTooLargeError, CrossOriginError, MethodNotAllowedError, NotSignedInError, RouteNotFoundError, TooManySignInsError } from './errors';
import { clientErrorStatus, pathOf } from './fastify-app';
import { signedInView } from './web-api';
import { sessionOf, webApiRoutes } from './web-api-routes';
import { httpStatus, sameOrigin, SECURITY_HEADERS } from './web-common';
import { SESSION_COOKIE, SESSION_COOKIE_OPTIONS, WebSessions, type WebSession } from './web-sessions';
import { SHELL_SOCKET_PATH, ShellSockets } from './websocket-shell';
import { apiPlugin } from './api';
import type { Services } from '../services';

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
  /** The service layer, which the HTTP API (/api/v1) adapts. */
  services: Services;
  /** Failed sign-ins per address (FLEET_SIGNIN_FAILURES a minute, as on the gRPC side). */
  signInLimiter: SignInLimiter;
  log: Logger;
  /** Where the built page is (index.html, app.js, app.css); default: findWebRoot(). */
  root?: string | null;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The sign-in route: no session needed (web-app.ts's guard). */
    signIn?: boolean;
  }
}

/** What the HTTPS front needs from the web app. */
export interface WebApp {
  /** Registers the page, the API and the terminal WebSocket (the front registers @fastify/websocket first). */
  plugin: FastifyPluginAsync;
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

/** The largest request body the web app reads (the sign-in form). */
export const MAX_BODY_BYTES = 16 * 1024;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const loginBody = z.object({ token: z.string().trim().min(1, 'paste an API token (fa1_…)').max(500) });

/** The FleetError behind an error Fastify raised while reading a body, or the error itself. */
function asFleetError(err: FastifyError | Error): unknown {
  if (err instanceof FleetError) return err;
  const code = (err as FastifyError).code;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new BodyTooLargeError(MAX_BODY_BYTES);
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new BadRequestBodyError('send the body as application/json', err);
  if (clientErrorStatus(err)) return new BadRequestBodyError(err.message, err);
  return err;
}

/** Builds the web app; the HTTPS front registers its plugin. */
export function createWebApp(d: WebAppDeps): WebApp {
  const root = d.root === undefined ? findWebRoot() : d.root;
  if (!root) d.log.warn('the web page is not built (dist/web is missing): run `npm run build`; the API still works');
  const sessions = new WebSessions();
  const limiter = d.signInLimiter;
  const actorOf = (p: Principal) => `api:${p.tokenId}`;

  /** The caller's session, checked against the token store (a revoked token ends its sessions). */
  const signedIn = async (request: FastifyRequest): Promise<WebSession> => {
    const session = sessions.require(request.cookies[SESSION_COOKIE]);
    const token = await d.tokens.getApi(session.principal.tokenId);
    if (!token || token.revokedAt !== null) {
      sessions.deleteForToken(session.principal.tokenId);
      throw new NotSignedInError('your API token was revoked: sign in with another one');
    }
    return session;
  };

  const shellSockets = new ShellSockets({ shells: d.shells, auth: d.auth, access: d.access, nodes: d.nodes, log: d.log.child({ part: 'web-shell' }) });

  const sweeper = setInterval(() => {
    sessions.sweep();
    limiter.sweep();
  }, 60_000);
  sweeper.unref();

  const remoteAddress = (request: FastifyRequest) => request.socket.remoteAddress ?? 'unknown';

  /** Refusals of a signed-in caller (role too low, outside its scope, bad CSRF) go to the audit log. */
  const auditRefusal = async (request: FastifyRequest, err: unknown) => {
    if (httpStatus(err) !== 403 || request.ws) return;
    const p = request.webSession?.principal;
    await d.audit.record({ actor: p ? actorOf(p) : 'anonymous', action: 'access.denied', target: `web ${request.method} ${pathOf(request.url)}`, ok: false, detail: `from ${remoteAddress(request)}: ${(err as Error).message}` });
  };

  /** JSON `{error, code}`; unknown errors are 500 and their text stays in the log. */
  const fail = async (thrown: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    const err = asFleetError(thrown);
    await auditRefusal(request, err);
    const status = httpStatus(err);
    if (status === 500) d.log.error({ err, url: request.url }, 'web request failed');
    if (err instanceof TooManySignInsError) reply.header('retry-after', err.retryAfterSeconds);
    if (err instanceof MethodNotAllowedError) reply.header('allow', 'GET, POST');
    if (err instanceof BodyTooLargeError) reply.header('connection', 'close');
    const body = err instanceof FleetError && status !== 500 ? { error: err.message, code: err.code } : { error: 'internal server error (see the server log)', code: 'INTERNAL' };
    // A held-back address waits for its refusal: a guesser that ignores Retry-After is slowed.
    if (err instanceof TooManySignInsError) await sleep(HELD_BACK_PAUSE_MS);
    return reply.code(status).header('cache-control', 'no-store').send(body);
  };

  /**
   * Before any /api handler: state-changing requests and WebSocket upgrades must come from this
   * origin; everything but sign-in needs a live session; state-changing requests need its CSRF token.
   */
  const guard = async (request: FastifyRequest) => {
    const mutating = request.method !== 'GET' && request.method !== 'HEAD';
    if ((mutating || request.ws) && !sameOrigin(request.raw)) throw new CrossOriginError();
    if (request.routeOptions.config.signIn) return;
    const session = await signedIn(request);
    if (mutating) sessions.checkCsrf(session, request.headers['x-csrf-token']);
    request.webSession = session;
    if (request.method === 'GET') d.auth.require(session.principal, Role.Viewer);
  };

  const notAllowed = async (request: FastifyRequest) => {
    throw new MethodNotAllowedError(request.method);
  };

  const api: FastifyPluginAsync = async (app) => {
    app.addHook('onRequest', guard);
    // The guard above runs for unknown paths too.
    app.setNotFoundHandler(async (request) => {
      // Every /api path but sign-in and sign-out is read-only.
      if (request.method !== 'GET') throw new MethodNotAllowedError(request.method);
      throw new RouteNotFoundError(pathOf(request.url));
    });

    // Sign-in reads a JSON body (Fastify's parser, within MAX_BODY_BYTES); nothing else reads one.
    await app.register(async (signIn) => {
      signIn.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: MAX_BODY_BYTES }, (_request, text, done) => {
        try {
          done(null, text === '' ? {} : JSON.parse(text as string));
        } catch (err) {
          done(new BadRequestBodyError('the body is not valid JSON', err), undefined);
        }
      });
      signIn.route({
        method: 'POST',
        url: '/login',
        bodyLimit: MAX_BODY_BYTES,
        config: { signIn: true },
        handler: async (request, reply) => {
          const address = remoteAddress(request);
          if (request.body === undefined) throw new BadRequestBodyError('send the body as application/json');
          const parsed = loginBody.safeParse(request.body);
          let principal: Principal;
          try {
            if (!parsed.success) throw new BadRequestBodyError(parsed.error.issues[0]?.message ?? 'expected {"token": "fa1_…"}');
            principal = await d.auth.check(parsed.data.token);
          } catch (err) {
            // A held-back address gets TooManySignInsError here (not audited again: its failures are);
            // a valid token from it was accepted above all the same.
            limiter.failed(address);
            await d.audit.record({ actor: `web:${address}`, action: 'web.login', target: address, ok: false, detail: err instanceof FleetError ? err.code : 'error' });
            throw err;
          }
          const { id, session } = sessions.create(principal);
          await d.audit.record({ actor: actorOf(principal), action: 'web.login', target: address, ok: true, detail: `role ${principal.role}` });
          d.log.info({ token: principal.tokenId, address }, 'web sign-in');
          return reply.setCookie(SESSION_COOKIE, id, SESSION_COOKIE_OPTIONS).header('cache-control', 'no-store').send(signedInView(session));
        },
      });
      signIn.route({ method: ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'], url: '/login', config: { signIn: true }, handler: notAllowed });
    });

    app.post('/logout', async (request, reply) => {
      const { principal } = sessionOf(request);
      sessions.delete(request.cookies[SESSION_COOKIE]);
      await d.audit.record({ actor: actorOf(principal), action: 'web.logout', target: remoteAddress(request), ok: true });
      return reply.setCookie(SESSION_COOKIE, '', { ...SESSION_COOKIE_OPTIONS, maxAge: 0 }).header('cache-control', 'no-store').send({ ok: true });
    });
    app.get('/logout', notAllowed);

    app.route({
      method: 'GET',
      url: SHELL_SOCKET_PATH.slice('/api'.length),
      handler: async () => {
        throw new InvalidRequestError('the terminal is a WebSocket: connect with Upgrade: websocket');
      },
      wsHandler: (socket, request) => shellSockets.serve(socket, sessionOf(request)),
    });

    await app.register(webApiRoutes(d));
  };

  const plugin: FastifyPluginAsync = async (app) => {
    app.decorateRequest('webSession', null);
    await app.register(fastifyCookie);
    await app.register(fastifyHelmet, SECURITY_HEADERS);
    app.setErrorHandler(fail);
    // Nothing the web app answers is cached, unless a route says otherwise (the page: no-cache).
    app.addHook('onSend', async (_request, reply, payload) => {
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
      return payload;
    });

    app.route({ method: ['GET', 'HEAD'], url: '/', handler: (_request, reply) => staticFile(reply, 'index.html') });
    app.route<{ Params: { name: string } }>({
      method: ['GET', 'HEAD'],
      url: '/web/:name',
      handler: (request, reply) => staticFile(reply, /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(request.params.name) ? request.params.name : undefined),
    });

    await app.register(api, { prefix: '/api' });
    // The HTTP API for people and scripts: a bearer token, or this page's session (its CSRF token for changes).
    await app.register(apiPlugin, {
      services: d.services,
      log: d.log.child({ part: 'api' }),
      sessionOf: async (request: FastifyRequest) => {
        if (request.cookies[SESSION_COOKIE] === undefined) return null;
        const session = await signedIn(request);
        return {
          principal: session.principal,
          checkChange: (r: FastifyRequest) => {
            if (!sameOrigin(r.raw)) throw new CrossOriginError();
            sessions.checkCsrf(session, r.headers['x-csrf-token']);
          },
        };
      },
    });
  };

  function staticFile(reply: FastifyReply, name: string | undefined): FastifyReply {
    const type = name ? CONTENT_TYPES[extname(name)] : undefined;
    const file = root && name && type ? join(root, name) : undefined;
    if (!root) return reply.code(503).type('text/plain; charset=utf-8').send('the web page is not built on this server (run `npm run build`)\n');
    if (!file || !type || !existsSync(file) || !statSync(file).isFile()) return reply.code(404).type('text/plain; charset=utf-8').send('not found\n');
    // index.html names its assets without a version, so nothing is cached for long.
    return reply.type(type).header('cache-control', 'no-cache').send(readFileSync(file));
  }

  return {
    plugin,
    close() {
      clearInterval(sweeper);
      shellSockets.close();
    },
  };
}
