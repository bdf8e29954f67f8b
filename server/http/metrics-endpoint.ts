// GET /metrics in the Prometheus text format: on the HTTPS port behind an API token (any role,
// `Authorization: Bearer fa1_…`), and optionally on a plain-HTTP address of its own
// (--metrics-listen, off by default) for a scraper on the same host or a private network.
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { OutOfScopeError, TooManySignInsError } from '../errors';
import type { Metrics } from '../metrics';
import { actorOf, type Caller, type Gate } from '../services';
import { HELD_BACK_PAUSE_MS } from '../sign-in-limiter';
import { createHttpApp, listen, textErrorHandler, pathOf, sendText, type HttpApp } from './fastify-app';

/** The path of the metrics on both ports. */
export const METRICS_PATH = '/metrics';
/** The operation name refusals are audited with (the service layer's gate audits them). */
const OPERATION = 'web GET /metrics';

async function serve(metrics: Metrics, log: Logger, reply: FastifyReply): Promise<FastifyReply> {
  let text: string;
  try {
    text = await metrics.text();
  } catch (err) {
    log.error({ err }, 'collecting metrics failed');
    return sendText(reply, 500, 'collecting metrics failed\n');
  }
  return sendText(reply, 200, text, metrics.contentType);
}

/**
 * Adds `GET /metrics` to the HTTPS front. Without a valid API token the answer is 401 (and
 * nothing about the fleet); failures count towards the address's sign-in limit (429 once held
 * back); a token limited to a selector gets 403. The service layer's gate checks the token and
 * audits every refusal.
 */
export function addMetricsRoute(app: HttpApp, d: { gate: Gate; metrics: Metrics; log: Logger }): void {
  app.route({
    method: ['GET', 'HEAD'],
    url: METRICS_PATH,
    handler: async (request, reply) => {
      const header = request.headers.authorization ?? '';
      const address = request.socket.remoteAddress ?? '';
      let caller: Caller;
      try {
        caller = await d.gate.authenticate(header.replace(/^Bearer\s+/i, ''), address, OPERATION);
      } catch (err) {
        if (err instanceof TooManySignInsError) {
          // A held-back address waits for its refusal: a guesser that ignores Retry-After is slowed.
          await sleep(HELD_BACK_PAUSE_MS);
          return sendText(reply.header('retry-after', String(err.retryAfterSeconds)), 429, `${err.message}\n`);
        }
        return sendText(reply.header('www-authenticate', 'Bearer realm="fleet"'), 401, 'an API token is required: Authorization: Bearer fa1_…\n');
      }
      // Counts cover the whole fleet: not for a token limited to a selector.
      if (caller.principal.scope) {
        await d.gate.refused(actorOf(caller), address, OPERATION, new OutOfScopeError(caller.principal.scope, 'the metrics cover the whole fleet'));
        return sendText(reply, 403, 'the metrics cover the whole fleet: use a token without a scope\n');
      }
      return serve(d.metrics, d.log, reply);
    },
  });
}

/** Builds the plain-HTTP metrics app: `/metrics` without authentication, nothing else. */
export function createMetricsApp(metrics: Metrics, log: Logger): HttpApp {
  const app = createHttpApp({ serverFactory: (handler) => createServer(handler), log, badUrl: (_request, reply) => sendText(reply, 404, 'only /metrics here\n') });
  app.route({ method: ['GET', 'HEAD'], url: METRICS_PATH, handler: (_request, reply) => serve(metrics, log, reply) });
  app.setNotFoundHandler((request, reply) =>
    pathOf(request.url) === METRICS_PATH ? sendText(reply, 405, 'only GET\n') : sendText(reply, 404, 'only /metrics here\n'),
  );
  app.setErrorHandler(textErrorHandler(log, 'metrics'));
  return app;
}

/** Serves `/metrics` on a plain-HTTP address of its own; resolves with the app and the bound port. */
export async function startMetricsServer(host: string, port: number, metrics: Metrics, log: Logger): Promise<{ app: HttpApp; port: number }> {
  return listen(createMetricsApp(metrics, log), host, port);
}
