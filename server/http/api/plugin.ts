// The HTTP API (/api/v1/…) as a Fastify plugin: a thin adapter over the service layer, like the
// gRPC one. A request is authenticated by `Authorization: Bearer <API token>` (no CSRF: a script
// holds the token) or by the web page's session cookie (then a state-changing request needs the
// CSRF token as well, which the cookie check does). Inputs are checked with the route's zod
// schemas and the same text limits as gRPC; answers are the contract's messages in protobuf JSON;
// streams are server-sent events. Errors are JSON `{error, code}` with the status of their kind.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { FleetError } from '../../../common/errors';
import { checkRequest } from '../../../common/limits';
import * as control from '../../../proto/gen/fleet/v1/control';
import type { Principal } from '../../auth';
import { InvalidRequestError, TooManySignInsError } from '../../errors';
import { BodyTooLargeError, RouteNotFoundError } from '../errors';
import { pathOf } from '../fastify-app';
import { httpStatus } from '../web-common';
import { actorOf, type Caller, type Services } from '../../services';
import { HELD_BACK_PAUSE_MS } from '../../sign-in-limiter';
import { contractSchema } from './contract';
import { openApiDocument } from './openapi';
import { ROUTES, type Route, type RouteInput } from './routes';

export interface ApiOptions {
  services: Services;
  /**
   * The request's web session, or null when it carries no session cookie; throws when the
   * session is unknown, expired or its token revoked. `checkChange` throws unless a
   * state-changing request comes from the page's origin with the session's CSRF token.
   */
  sessionOf: (request: FastifyRequest) => Promise<{ principal: Principal; checkChange(request: FastifyRequest): void } | null>;
  log: Logger;
}

/** Where the API lives. */
export const API_PREFIX = '/api/v1';
/** The largest JSON body (a spec or the PXE config is at most 1 MiB of YAML, then JSON-escaped). */
const MAX_JSON_BYTES = 4 << 20;
/** A comment line on an idle event stream, so proxies keep it open. */
const KEEPALIVE_MS = 15_000;


interface Codec {
  fromJSON(object: unknown): unknown;
  toJSON(message: unknown): unknown;
}
const codec = (message: string) => (control as unknown as Record<string, Codec>)[message]!;

/** A zod failure as one readable line ("limit: Too big: expected number to be <=500"). */
function invalid(where: string, error: z.ZodError): InvalidRequestError {
  const issue = error.issues[0]!;
  const path = issue.path.join('.');
  return new InvalidRequestError(`${where}${path ? ` ${path}` : ''}: ${issue.message}`);
}

function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T | Record<string, never> {
  if (!schema) return {};
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw invalid(where, result.error);
  return result.data;
}

/** Registers /api/v1/… and /api/v1/openapi.json on a Fastify instance. */
export async function apiPlugin(app: FastifyInstance, o: ApiOptions): Promise<void> {
  const { services: s, log } = o;
  // JSON bodies within MAX_JSON_BYTES; uploads stream through to the service, nothing buffered.
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: MAX_JSON_BYTES }, (_request, text, done) => {
    try {
      done(null, text === '' ? {} : (JSON.parse(text as string) as unknown));
    } catch {
      done(new InvalidRequestError('the body is not valid JSON'), undefined);
    }
  });
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
  // What Fastify itself refuses (a body over the limit, one that does not parse) in the same JSON shape.
  app.setErrorHandler(async (err, request, reply) => {
    const route = ROUTES.find((r) => `${API_PREFIX}${r.path}` === request.routeOptions.url) ?? ROUTES[0]!;
    const code = (err as { code?: string }).code;
    const status = (err as { statusCode?: number }).statusCode;
    const known = err instanceof FleetError ? err : code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? new BodyTooLargeError(MAX_JSON_BYTES) : status && status < 500 ? new InvalidRequestError((err as Error).message) : err;
    if (known instanceof BodyTooLargeError) reply.header('connection', 'close');
    return fail(reply, known, route);
  });
  const document = openApiDocument(API_PREFIX);
  app.get(`${API_PREFIX}/openapi.json`, async (_request, reply) => reply.header('cache-control', 'no-cache').send(document));

  const callerOf = async (request: FastifyRequest, route: Route): Promise<Caller> => {
    const address = request.ip;
    const header = request.headers.authorization;
    if (header !== undefined) return s.gate.authenticate(header.replace(/^Bearer\s+/i, ''), address, route.operation);
    const session = await o.sessionOf(request);
    if (!session) return s.gate.authenticate('', address, route.operation);
    if (route.method !== 'GET') {
      try {
        session.checkChange(request);
      } catch (err) {
        await s.gate.refused(actorOf(session.principal), address, route.operation, err);
        throw err;
      }
    }
    return s.gate.trusted(session.principal, address);
  };

  const fail = (reply: FastifyReply, err: unknown, route: Route) => {
    const status = httpStatus(err);
    if (status === 500) log.error({ err, operation: route.operation }, 'API request failed');
    const body = err instanceof FleetError && status !== 500 ? { error: err.message, code: err.code } : { error: 'internal server error (see the server log)', code: 'INTERNAL' };
    if (err instanceof TooManySignInsError) reply.header('retry-after', err.retryAfterSeconds);
    reply.code(status).header('cache-control', 'no-store');
    // A held-back address waits for its refusal: a guesser that ignores Retry-After is slowed.
    if (err instanceof TooManySignInsError) return new Promise<void>((resolve) => setTimeout(() => resolve(void reply.send(body)), HELD_BACK_PAUSE_MS));
    return reply.send(body);
  };

  const inputOf = (request: FastifyRequest, route: Route): RouteInput => {
    // An empty path segment (/api/v1/nodes/) names no node: no such route, as for any other path.
    if (Object.values(request.params as Record<string, string>).some((v) => v === '')) throw new RouteNotFoundError(pathOf(request.url));
    const params = parse(route.params, request.params, 'path') as Record<string, string>;
    const query = parse(route.query, request.query, 'query') as Record<string, unknown>;
    let body: unknown;
    if (route.body === 'raw') {
      if (!/^application\/octet-stream\b/i.test(request.headers['content-type'] ?? '')) throw new InvalidRequestError('send the file as application/octet-stream');
      body = request.body;
    }
    else if (route.body) {
      const sent = request.headers['content-length'] !== undefined ? request.headers['content-length'] !== '0' : request.headers['transfer-encoding'] !== undefined;
      if (sent && !/^application\/json\b/i.test(request.headers['content-type'] ?? '')) throw new InvalidRequestError('send the body as application/json');
      const json = parse(contractSchema(route.body), request.body ?? {}, 'body');
      body = codec(route.body).fromJSON(json);
    }
    // The same text limits as over gRPC, on everything the request names.
    checkRequest(`/fleet.v1.ControlService/${route.operation}`, { ...(route.body === 'raw' ? {} : (body as object)), ...query, ...params });
    return { params, query, body };
  };

  for (const route of ROUTES) {
    app.route({
      method: route.method,
      url: `${API_PREFIX}${route.path}`,
      bodyLimit: MAX_JSON_BYTES,
      handler: async (request, reply) => {
        try {
          const caller = await callerOf(request, route);
          const input = inputOf(request, route);
          if (route.answer.kind === 'events') return await events(request, reply, route, caller, input);
          const result = await route.handle(s, caller, input, () => {});
          if (route.answer.kind === 'file') {
            return reply.header('cache-control', 'no-store').type(route.answer.type).send(result as Readable);
          }
          return reply.header('cache-control', 'no-store').send(codec(route.answer.message).toJSON(result));
        } catch (err) {
          if (reply.sent) {
            request.raw.destroy();
            return;
          }
          return fail(reply, err, route);
        }
      },
    });
  }

  /**
   * Answers with server-sent events: one `message` event per contract message (protobuf JSON),
   * then the stream ends. A refusal before the first event is an ordinary JSON error; an error
   * after it is an `error` event with `{error, code}`.
   */
  async function events(request: FastifyRequest, reply: FastifyReply, route: Route, caller: Caller, input: RouteInput): Promise<void> {
    const message = codec((route.answer as { message: string }).message);
    const res = reply.raw;
    let started = false;
    let ended = false;
    let stop: (() => void) | undefined;
    let keepalive: NodeJS.Timeout | undefined;
    const start = () => {
      if (started) return;
      started = true;
      reply.hijack();
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', connection: 'keep-alive' });
      keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    };
    const end = () => {
      if (ended) return;
      ended = true;
      clearInterval(keepalive);
      stop?.();
      res.end();
    };
    // The client went away. (Not the request's 'close': that comes as soon as a POST's body is read.)
    res.on('close', () => {
      clearInterval(keepalive);
      ended = true;
      stop?.();
    });
    const send = (event: unknown, last: boolean) => {
      if (ended) return;
      start();
      res.write(`event: message\ndata: ${JSON.stringify(message.toJSON(event))}\n\n`);
      if (last) end();
    };
    let result: unknown;
    try {
      result = await route.handle(s, caller, input, send);
    } catch (err) {
      if (!started) throw err;
      const known = err instanceof FleetError;
      if (!known) log.error({ err, operation: route.operation }, 'API stream failed');
      if (!ended) res.write(`event: error\ndata: ${JSON.stringify(known ? { error: err.message, code: err.code } : { error: 'internal server error (see the server log)', code: 'INTERNAL' })}\n\n`);
      end();
      return;
    }
    if (typeof result === 'function') {
      stop = result as () => void;
      if (ended) stop();
    } else {
      start();
      end();
    }
  }
}
