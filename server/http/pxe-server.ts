// The plain-HTTP PXE port (only when --pxe-listen is given): common iPXE builds have no HTTPS, so
// this port answers read-only boot scripts, cloud-init data and the discovery image, and hands out
// nothing but single-use, short-lived, machine-bound join tokens. A Fastify app on node:http.
import { createReadStream } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { HTTPMethods } from 'fastify';
import type { Logger } from 'pino';
import type { Machines } from '../pxe';
import { createHttpApp, listen, sendText, textErrorHandler, type HttpApp } from './fastify-app';
import { requestUrl } from './web-common';

const MAX_URL_LENGTH = 2048;

/** The Host header when it looks like host[:port]; otherwise the address the request came in on. */
function hostOf(req: IncomingMessage): string {
  const header = req.headers.host ?? '';
  if (/^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(header)) return header;
  const local = req.socket.localAddress ?? '127.0.0.1';
  return `${local.includes(':') ? `[${local}]` : local}:${req.socket.localPort}`;
}

/** Builds the PXE port's app (not listening yet). */
export function createPxeApp(machines: Machines, log: Logger): HttpApp {
  // A connection that does not speak HTTP is dropped without an answer.
  const app = createHttpApp({ serverFactory: (handler) => createServer(handler), log, clientError: (_err, socket) => socket.destroy() });
  const ctxOf = (req: IncomingMessage) => ({ remoteAddress: req.socket.remoteAddress ?? '', host: hostOf(req) });

  // Read-only: every other method, an overlong target and one that does not parse end here.
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return sendText(reply, 405, 'only GET\n');
    if (request.url.length > MAX_URL_LENGTH) return sendText(reply, 414, 'request URL too long\n');
    if (!requestUrl(request.url, 'http://pxe')) return sendText(reply, 400, 'malformed request URL\n');
  });
  app.setNotFoundHandler((_request, reply) => sendText(reply, 404, 'not found\n'));
  app.setErrorHandler(textErrorHandler(log, 'pxe'));

  const routes = { method: ['GET', 'HEAD'] satisfies HTTPMethods[] };
  app.route({
    ...routes,
    url: '/pxe/boot.ipxe',
    handler: (request, reply) => {
      const base = `http://${hostOf(request.raw)}`;
      return sendText(reply, 200, `#!ipxe\nchain ${base}/pxe/ipxe?mac=\${mac:hexhyp}&uuid=\${uuid}&serial=\${serial:uristring}&buildarch=\${buildarch}\n`);
    },
  });
  app.route({
    ...routes,
    url: '/pxe/ipxe',
    handler: async (request, reply) => {
      const query = requestUrl(request.url, 'http://pxe')!.searchParams;
      const q = (k: string) => (query.get(k) ?? '').slice(0, 128);
      return sendText(reply, 200, await machines.bootScript({ mac: q('mac'), uuid: q('uuid'), serial: q('serial'), buildarch: q('buildarch') }, ctxOf(request.raw)));
    },
  });
  app.route<{ Params: { machine: string; part: string } }>({
    ...routes,
    url: '/pxe/cloud-init/:machine/:part',
    handler: async (request, reply) => {
      const { machine, part } = request.params;
      if (!/^m-[a-z0-9]{1,20}$/.test(machine) || !['meta-data', 'user-data', 'vendor-data'].includes(part)) return sendText(reply, 404, 'not found\n');
      const body = await machines.cloudInit(machine, part, ctxOf(request.raw));
      return body === undefined ? sendText(reply, 404, 'no such machine\n') : sendText(reply, 200, body);
    },
  });
  app.route<{ Params: { file: string } }>({
    ...routes,
    url: '/pxe/discovery/:file',
    handler: (request, reply) => {
      const name = request.params.file;
      if (name !== 'vmlinuz' && name !== 'initrd.img') return sendText(reply, 404, 'not found\n');
      const file = machines.discoveryFile(name);
      if (!file) return sendText(reply, 404, 'no discovery image on this server (npm run build:discovery)\n');
      reply.header('content-type', 'application/octet-stream').header('content-length', file.size);
      return request.method === 'HEAD' ? reply.send() : reply.send(createReadStream(file.path));
    },
  });
  return app;
}

/** Starts the PXE port; resolves with the app and the bound port. */
export async function startPxeServer(host: string, port: number, machines: Machines, log: Logger): Promise<{ app: HttpApp; port: number }> {
  return listen(createPxeApp(machines, log), host, port);
}
