// The web app on the HTTPS port, as a Fastify plugin: the page itself (/, /web/*, built into
// dist/web), the HTTP API it uses (/api/v1, server/http/api), the page's session in that API
// (/api/v1/session: sign in, who is signed in, sign out) and the terminal WebSocket
// (/api/v1/shell, see websocket-shell.ts). A cookie session is checked here and handed to the API
// as its caller; state-changing requests with the cookie also need the CSRF token in
// `x-csrf-token` and a same-origin request; every answer carries the security headers
// (@fastify/helmet). Errors are JSON `{error, code}`. Nothing here touches a store: the
// service layer checks tokens and audits.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyHelmet from '@fastify/helmet';
import type {} from '@fastify/websocket';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { FleetError } from '../../common/errors';
import type { Principal } from '../auth';
import { InvalidRequestError } from '../errors';
import { actorOf, type Services } from '../services';
import { HELD_BACK_PAUSE_MS, type SignInLimits } from '../sign-in-limiter';
import { API_PREFIX, apiPlugin, SESSION_PATH, signInRequest, webSessionView } from './api';
import { BadRequestBodyError, BodyTooLargeError, CrossOriginError, MethodNotAllowedError, NotSignedInError, RouteNotFoundError, TooManySignInsError } from './errors';
import { clientErrorStatus, pathOf } from './fastify-app';
import { httpStatus, sameOrigin, SECURITY_HEADERS } from './web-common';
import { SESSION_COOKIE, SESSION_COOKIE_OPTIONS, WebSessions, type WebSession, type WebSessionStore } from './web-sessions';
import { SHELL_SOCKET_PATH, ShellSockets } from './websocket-shell';

export interface WebAppDeps {
  /** The service layer: the HTTP API adapts it; sign-in checks tokens and audits through it. */
  services: Services;
  /** Failed sign-ins per address (FLEET_SIGNIN_FAILURES a minute, as on the gRPC side). */
  signInLimits: SignInLimits;
  /** Where browser sessions are kept (server/embedded.ts builds the in-memory one). */
  webSessions: WebSessionStore;
  log: Logger;
  /** Where the built page is (index.html, app.js, app.css); default: findWebRoot(). */
  root?: string | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The browser session of the request, once checked (for the audit of a refusal). */
    webSession: WebSession | null;
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
  const s = d.services;
  const sessions = new WebSessions(d.webSessions);
  const limiter = d.signInLimits;
  const remoteAddress = (request: FastifyRequest) => request.socket.remoteAddress ?? 'unknown';
  const callerOf = (request: FastifyRequest, principal: Principal) => s.gate.trusted(principal, remoteAddress(request));

  /** The caller's session; a revoked token ends its sessions. */
  const signedIn = async (request: FastifyRequest): Promise<WebSession> => {
    const session = await sessions.require(request.cookies[SESSION_COOKIE]);
    if (!(await s.tokens.tokenLive(session.principal.tokenId))) {
      await sessions.deleteForToken(session.principal.tokenId);
      throw new NotSignedInError('your API token was revoked: sign in with another one');
    }
    request.webSession = session;
    return session;
  };

  /** A state-changing request with the cookie: from this origin, with the session's CSRF token. */
  const checkChange = (request: FastifyRequest, session: WebSession) => {
    if (!sameOrigin(request.raw)) throw new CrossOriginError();
    sessions.checkCsrf(session, request.headers['x-csrf-token']);
  };

  const shellSockets = new ShellSockets({ services: s, log: d.log.child({ part: 'web-shell' }) });

  const sweeper = setInterval(() => {
    sessions.sweep().catch((err: unknown) => d.log.warn({ err }, 'dropping expired web sessions failed'));
  }, 60_000);
  sweeper.unref();

  /** Refusals of a signed-in caller (bad CSRF, another origin) go to the audit log, through the service layer's gate. */
  const auditRefusal = async (request: FastifyRequest, err: unknown) => {
    if (httpStatus(err) !== 403 || request.ws) return;
    const p = request.webSession?.principal;
    await s.gate.refused(p ? actorOf(p) : 'anonymous', remoteAddress(request), `web ${request.method} ${pathOf(request.url)}`, err);
  };

  /** JSON `{error, code}`; unknown errors are 500 and their text stays in the log. */
  const fail = async (thrown: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    const err = asFleetError(thrown);
    await auditRefusal(request, err);
    const status = httpStatus(err);
    if (status === 500) d.log.error({ err, url: request.url }, 'web request failed');
    if (err instanceof TooManySignInsError) reply.header('retry-after', err.retryAfterSeconds);
    if (err instanceof MethodNotAllowedError) reply.header('allow', 'GET, POST, DELETE');
    if (err instanceof BodyTooLargeError) reply.header('connection', 'close');
    const body = err instanceof FleetError && status !== 500 ? { error: err.message, code: err.code } : { error: 'internal server error (see the server log)', code: 'INTERNAL' };
    // A held-back address waits for its refusal: a guesser that ignores Retry-After is slowed.
    if (err instanceof TooManySignInsError) await sleep(HELD_BACK_PAUSE_MS);
    return reply.code(status).header('cache-control', 'no-store').send(body);
  };

  const notAllowed = async (request: FastifyRequest) => {
    throw new MethodNotAllowedError(request.method);
  };

  /** The page's session (/api/v1/session) and the terminal socket (/api/v1/shell). */
  const session: FastifyPluginAsync = async (app) => {
    // Sign-in reads a JSON body (Fastify's parser, within MAX_BODY_BYTES); nothing else here reads one.
    await app.register(async (signIn) => {
      signIn.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: MAX_BODY_BYTES }, (_request, text, done) => {
        try {
          done(null, text === '' ? {} : JSON.parse(text as string));
        } catch (err) {
          done(new BadRequestBodyError('the body is not valid JSON', err), undefined);
        }
      });
      signIn.post(SESSION_PATH, { bodyLimit: MAX_BODY_BYTES }, async (request, reply) => {
        if (!sameOrigin(request.raw)) throw new CrossOriginError();
        const address = remoteAddress(request);
        // Not JSON at all is a client's mistake, not a guess: not counted, not audited.
        if (request.body === undefined) throw new BadRequestBodyError('send the body as application/json');
        let principal: Principal;
        try {
          const parsed = signInRequest.safeParse(request.body);
          if (!parsed.success) throw new BadRequestBodyError(parsed.error.issues[0]?.message ?? 'expected {"token": "fa1_…"}');
          principal = await s.tokens.signIn(parsed.data.token, address);
        } catch (err) {
          // A held-back address gets TooManySignInsError here (not audited again: its failures are);
          // a valid token from it was accepted above all the same.
          await limiter.failed(address);
          await s.tokens.signInFailed(address, err);
          throw err;
        }
        const { id, session: created } = await sessions.create(principal);
        d.log.info({ token: principal.tokenId, address }, 'web sign-in');
        return reply.setCookie(SESSION_COOKIE, id, SESSION_COOKIE_OPTIONS).header('cache-control', 'no-store').send(webSessionView(created));
      });
    });

    app.get(SESSION_PATH, async (request) => webSessionView(await signedIn(request)));

    app.delete(SESSION_PATH, async (request, reply) => {
      const current = await signedIn(request);
      checkChange(request, current);
      await sessions.delete(request.cookies[SESSION_COOKIE]);
      await s.tokens.signOut(callerOf(request, current.principal));
      return reply.setCookie(SESSION_COOKIE, '', { ...SESSION_COOKIE_OPTIONS, maxAge: 0 }).header('cache-control', 'no-store').send({});
    });
    app.route({ method: ['HEAD', 'PUT', 'PATCH', 'OPTIONS'], url: SESSION_PATH, handler: notAllowed });

    app.route({
      method: 'GET',
      url: SHELL_SOCKET_PATH.slice(API_PREFIX.length),
      // Before the upgrade is accepted: this origin, and a live session (else plain HTTP 403/401).
      onRequest: async (request) => {
        if (!sameOrigin(request.raw)) throw new CrossOriginError();
        await signedIn(request);
      },
      handler: async () => {
        throw new InvalidRequestError('the terminal is a WebSocket: connect with Upgrade: websocket');
      },
      wsHandler: (socket, request) => {
        const web = request.webSession!;
        shellSockets.serve(socket, callerOf(request, web.principal), web.csrf);
      },
    });
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

    await app.register(session, { prefix: API_PREFIX });
    // Any other path under /api: JSON, like the API's own answers.
    await app.register(
      async (api) => {
        api.setNotFoundHandler(async (request) => {
          throw new RouteNotFoundError(pathOf(request.url));
        });
      },
      { prefix: '/api' },
    );
    // The HTTP API for people and scripts: a bearer token, or this page's session (its CSRF token for changes).
    await app.register(apiPlugin, {
      services: s,
      log: d.log.child({ part: 'api' }),
      sessionOf: async (request: FastifyRequest) => {
        if (request.cookies[SESSION_COOKIE] === undefined) return null;
        const current = await signedIn(request);
        return { principal: current.principal, checkChange: (r: FastifyRequest) => checkChange(r, current) };
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
