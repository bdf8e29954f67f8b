// What every HTTP listener of the server (the HTTPS front, the PXE port, the metrics port) shares:
// a Fastify instance on a Node server the caller makes (so Node's own timeouts stay as they are),
// answers for request targets and escapes that do not parse, plain-text replies and listening.
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

/** A Fastify instance on a plain or TLS Node server. */
export type HttpApp = FastifyInstance<HttpServer | HttpsServer>;

/** Answers a request that Fastify could not route (malformed escapes in the path): `reply` is raw-hook free. */
export type BadUrlAnswer = (request: FastifyRequest, reply: FastifyReply) => void;

export interface HttpAppOptions {
  /** Makes the Node server (node:http or node:https createServer with the handler). */
  serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) => HttpServer | HttpsServer;
  log: Logger;
  /** What a request with a path Fastify cannot decode gets; default: 400 `malformed request URL`. */
  badUrl?: BadUrlAnswer;
  /** Connection-level parse errors (Node's 'clientError'); default: Fastify's 400/408/431 answer. */
  clientError?: (err: Error, socket: Socket) => void;
}

/** Longer than any path segment fleet accepts, so the handlers' own limits answer, not the router. */
const MAX_PARAM_LENGTH = 16 * 1024;

/** The path of a request target, without the query. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** A plain-text answer that no cache keeps. */
export function sendText(reply: FastifyReply, status: number, body: string, type = 'text/plain; charset=utf-8'): FastifyReply {
  return reply.code(status).header('content-type', type).header('cache-control', 'no-store').send(body);
}

/**
 * An answer to a WebSocket upgrade is written on the upgraded socket, which nothing closes once it
 * is sent (there is no HTTP parser left on it): close it then.
 */
export function closeUpgradeWhenSent(request: FastifyRequest, reply: FastifyReply): void {
  if ((request.raw as { upgrade?: boolean }).upgrade) reply.raw.once('finish', () => request.raw.socket.destroy());
}

const defaultBadUrl: BadUrlAnswer = (request, reply) => {
  closeUpgradeWhenSent(request, reply);
  sendText(reply, 400, 'malformed request URL\n');
};

/**
 * A Fastify instance with fleet's defaults: no automatic HEAD routes (each route names GET and HEAD
 * itself, so a download's HEAD does not read the file), Fastify's request logging off (the HTTPS
 * front logs its own line per request: server/request-log.ts), and open connections closed on close().
 */
export function createHttpApp(o: HttpAppOptions): HttpApp {
  const badUrl = o.badUrl ?? defaultBadUrl;
  const app = Fastify({
    serverFactory: o.serverFactory,
    loggerInstance: o.log,
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    forceCloseConnections: true,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    ...(o.clientError ? { clientErrorHandler: o.clientError } : {}),
    frameworkErrors: (_err, request, reply) => badUrl(request, reply),
  }) as unknown as HttpApp;
  // Bodies are read only where a route asks for one (the web app's sign-in): elsewhere a body of
  // any type is left unread, as before, and the route answers.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
  return app;
}

/** The status of an error Fastify raised for a client's mistake (a bad Content-Length, …), or undefined. */
export function clientErrorStatus(err: unknown): number | undefined {
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

/** An error handler answering in plain text: a client's mistake with its status, anything else 500 (logged). */
export function textErrorHandler(log: Logger, what: string) {
  return (err: Error, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const status = clientErrorStatus(err);
    if (status) return sendText(reply, status, `${err.message}\n`);
    log.error({ err, url: request.url }, `${what} request failed`);
    return sendText(reply, 500, 'internal error\n');
  };
}

/**
 * Starts listening on exactly the address given (Fastify's own listen() would bind every address
 * a name such as `localhost` resolves to); resolves with the app and the bound port. When the
 * address is taken (or anything else fails) the app is closed and the error thrown.
 */
export async function listen(app: HttpApp, host: string, port: number): Promise<{ app: HttpApp; port: number }> {
  try {
    await app.ready();
    const bound = await new Promise<number>((resolve, reject) => {
      app.server.once('error', reject);
      app.server.listen(port, host, () => {
        app.server.off('error', reject);
        resolve((app.server.address() as { port: number }).port);
      });
    });
    return { app, port: bound };
  } catch (err) {
    await app.close();
    throw err;
  }
}
