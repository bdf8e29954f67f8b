// The HTTPS front on Fastify, driven with inject(): the page's session in the HTTP API
// (/api/v1/session) with the cookie's flags, the security headers, CSRF and same-origin checks,
// the sign-in body limits, the sign-in limiter it is given, and the answers to wrong methods,
// unknown paths and malformed escapes (status codes and the `{error, code}` shape).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Access } from '../access';
import { ApiAuth } from '../auth';
import { loadOrCreatePki } from '../pki';
import type { Releases } from '../releases';
import { createServices, type ServicesDeps } from '../services';
import { MemorySignInLimits } from '../sign-in-limiter';
import { MemoryWebSessions } from './memory-web-sessions';
import { openSqliteStores, Role } from '../store';
import type { HttpApp } from './fastify-app';
import { createInstallApp } from './install-server';
import { createWebApp, type WebApp, type WebAppDeps } from './web-app';

const log = pino({ level: 'silent' });
const ORIGIN = 'https://fleet.example:8443';

describe('the HTTPS front', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-front-'));
  let app: HttpApp;
  let web: WebApp;
  let token: string;

  beforeAll(async () => {
    const stores = openSqliteStores(':memory:');
    const tokens = stores.tokens;
    const auth = new ApiAuth(tokens);
    token = (await auth.createToken(Role.Viewer, 'test')).token;
    const pki = await loadOrCreatePki(dir, []);
    writeFileSync(join(dir, 'install.sh'), 'echo __FLEET_URL__ __FLEET_GRPC_PORT__\n');
    const nodes = stores.nodes;
    // Sign-in and the node list need only these parts of the service layer.
    const services = createServices({ auth, access: new Access(nodes), audit: stores.audit, nodes, tokens, stateStore: { checks: async () => [] }, hub: { isOnline: () => false } } as unknown as ServicesDeps);
    const deps: WebAppDeps = { services, log, root: null, signInLimits: new MemorySignInLimits({ max: 3 }), webSessions: new MemoryWebSessions() };
    web = createWebApp(deps);
    app = await createInstallApp(8443, { scriptPath: join(dir, 'install.sh'), certChainPem: pki.serverCertChainPem, keyPem: pki.serverKeyPem, caPem: pki.caPem, grpcPort: 7443, releases: { sums: () => undefined, file: () => undefined } as unknown as Releases, defaultVersion: () => undefined, log, web });
    await app.ready();
  });
  afterAll(async () => {
    web.close();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const json = (body: string) => JSON.parse(body) as { error: string; code: string; csrf?: string };
  const login = (body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    app.inject({ method: 'POST', url: '/api/v1/session', headers: { host: 'fleet.example:8443', ...headers }, payload: typeof body === 'string' ? body : JSON.stringify(body) });
  const signIn = async () => {
    const r = await login({ token });
    expect(r.statusCode, r.body).toBe(200);
    const cookie = String(r.headers['set-cookie']).split(';')[0]!;
    return { cookie, csrf: json(r.body).csrf! };
  };

  it('sets a session cookie only this site can send and scripts cannot read, with the security headers', async () => {
    const r = await login({ token });
    expect(r.statusCode).toBe(200);
    const cookie = String(r.headers['set-cookie']);
    expect(cookie).toMatch(/^fleet_session=[A-Za-z0-9_-]{43};/);
    for (const flag of ['Path=/', 'Max-Age=43200', 'HttpOnly', 'Secure', 'SameSite=Strict']) expect(cookie.split('; ')).toContain(flag);
    expect(r.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(r.headers['content-security-policy']).toContain("script-src 'self'");
    expect(r.headers).toMatchObject({ 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cross-origin-opener-policy': 'same-origin', 'cross-origin-resource-policy': 'same-origin', 'cache-control': 'no-store' });
    // Only the headers fleet always sent: none of helmet's others.
    expect(r.headers['strict-transport-security']).toBeUndefined();
    expect(r.headers['x-dns-prefetch-control']).toBeUndefined();

    const me = await app.inject({ url: '/api/v1/session', headers: { cookie: cookie.split(';')[0]! } });
    expect(me.statusCode).toBe(200);
    expect(json(me.body).csrf).toBe(json(r.body).csrf);
  });

  it('asks state-changing requests for the CSRF token and the same origin, then signs out', async () => {
    const { cookie, csrf } = await signIn();
    const logout = (headers: Record<string, string>) => app.inject({ method: 'DELETE', url: '/api/v1/session', headers: { host: 'fleet.example:8443', cookie, ...headers } });
    const bare = await logout({});
    expect([bare.statusCode, json(bare.body).code]).toEqual([403, 'CSRF']);
    const wrong = await logout({ 'x-csrf-token': `${csrf}x` });
    expect([wrong.statusCode, json(wrong.body).code]).toEqual([403, 'CSRF']);
    const foreign = await logout({ 'x-csrf-token': csrf, origin: 'https://evil.example' });
    expect([foreign.statusCode, json(foreign.body).code]).toEqual([403, 'CROSS_ORIGIN']);
    const ok = await logout({ 'x-csrf-token': csrf, origin: ORIGIN });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(String(ok.headers['set-cookie'])).toMatch(/^fleet_session=; Max-Age=0;/);
    const after = await app.inject({ url: '/api/v1/session', headers: { cookie } });
    expect([after.statusCode, json(after.body).code]).toEqual([401, 'NOT_SIGNED_IN']);
  });

  it('reads only a JSON body of at most 16 KiB at sign-in', async () => {
    const plain = await login({ token }, { 'content-type': 'text/plain' });
    expect([plain.statusCode, json(plain.body).error]).toEqual([400, 'send the body as application/json']);
    const broken = await login('{"token":');
    expect([broken.statusCode, json(broken.body).code]).toEqual([400, 'BAD_REQUEST_BODY']);
    const big = await login({ token: 'x'.repeat(17 * 1024) });
    expect([big.statusCode, json(big.body).code]).toEqual([413, 'BODY_TOO_LARGE']);
    expect(big.headers.connection).toBe('close');
  });

  it('answers wrong methods, unknown paths and malformed escapes as before', async () => {
    const { cookie, csrf } = await signIn();
    const putSession = await app.inject({ method: 'PUT', url: '/api/v1/session', headers: { cookie, 'x-csrf-token': csrf } });
    expect([putSession.statusCode, json(putSession.body).code, putSession.headers.allow]).toEqual([405, 'METHOD_NOT_ALLOWED', 'GET, POST, DELETE']);
    const nodes = await app.inject({ url: '/api/v1/nodes', headers: { cookie } });
    // Protobuf JSON leaves defaults out: no nodes is an empty object.
    expect([nodes.statusCode, nodes.body]).toEqual([200, '{}']);
    const unknown = await app.inject({ url: '/api/v1/nope', headers: { cookie } });
    expect([unknown.statusCode, json(unknown.body).code]).toEqual([404, 'ROUTE_NOT_FOUND']);
    const old = await app.inject({ url: '/api/nodes', headers: { cookie } });
    expect([old.statusCode, json(old.body).code]).toEqual([404, 'ROUTE_NOT_FOUND']);
    const anonymous = await app.inject({ url: '/api/v1/nodes' });
    expect([anonymous.statusCode, json(anonymous.body).code]).toEqual([401, 'NOT_AUTHENTICATED']);
    const noSession = await app.inject({ url: '/api/v1/session' });
    expect([noSession.statusCode, json(noSession.body).code]).toEqual([401, 'NOT_SIGNED_IN']);
    const shell = await app.inject({ url: '/api/v1/shell', headers: { cookie } });
    expect([shell.statusCode, json(shell.body).code]).toEqual([400, 'INVALID_REQUEST']);
    const shellAnonymous = await app.inject({ url: '/api/v1/shell' });
    expect([shellAnonymous.statusCode, json(shellAnonymous.body).code]).toEqual([401, 'NOT_SIGNED_IN']);
    const empty = await app.inject({ url: '/api/v1/nodes/', headers: { cookie } });
    expect([empty.statusCode, json(empty.body).code]).toEqual([404, 'ROUTE_NOT_FOUND']);
    const escape = await app.inject({ url: '/api/v1/nodes/%zz', headers: { cookie } });
    expect([escape.statusCode, json(escape.body).code]).toEqual([400, 'INVALID_REQUEST']);

    const script = await app.inject({ url: '/install.sh', headers: { host: 'fleet.example:8443' } });
    expect([script.statusCode, script.headers['content-type'], script.body]).toEqual([200, 'text/x-shellscript; charset=utf-8', 'echo https://fleet.example:8443 7443\n']);
    const ca = await app.inject({ method: 'HEAD', url: '/ca.crt' });
    expect([ca.statusCode, ca.body, Number(ca.headers['content-length'])]).toEqual([200, '', Buffer.byteLength((await app.inject({ url: '/ca.crt' })).body)]);
    const post = await app.inject({ method: 'POST', url: '/install.sh', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a=1' });
    expect([post.statusCode, post.body]).toEqual([405, 'only GET\n']);
    const page = await app.inject({ method: 'DELETE', url: '/' });
    expect([page.statusCode, page.headers.allow]).toEqual([405, 'GET, HEAD']);
    const missing = await app.inject({ url: '/agent/0.1.0/linux-x64' });
    expect([missing.statusCode, missing.body]).toEqual([404, 'no agent 0.1.0 for linux-x64\n']);
    const nothing = await app.inject({ url: '/nothing' });
    expect([nothing.statusCode, nothing.body]).toEqual([404, 'not found\n']);
  });

  it('holds back an address after the failures its sign-in limiter allows, but never a valid token', async () => {
    const wrong = `fa1_000000000000_${'0'.repeat(40)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await login({ token: wrong })).statusCode);
    expect(statuses).toEqual([401, 401, 401, 429]);
    const held = await login({ token: wrong });
    expect([held.statusCode, json(held.body).code]).toEqual([429, 'TOO_MANY_SIGN_INS']);
    expect(Number(held.headers['retry-after'])).toBeGreaterThan(0);
    expect((await login({ token })).statusCode).toBe(200);
  });
});
