// The plain-HTTP PXE port (only when --pxe-listen is given): common iPXE builds have no HTTPS, so
// this port answers read-only boot scripts, cloud-init data and the discovery image, and hands out
// nothing but single-use, short-lived, machine-bound join tokens.
import { createReadStream } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { requestUrl } from '../http/web-common';
import type { Machines } from './machines';

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/** The Host header when it looks like host[:port]; otherwise the address the request came in on. */
function hostOf(req: IncomingMessage): string {
  const header = req.headers.host ?? '';
  if (/^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(header)) return header;
  const local = req.socket.localAddress ?? '127.0.0.1';
  return `${local.includes(':') ? `[${local}]` : local}:${req.socket.localPort}`;
}

/** Starts the PXE port; resolves with the bound port. */
export async function startPxeServer(host: string, port: number, machines: Machines, log: Logger): Promise<{ server: Server; port: number }> {
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'only GET\n');
    if ((req.url ?? '').length > 2048) return send(res, 414, 'request URL too long\n');
    const url = requestUrl(req.url, 'http://pxe');
    if (!url) return send(res, 400, 'malformed request URL\n');
    const ctx = { remoteAddress: req.socket.remoteAddress ?? '', host: hostOf(req) };
    if (url.pathname === '/pxe/boot.ipxe') {
      const base = `http://${ctx.host}`;
      return send(res, 200, `#!ipxe\nchain ${base}/pxe/ipxe?mac=\${mac:hexhyp}&uuid=\${uuid}&serial=\${serial:uristring}&buildarch=\${buildarch}\n`);
    }
    if (url.pathname === '/pxe/ipxe') {
      const q = (k: string) => (url.searchParams.get(k) ?? '').slice(0, 128);
      return send(res, 200, machines.bootScript({ mac: q('mac'), uuid: q('uuid'), serial: q('serial'), buildarch: q('buildarch') }, ctx));
    }
    const cloud = /^\/pxe\/cloud-init\/(m-[a-z0-9]{1,20})\/(meta-data|user-data|vendor-data)$/.exec(url.pathname);
    if (cloud) {
      const body = machines.cloudInit(cloud[1]!, cloud[2]!, ctx);
      return body === undefined ? send(res, 404, 'no such machine\n') : send(res, 200, body);
    }
    const image = /^\/pxe\/discovery\/(vmlinuz|initrd\.img)$/.exec(url.pathname);
    if (image) {
      const file = machines.discoveryFile(image[1]!);
      if (!file) return send(res, 404, 'no discovery image on this server (npm run build:discovery)\n');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.size });
      if (req.method === 'HEAD') return res.end();
      createReadStream(file.path).on('error', () => res.destroy()).pipe(res);
      return;
    }
    return send(res, 404, 'not found\n');
  };
  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (err) {
      log.error({ err, url: req.url }, 'pxe request failed');
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    }
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  const bound = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as { port: number }).port));
  });
  return { server, port: bound };
}
