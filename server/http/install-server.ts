// The server's HTTPS port for installs: GET /install.sh (with this server's URL, gRPC port and
// agent version filled in), /ca.crt, /agent/<version>/linux-<arch>[.gz|.zst] and
// /agent/<version>/sha256sums.txt. Served with the same certificate as the gRPC port. The web app
// (web-app.ts: the page, its JSON API and the terminal WebSocket) shares this port when given.
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { StartupError } from '../errors';
import type { Releases } from '../releases';
import type { WebApp } from './web-app';
import { requestUrl } from './web-common';

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
  /** The web app (/, /web/*, /api/*, WebSocket upgrades); without it those paths are 404. */
  web?: WebApp;
  /**
   * Files hosted for specs, by SHA-256; served only to a client certificate of a current node
   * (`agentFingerprints` says whether a certificate's SHA-256 fingerprint belongs to one).
   */
  hostedFile?: (sha256: string) => { path: string; size: number } | undefined;
  isAgentCertificate?: (fingerprint: string) => boolean;
  /** GET /metrics (metrics-endpoint.ts); returns false for other paths. */
  metrics?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** Called first for every request (request id, access log: request-log.ts). */
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

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/** Starts the HTTPS install server; resolves with the bound port. */
export async function startInstallServer(host: string, port: number, o: InstallServerOptions): Promise<{ server: Server; port: number }> {
  const { scriptPath } = o;
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (o.metrics?.(req, res)) return;
    const url = requestUrl(req.url, 'https://x');
    if (!url) return send(res, 400, 'malformed request URL\n');
    if (o.web?.handle(req, res)) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'only GET\n');
    const path = url.pathname;
    if (path === '/install.sh') {
      const hostHeader = /^[A-Za-z0-9.\-:[\]]{1,300}$/.test(req.headers.host ?? '') ? req.headers.host! : `localhost:${port}`;
      const script = readFileSync(scriptPath, 'utf8')
        .replaceAll('__FLEET_URL__', `https://${hostHeader}`)
        .replaceAll('__FLEET_GRPC_PORT__', String(o.grpcPort))
        .replaceAll('__FLEET_VERSION__', o.defaultVersion() ?? '__FLEET_VERSION__');
      return send(res, 200, script, 'text/x-shellscript; charset=utf-8');
    }
    if (path === '/ca.crt') return send(res, 200, o.caPem, 'application/x-pem-file');
    const sums = /^\/agent\/([^/]+)\/sha256sums\.txt$/.exec(path);
    if (sums) {
      const text = o.releases.sums(sums[1]!);
      return text ? send(res, 200, text) : send(res, 404, `no agent release ${sums[1]}\n`);
    }
    const bin = /^\/agent\/([^/]+)\/linux-([a-z0-9]+)(\.gz|\.zst)?$/.exec(path);
    if (bin) {
      const file = o.releases.file(bin[1]!, bin[2]!, bin[3] ?? '');
      if (!file) return send(res, 404, `no agent ${bin[1]} for linux-${bin[2]}${bin[3] ?? ''}\n`);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.size, 'x-checksum-sha256': file.sha256 });
      if (req.method === 'HEAD') return res.end();
      createReadStream(file.path).on('error', () => res.destroy()).pipe(res);
      return;
    }
    const hosted = /^\/files\/([0-9a-f]{64})$/.exec(path);
    if (hosted && o.hostedFile) {
      const socket = req.socket as TLSSocket;
      const cert = socket.authorized ? socket.getPeerCertificate() : undefined;
      const fingerprint = cert?.fingerprint256?.replaceAll(':', '').toLowerCase() ?? '';
      if (!fingerprint || !o.isAgentCertificate?.(fingerprint)) return send(res, 403, 'hosted files are served to enrolled agents only (client certificate required)\n');
      const file = o.hostedFile(hosted[1]!);
      if (!file) return send(res, 404, `no hosted file ${hosted[1]}\n`);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.size, 'x-checksum-sha256': hosted[1]! });
      if (req.method === 'HEAD') return res.end();
      createReadStream(file.path).on('error', () => res.destroy()).pipe(res);
      return;
    }
    return send(res, 404, 'not found\n');
  };
  const server = createServer(
    // Client certificates are asked for (agents fetching hosted files present theirs) but never required.
    { cert: o.certChainPem, key: o.keyPem, minVersion: 'TLSv1.2', ca: o.caPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    try {
      o.onRequest?.(req, res);
      handle(req, res);
    } catch (err) {
      o.log.error({ err, url: req.url }, 'install request failed');
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    }
  });
  server.on('tlsClientError', () => {});
  server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
    if (o.web) return o.web.upgrade(req, socket, head);
    socket.destroy();
  });
  const bound = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as { port: number }).port));
  });
  return { server, port: bound };
}
