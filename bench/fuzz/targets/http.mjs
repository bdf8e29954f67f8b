// HTTP targets, over raw sockets so malformed requests reach the server as written: the HTTPS
// port (install.sh, /ca.crt, /agent/…, /files/…, the web app, its JSON API and sign-in) and the
// plain-HTTP PXE port. Random methods, paths (traversal, %2e%2e, malformed escapes), headers,
// bodies (invalid JSON, huge), and PXE query strings. A 500 is a finding; so is no answer.
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { mutateText } from '../mutate.mjs';

const TIMEOUT_MS = 10_000;
const HUGE_EVERY = 300;

const HTTPS_PATHS = ['/install.sh', '/ca.crt', '/agent/0.1.0/linux-x64', '/agent/0.1.0/linux-x64.gz', '/agent/0.1.0/sha256sums.txt', `/files/${'a'.repeat(64)}`, '/', '/web/app.js', '/web/index.html', '/api/v1/session', '/api/v1/whoami', '/api/v1/nodes', '/api/v1/nodes/fuzz-grpc', '/api/v1/jobs', '/api/v1/jobs/j-1', '/api/v1/rollouts', '/api/v1/rollouts/r-1', '/api/v1/sessions', '/api/v1/sessions/s-1/recording', '/api/v1/shell', '/api/v1/openapi.json', '/api/v1', '/api'];
const PXE_PATHS = ['/pxe/boot.ipxe', '/pxe/ipxe', '/pxe/cloud-init/m-abc/meta-data', '/pxe/cloud-init/m-abc/user-data', '/pxe/cloud-init/m-abc/vendor-data', '/pxe/discovery/vmlinuz', '/pxe/discovery/initrd.img', '/'];
const TRAVERSAL = ['/agent/../../etc/passwd', '/agent/%2e%2e/%2e%2e/etc/passwd', '/files/..%2f..%2fetc%2fpasswd', '/web/..%2f..%2fpackage.json', '/web/%2e%2e/%2e%2e/server/bin.ts', '/api/v1/nodes/%2e%2e%2f%2e%2e', '/api/v1/nodes/%', '/api/v1/jobs/%E0%A4%A', '//', '//[', '///etc/passwd', '/\\..\\..\\etc\\passwd', '/api/v1/sessions/..%2F..%2Fetc%2Fpasswd/recording', '/pxe/cloud-init/m-a/../../../../etc/passwd', '/%00', '/api/v1/nodes/%00', '*', 'http://evil/', '/?%', `/${'a'.repeat(9000)}`];
const METHODS = ['GET', 'GET', 'GET', 'POST', 'POST', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT', 'PROPFIND', 'get', 'G\u0000T', ''];
const QUERY_KEYS = ['mac', 'uuid', 'serial', 'buildarch', 'limit', 'selector', 'node', 'hostname'];
const PIECES = ['/', '..', '%2e', '%2f', '%', '%00', '?', '#', '&', '=', ';', '\\', '//', '%ff', '%c0%af', ' '];

function randomPath(rng, known) {
  const r = rng.int(10);
  let path = r < 4 ? rng.pick(known) : r < 6 ? rng.pick(TRAVERSAL) : r < 9 ? mutateText(rng, rng.pick(known), PIECES) : `/${rng.string(60)}`;
  if (rng.chance(0.4)) {
    const q = [];
    for (let k = rng.int(4); k >= 0; k--) q.push(`${rng.pick(QUERY_KEYS)}=${rng.chance(0.5) ? encodeURIComponent(rng.string(40).toWellFormed()) : mutateText(rng, '52:54:00:12:34:56', PIECES)}`);
    path += `?${q.join(rng.pick(['&', '&&', ';']))}`;
  }
  return path;
}

function randomBody(rng, i, session) {
  if (i % HUGE_EVERY === 7) return Buffer.alloc(rng.pick([64 * 1024, 2 * 1024 * 1024]), 0x7b);
  const r = rng.int(6);
  if (r === 0) return Buffer.alloc(0);
  if (r === 1) return Buffer.from(JSON.stringify({ token: rng.pick([session?.admin ?? '', mutateText(rng, session?.admin ?? 'fa1_x'), rng.string(50)]) }));
  if (r === 2) return Buffer.from(mutateText(rng, '{"token":"fa1_000000000000_0000000000000000000000000000000000000000"}', ['{', '}', '"', ':', ',', '[', '\\u0000', '\\ud800']));
  if (r === 3) return Buffer.from(`${'['.repeat(rng.range(100, 100_000))}`);
  if (r === 4) return rng.bytes(rng.size(4096));
  return Buffer.from(rng.string(200));
}

function headerLines(rng, host, body, session, https) {
  const h = [];
  if (rng.chance(0.9)) h.push(`Host: ${rng.chance(0.8) ? host : rng.pick(['', 'evil.example', mutateText(rng, host), 'a'.repeat(400), '[::1]:1', 'x y'])}`);
  let stalls = false;
  if (body.length || rng.chance(0.2)) {
    const length = rng.chance(0.9) ? body.length : rng.pick([-1, 2 ** 53, 'abc', body.length + 10, 0]);
    // A request that promises more body than it sends may be left waiting for it: the client's doing.
    stalls ||= typeof length === 'number' && length > body.length;
    h.push(`Content-Length: ${length}`);
  }
  if (rng.chance(0.6)) h.push(`Content-Type: ${rng.pick(['application/json', 'application/json; charset=utf-8', 'text/plain', 'APPLICATION/JSON', 'multipart/form-data; boundary=x', rng.string(20)])}`);
  if (https && session && rng.chance(0.5)) h.push(`Cookie: ${rng.chance(0.7) ? session.cookie : mutateText(rng, session.cookie)}`);
  if (https && session && rng.chance(0.4)) h.push(`X-CSRF-Token: ${rng.chance(0.5) ? session.csrf : mutateText(rng, session.csrf)}`);
  if (rng.chance(0.3)) h.push(`Origin: ${rng.pick([`https://${host}`, 'https://evil.example', 'null', rng.string(30)])}`);
  if (rng.chance(0.1)) {
    h.push('Transfer-Encoding: chunked');
    stalls = true;
  }
  if (rng.chance(0.1)) h.push(`${rng.string(10)}: ${rng.string(30)}`);
  if (rng.chance(0.05)) h.push(`X-Big: ${'b'.repeat(rng.pick([1000, 20_000, 100_000]))}`);
  h.push('Connection: close');
  return { lines: h, stalls };
}

/** Sends one raw request; resolves with the status code, 0 when the server closed without an answer, or -1 on timeout. */
export function rawRequest({ https, port, head, body, localAddress }) {
  return new Promise((resolve) => {
    const socket = https ? tlsConnect({ host: '127.0.0.1', port, localAddress, rejectUnauthorized: false }) : tcpConnect({ host: '127.0.0.1', port, localAddress });
    let got = Buffer.alloc(0);
    let settled = false;
    const settle = (v) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => settle({ status: -1, text: '' }), TIMEOUT_MS);
    socket.on(https ? 'secureConnect' : 'connect', () => {
      socket.write(head);
      if (body.length) socket.write(body, () => {});
    });
    socket.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length > 4096 || /\r\n\r\n/.test(got.toString('latin1'))) {
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(got.toString('latin1'));
        // Read on a little for the body of an error (a 500 says what it is).
        if (m) setTimeout(() => settle({ status: Number(m[1]), text: got.toString('utf8', 0, 4096) }), 20);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(got.toString('latin1'));
      settle({ status: m ? Number(m[1]) : 0, text: got.toString('utf8', 0, 4096) });
    });
  });
}

function httpTarget(name, https) {
  return {
    name,
    needsFleet: true,
    concurrency: 8,
    async setup(ctx) {
      const f = ctx.fleet;
      const port = https ? f.fleet.httpsPort : f.pxePort;
      const host = `127.0.0.1:${port}`;
      return { port, host, session: https ? await ctx.webSession() : null };
    },
    async runCase(ctx, rng, i, verdict, state) {
      const method = rng.pick(METHODS);
      const path = randomPath(rng, https ? HTTPS_PATHS : PXE_PATHS);
      const body = method === 'GET' && rng.chance(0.7) ? Buffer.alloc(0) : randomBody(rng, i, state.session);
      const { lines, stalls } = headerLines(rng, state.host, body, state.session, https);
      const head = Buffer.from(`${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`, 'latin1');
      // From a different loopback address each time (all of 127/8 is this machine), so the sign-in
      // limiter, which counts failures per address, does not turn every later login into a 429.
      const localAddress = `127.${rng.range(1, 250)}.${rng.int(256)}.${rng.range(1, 250)}`;
      const res = await rawRequest({ https, port: state.port, head, body, localAddress });
      const input = { port: https ? 'https' : 'pxe', head: head.toString('latin1'), body: body.length > 65536 ? `<${body.length} bytes>` : body.toString('base64') };
      if (res.status === -1 && stalls) return verdict.refused();
      if (res.status === -1) return verdict.finding('hang', `${method} ${path.slice(0, 100)}: no answer within ${TIMEOUT_MS / 1000} s`, input);
      if (res.status >= 500 && res.status !== 503) return verdict.finding('internal', `${method} ${path.slice(0, 100)}: HTTP ${res.status} ${res.text.split('\r\n\r\n')[1]?.slice(0, 100) ?? ''}`, input);
      if (res.status >= 200 && res.status < 400) return verdict.ok();
      return verdict.refused();
    },
  };
}

/** The HTTPS port: install, CA, agent downloads, hosted files, the web app and its API. */
export const httpsTarget = httpTarget('https', true);
/** The plain-HTTP PXE port. */
export const pxeTarget = httpTarget('pxe', false);
