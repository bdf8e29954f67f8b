// The server's HTTPS front, a Fastify app on node:https with the server's own certificate (the
// same as the gRPC port's): GET /install.sh (with this server's URL, gRPC port and agent version
// filled in), /ca.crt, /agent/<version>/linux-<arch>[.gz|.zst], /agent/<version>/sha256sums.txt,
// hosted files for enrolled agents (/files/<sha256>), /metrics (metrics-endpoint.ts) and, when
// given, the web app (web-app.ts: the page, its JSON API and the terminal WebSocket).
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyWebsocket from '@fastify/websocket';
import type { HTTPMethods } from 'fastify';
import type { Logger } from 'pino';
import { StartupError } from '../errors';
import type { Releases } from '../releases';
import { closeUpgradeWhenSent, createHttpApp, listen, pathOf, sendText, textErrorHandler, type HttpApp } from './fastify-app';
import { InvalidRequestError } from '../errors';
import type { WebApp } from './web-app';
import { requestUrl } from './web-common';
import { SHELL_SOCKET_OPTIONS, SHELL_SOCKET_PATH } from './websocket-shell';

export interface InstallServerOptions {
  /** installer/install.sh, read on every request (see findInstallScript). */
  scriptPath: string;
  certChainPem: string;
  keyPem: string;
  caPem: string;
  grpcPort: number;
  releases: Releases;
  /** The agent version offered when the installer does not ask for one. */
  defaultVersion: () => string | undefined;
  log: Logger;
  /** The web app (/, /web/*, /api/*, the terminal WebSocket); without it those paths are 404. */
  web?: WebApp;
  /**
   * Files hosted for specs, by SHA-256; served only to a client certificate of a current node
   * (`agentFingerprints` says whether a certificate's SHA-256 fingerprint belongs to one).
   */
  hostedFile?: (sha256: string) => Promise<{ size: number; stream: Readable } | undefined>;
  isAgentCertificate?: (fingerprint: string) => Promise<boolean>;
  /** Adds GET /metrics (metrics-endpoint.ts addMetricsRoute). */
  metrics?: (app: HttpApp) => void;
  /** Called first for every HTTP request (request id, access log: request-log.ts). */
  onRequest?: (req: IncomingMessage, res: ServerResponse) => void;
}

/** Finds installer/install.sh by walking up from this module (works from src and from dist). */
export function findInstallScript(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'installer', 'install.sh');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new StartupError('installer/install.sh was not found next to fleet-server (a broken install?)');
}

/** Builds the HTTPS front (not listening yet); `port` is the one install.sh names when the Host header is unusable. */
export async function createInstallApp(port: number, o: InstallServerOptions): Promise<HttpApp> {
  const app = createHttpApp({
    // Client certificates are asked for (agents fetching hosted files present theirs) but never required.
    serverFactory: (handler) =>
      createServer({ cert: o.certChainPem, key: o.keyPem, minVersion: 'TLSv1.2', ca: o.caPem, requestCert: true, rejectUnauthorized: false }, handler).on('tlsClientError', () => {}),
    log: o.log,
    badUrl: (request, reply) => {
      closeUpgradeWhenSent(request, reply);
      if (!pathOf(request.url).startsWith('/api/')) return sendText(reply, 400, 'malformed request URL\n');
      const err = new InvalidRequestError('malformed escape in the request path');
      reply.code(400).header('cache-control', 'no-store').send({ error: err.message, code: err.code });
    },
  });
  // Takes every upgrade through the router; only the terminal's route accepts one (below).
  await app.register(fastifyWebsocket, {
    options: SHELL_SOCKET_OPTIONS,
    // The terminal sockets are closed by the web app (close()); nothing waits for them here.
    preClose: (done) => done(),
    // A client's protocol error (bad frame, oversized message) is its own: ws closes the socket
    // with the right code; only a socket still open after an error is dropped here.
    errorHandler: (err, socket) => {
      o.log.debug({ err }, 'terminal socket error');
      if (socket.readyState === socket.OPEN) socket.terminate();
    },
  });
  app.addHook('onRequest', async (request, reply) => {
    if (!request.ws) o.onRequest?.(request.raw, reply.raw);
    if (request.ws && request.routeOptions.url !== SHELL_SOCKET_PATH) {
      closeUpgradeWhenSent(request, reply);
      return reply.code(404).send({ error: 'no WebSocket here' });
    }
    if (!requestUrl(request.url, 'https://x')) return sendText(reply, 400, 'malformed request URL\n');
  });
  app.setErrorHandler(textErrorHandler(o.log, 'install'));
  app.setNotFoundHandler((request, reply) => {
    if (request.method === 'GET' || request.method === 'HEAD') return sendText(reply, 404, 'not found\n');
    const path = pathOf(request.url);
    if (o.web && (path === '/' || path.startsWith('/web/'))) reply.header('allow', 'GET, HEAD');
    return sendText(reply, 405, 'only GET\n');
  });

  o.metrics?.(app);
  const get = { method: ['GET', 'HEAD'] satisfies HTTPMethods[] };
  app.route({
    ...get,
    url: '/install.sh',
    handler: (request, reply) => {
      const hostHeader = /^[A-Za-z0-9.\-:[\]]{1,300}$/.test(request.headers.host ?? '') ? request.headers.host! : `localhost:${port}`;
      const script = readFileSync(o.scriptPath, 'utf8')
        .replaceAll('__FLEET_URL__', `https://${hostHeader}`)
        .replaceAll('__FLEET_GRPC_PORT__', String(o.grpcPort))
        .replaceAll('__FLEET_VERSION__', o.defaultVersion() ?? '__FLEET_VERSION__');
      return sendText(reply, 200, script, 'text/x-shellscript; charset=utf-8');
    },
  });
  app.route({ ...get, url: '/ca.crt', handler: (_request, reply) => sendText(reply, 200, o.caPem, 'application/x-pem-file') });
  app.route<{ Params: { version: string } }>({
    ...get,
    url: '/agent/:version/sha256sums.txt',
    handler: (request, reply) => {
      const { version } = request.params;
      const text = o.releases.sums(version);
      return text ? sendText(reply, 200, text) : sendText(reply, 404, `no agent release ${version}\n`);
    },
  });
  app.route<{ Params: { version: string; file: string } }>({
    ...get,
    url: '/agent/:version/:file',
    handler: (request, reply) => {
      const { version } = request.params;
      const bin = /^linux-([a-z0-9]+)(\.gz|\.zst)?$/.exec(request.params.file);
      if (!bin) return sendText(reply, 404, 'not found\n');
      const file = o.releases.file(version, bin[1]!, bin[2] ?? '');
      if (!file) return sendText(reply, 404, `no agent ${version} for linux-${bin[1]}${bin[2] ?? ''}\n`);
      reply.header('content-type', 'application/octet-stream').header('content-length', file.size).header('x-checksum-sha256', file.sha256);
      return request.method === 'HEAD' ? reply.send() : reply.send(createReadStream(file.path));
    },
  });
  if (o.hostedFile) {
    const hostedFile = o.hostedFile;
    app.route<{ Params: { sha256: string } }>({
      ...get,
      url: '/files/:sha256',
      handler: async (request, reply) => {
        const { sha256 } = request.params;
        if (!/^[0-9a-f]{64}$/.test(sha256)) return sendText(reply, 404, 'not found\n');
        const socket = request.raw.socket as TLSSocket;
        const cert = socket.authorized ? socket.getPeerCertificate() : undefined;
        const fingerprint = cert?.fingerprint256?.replaceAll(':', '').toLowerCase() ?? '';
        if (!fingerprint || !(await o.isAgentCertificate?.(fingerprint))) return sendText(reply, 403, 'hosted files are served to enrolled agents only (client certificate required)\n');
        const file = await hostedFile(sha256);
        if (!file) return sendText(reply, 404, `no hosted file ${sha256}\n`);
        reply.header('content-type', 'application/octet-stream').header('content-length', file.size).header('x-checksum-sha256', sha256);
        if (request.method !== 'HEAD') return reply.send(file.stream);
        file.stream.destroy();
        return reply.send();
      },
    });
  }
  if (o.web) await app.register(o.web.plugin);
  return app;
}

/** Starts the HTTPS front; resolves with the app and the bound port. */
export async function startInstallServer(host: string, port: number, o: InstallServerOptions): Promise<{ app: HttpApp; port: number }> {
  return listen(await createInstallApp(port, o), host, port);
}
