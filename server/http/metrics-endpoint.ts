// GET /metrics in the Prometheus text format: on the HTTPS port behind an API token (any role,
// `Authorization: Bearer fa1_…`), and optionally on a plain-HTTP address of its own
// (--metrics-listen, off by default) for a scraper on the same host or a private network.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ApiAuth, Principal } from '../auth';
import { TooManySignInsError } from '../errors';
import { HELD_BACK_PAUSE_MS } from '../sign-in-limiter';
import type { AuditLog } from '../store/audit-log';
import type { Metrics } from '../metrics';

function send(res: ServerResponse, code: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers });
  res.end(body);
}

function serve(metrics: Metrics, log: Logger, res: ServerResponse): void {
  metrics.text().then(
    (text) => send(res, 200, text, { 'content-type': metrics.contentType }),
    (err: unknown) => {
      log.error({ err }, 'collecting metrics failed');
      send(res, 500, 'collecting metrics failed\n');
    },
  );
}

/**
 * Handles `/metrics` on the HTTPS port; returns false for any other path. Without a valid API
 * token the answer is 401 (and nothing about the fleet); failures count towards the address's
 * sign-in limit (429 once held back); a token limited to a selector gets 403.
 */
export function createMetricsRoute(d: { auth: ApiAuth; audit: AuditLog; metrics: Metrics; log: Logger }): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/metrics') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'only GET\n');
      return true;
    }
    const header = req.headers.authorization ?? '';
    const address = req.socket.remoteAddress ?? '';
    let principal: Principal;
    try {
      principal = d.auth.check(header.replace(/^Bearer\s+/i, ''), address);
    } catch (err) {
      if (err instanceof TooManySignInsError) {
        setTimeout(() => !res.destroyed && send(res, 429, `${err.message}\n`, { 'retry-after': String(err.retryAfterSeconds) }), HELD_BACK_PAUSE_MS);
        return true;
      }
      d.audit.record({ actor: 'anonymous', action: 'access.denied', target: 'web GET /metrics', ok: false, detail: `from ${address}: ${(err as Error).message}` });
      send(res, 401, 'an API token is required: Authorization: Bearer fa1_…\n', { 'www-authenticate': 'Bearer realm="fleet"' });
      return true;
    }
    // Counts cover the whole fleet: not for a token limited to a selector.
    if (principal.scope) {
      d.audit.record({ actor: `api:${principal.tokenId}`, action: 'access.denied', target: 'web GET /metrics', ok: false, detail: `from ${address}: the metrics are fleet-wide and the token is limited to ${principal.scope}` });
      send(res, 403, 'the metrics cover the whole fleet: use a token without a scope\n');
      return true;
    }
    serve(d.metrics, d.log, res);
    return true;
  };
}

/** Serves `/metrics` without authentication on a plain-HTTP address of its own; resolves with the bound port. */
export async function startMetricsServer(host: string, port: number, metrics: Metrics, log: Logger): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/metrics') return send(res, 404, 'only /metrics here\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'only GET\n');
    serve(metrics, log, res);
  });
  const bound = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as { port: number }).port));
  });
  return { server, port: bound };
}
