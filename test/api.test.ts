// The HTTP API (/api/v1) against a real server and real agents: the same requests over gRPC and
// over HTTPS, as admin, operator, viewer and an operator limited to env=dev, must get the same
// answers, the same refusals and the same audit rows (one service layer behind both); curl with
// a bearer token does a whole exec; the page's cookie needs its CSRF token to change anything,
// a bearer token needs none; the OpenAPI document is served.
import { Client, Metadata, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as control from '../proto/gen/fleet/v1/control';
import { Fleet } from './harness';

interface Codec<T = unknown> {
  encode(message: T): { finish(): Uint8Array };
  decode(bytes: Uint8Array): T;
  fromJSON(object: unknown): T;
  fromPartial(object: unknown): T;
  toJSON(message: T): unknown;
}
const codec = (name: string) => (control as unknown as Record<string, Codec>)[name]!;
const identity = (b: Buffer) => b;

/** What either adapter answered: a message (as the contract's object) or a refusal. */
type Outcome = { ok: true; message: unknown } | { ok: false; kind: string; code: string; error: string };

/** HTTP status ↔ gRPC status, by the kind of failure. */
const KIND_BY_HTTP: Record<number, string> = { 400: 'invalid', 401: 'unauthenticated', 403: 'forbidden', 404: 'not-found', 409: 'conflict', 429: 'exhausted', 503: 'unavailable' };
const KIND_BY_GRPC: Record<number, string> = {
  [status.INVALID_ARGUMENT]: 'invalid',
  [status.UNAUTHENTICATED]: 'unauthenticated',
  [status.PERMISSION_DENIED]: 'forbidden',
  [status.NOT_FOUND]: 'not-found',
  [status.FAILED_PRECONDITION]: 'conflict',
  [status.RESOURCE_EXHAUSTED]: 'exhausted',
  [status.UNAVAILABLE]: 'unavailable',
};

interface AuditRow {
  actor: string;
  action: string;
  target: string;
  ok: boolean;
  detail: string;
}

describe('the HTTP API', () => {
  const fleet = new Fleet();
  let caPem = '';
  const tokens: Record<string, string> = {};

  /** One HTTPS request to the API port (the fleet CA is trusted, the name is not checked: 127.0.0.1). */
  const http = (method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
    new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
      const req = request(`${fleet.installUrl}${path}`, { method, ca: caPem, checkServerIdentity: () => undefined, headers }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });

  async function overHttp(token: string, method: string, path: string, answer: string, body?: unknown): Promise<Outcome> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const r = await http(method, `/api/v1${path}`, headers, body === undefined ? undefined : JSON.stringify(body));
    const json = JSON.parse(r.body) as { error?: string; code?: string };
    if (r.status === 200) return { ok: true, message: codec(answer).fromJSON(json) };
    return { ok: false, kind: KIND_BY_HTTP[r.status] ?? String(r.status), code: json.code!, error: json.error! };
  }

  async function overGrpc(token: string, method: string, requestType: string, answer: string, req: unknown): Promise<Outcome> {
    const client = new Client(`127.0.0.1:${fleet.port}`, credentials.createSsl(Buffer.from(caPem)));
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    try {
      return await new Promise<Outcome>((resolve) =>
        client.makeUnaryRequest(`/fleet.v1.ControlService/${method}`, identity, identity, Buffer.from(codec(requestType).encode(codec(requestType).fromPartial(req)).finish()), metadata, (err: ServiceError | null, value?: Buffer) =>
          resolve(err ? { ok: false, kind: KIND_BY_GRPC[err.code] ?? String(err.code), code: String(err.metadata?.get('fleet-error-code')[0] ?? ''), error: err.details } : { ok: true, message: codec(answer).decode(value!) }),
        ),
      );
    } finally {
      client.close();
    }
  }

  /** The audit rows written since `since`, oldest first (ListAudit as the admin: reading is not audited). */
  const auditSince = async (since: number): Promise<AuditRow[]> => {
    const answer = await overGrpc(tokens.admin!, 'ListAudit', 'ListAuditRequest', 'ListAuditResponse', { limit: 1000, sinceUnixMs: since });
    if (!answer.ok) throw new Error(`ListAudit: ${answer.error}`);
    return (answer.message as { entries: AuditRow[] }).entries.map(({ actor, action, target, ok, detail }) => ({ actor, action, target, ok, detail })).reverse();
  };

  beforeAll(async () => {
    await fleet.startServer();
    caPem = readFileSync(join(fleet.dataDir, 'pki', 'ca.crt'), 'utf8');
    const join_ = await fleet.token(['--uses', '2']);
    fleet.startAgent('dev-1', join_, ['--label', 'env=dev']);
    fleet.startAgent('prod-1', join_, ['--label', 'env=prod']);
    await fleet.waitOnline(['dev-1', 'prod-1']);
    tokens.admin = fleet.adminToken;
    for (const [role, args] of [['operator', ['--role', 'operator']], ['viewer', ['--role', 'viewer']], ['dev-operator', ['--role', 'operator', '--scope', 'env=dev']]] as const) {
      const r = await fleet.cli(['users', 'create', ...args, '-d', role]);
      expect(r.code, r.stderr).toBe(0);
      tokens[role] = r.stdout.trim();
    }
  });
  afterAll(() => fleet.stop());

  /** The same request both ways: gRPC method, its request, and the HTTP route that mirrors it. */
  const CASES: { method: string; request: string; answer: string; grpc: unknown; http: [string, string, unknown?] }[] = [
    { method: 'WhoAmI', request: 'WhoAmIRequest', answer: 'WhoAmIResponse', grpc: {}, http: ['GET', '/whoami'] },
    { method: 'ListNodes', request: 'ListNodesRequest', answer: 'ListNodesResponse', grpc: { selector: 'env' }, http: ['GET', '/nodes?selector=env'] },
    { method: 'GetNode', request: 'GetNodeRequest', answer: 'Node', grpc: { node: 'prod-1' }, http: ['GET', '/nodes/prod-1'] },
    { method: 'GetNode', request: 'GetNodeRequest', answer: 'Node', grpc: { node: 'no-such-node' }, http: ['GET', '/nodes/no-such-node'] },
    { method: 'GetNodeState', request: 'GetNodeRequest', answer: 'NodeState', grpc: { node: 'prod-1' }, http: ['GET', '/nodes/prod-1/state'] },
    { method: 'ListHealth', request: 'ListNodesRequest', answer: 'ListHealthResponse', grpc: { selector: '' }, http: ['GET', '/health'] },
    { method: 'LabelNode', request: 'LabelNodeRequest', answer: 'Node', grpc: { node: 'dev-1', set: { tier: 'a' }, remove: [] }, http: ['POST', '/nodes/dev-1/labels', { set: { tier: 'a' } }] },
    { method: 'LabelNode', request: 'LabelNodeRequest', answer: 'Node', grpc: { node: 'dev-1', set: { env: 'prod' }, remove: [] }, http: ['POST', '/nodes/dev-1/labels', { set: { env: 'prod' } }] },
    { method: 'ListJobs', request: 'ListJobsRequest', answer: 'ListJobsResponse', grpc: { limit: 20 }, http: ['GET', '/jobs?limit=20'] },
    { method: 'StartJob', request: 'StartJobRequest', answer: 'Job', grpc: { nodes: ['prod-1'], argv: ['true'] }, http: ['POST', '/jobs', { nodes: ['prod-1'], argv: ['true'] }] },
    { method: 'ListSessions', request: 'ListSessionsRequest', answer: 'ListSessionsResponse', grpc: { limit: 20 }, http: ['GET', '/sessions'] },
    { method: 'ListJoinTokens', request: 'ListJoinTokensRequest', answer: 'ListJoinTokensResponse', grpc: {}, http: ['GET', '/join-tokens'] },
    { method: 'ListMachines', request: 'ListMachinesRequest', answer: 'ListMachinesResponse', grpc: {}, http: ['GET', '/machines'] },
    { method: 'GetPxeConfig', request: 'GetPxeConfigRequest', answer: 'PxeConfig', grpc: {}, http: ['GET', '/pxe/config'] },
    { method: 'ListRollouts', request: 'ListRolloutsRequest', answer: 'ListRolloutsResponse', grpc: { limit: 20 }, http: ['GET', '/rollouts'] },
    { method: 'ListHistory', request: 'ListHistoryRequest', answer: 'ListHistoryResponse', grpc: { node: 'prod-1', limit: 1000 }, http: ['GET', '/history?node=prod-1'] },
  ];

  /** Job answers differ in what each started job is: its id and times. */
  const comparable = (o: Outcome): Outcome => {
    if (!o.ok) return o;
    return JSON.parse(JSON.stringify(o.message, (k, v: unknown) => (['id', 'createdUnixMs', 'lastSeenUnixMs', 'finishedUnixMs', 'startedUnixMs', 'dispatchedUnixMs'].includes(k) ? 0 : v))) as Outcome;
  };

  for (const role of ['admin', 'operator', 'viewer', 'dev-operator']) {
    it(`answers, refuses and audits the same over gRPC and HTTP as ${role}`, async () => {
      for (const c of CASES) {
        const what = `${c.method} ${JSON.stringify(c.grpc)} as ${role}`;
        const before = Date.now() - 1;
        const viaGrpc = await overGrpc(tokens[role]!, c.method, c.request, c.answer, c.grpc);
        const grpcRows = await auditSince(before);
        // The gRPC call's rows are older than this (the audit log keeps milliseconds).
        await new Promise((r) => setTimeout(r, 5));
        const middle = Date.now();
        const viaHttp = await overHttp(tokens[role]!, c.http[0], c.http[1], c.answer, c.http[2]);
        const httpRows = await auditSince(middle);
        expect({ what, answer: comparable(viaHttp) }).toEqual({ what, answer: comparable(viaGrpc) });
        // A job started is audited with its own id: compare the rest.
        const rows = (list: AuditRow[]) => list.map((r) => ({ ...r, target: r.target.replace(/j-\w+/g, 'j-…'), detail: r.detail.replace(/j-\w+/g, 'j-…') }));
        expect({ what, audit: rows(httpRows) }).toEqual({ what, audit: rows(grpcRows) });
      }
    });
  }

  it('refuses a bad token, a misspelled field and an oversized one alike on both', async () => {
    const bad = 'fa1_000000000000_0000000000000000000000000000000000000000';
    expect(await overHttp(bad, 'GET', '/nodes', 'ListNodesResponse')).toEqual(await overGrpc(bad, 'ListNodes', 'ListNodesRequest', 'ListNodesResponse', {}));
    const long = 'x'.repeat(300);
    expect(await overHttp(tokens.admin!, 'GET', `/nodes/${long}`, 'Node')).toEqual(await overGrpc(tokens.admin!, 'GetNode', 'GetNodeRequest', 'Node', { node: long }));
    const misspelled = await overHttp(tokens.admin!, 'POST', '/jobs', 'Job', { argvv: ['true'], all: true });
    expect(misspelled).toMatchObject({ ok: false, kind: 'invalid', code: 'INVALID_REQUEST' });
    expect((misspelled as { error: string }).error).toMatch(/argvv/);
  });

  it('lets curl with a bearer token run a whole exec: start it, stream its output, read the summary', async () => {
    // The server's certificate names 127.0.0.1; curl checks it against the fleet CA.
    const curl = (args: string[]) => promisify(execFile)('curl', ['-sS', '--fail-with-body', '--cacert', join(fleet.dataDir, 'pki', 'ca.crt'), '-H', `Authorization: Bearer ${tokens.operator}`, ...args]);
    const url = (path: string) => `https://127.0.0.1:${fleet.httpsPort}/api/v1${path}`;
    const started = JSON.parse((await curl(['-H', 'content-type: application/json', '-d', JSON.stringify({ selector: 'env', shell: 'echo hello from $(hostname -s 2>/dev/null || echo it); exit 3' }), url('/jobs')])).stdout) as { id: string };
    expect(started.id).toMatch(/^j-/);
    const stream = (await curl(['-N', url(`/jobs/${started.id}/events`)])).stdout;
    const events = stream
      .split('\n\n')
      .filter((block) => block.startsWith('event: message'))
      .map((block) => JSON.parse(block.slice(block.indexOf('data: ') + 6)) as Record<string, { nodeName?: string; data?: string; runs?: { nodeName: string; exitCode: number; state: string }[] }>);
    const output = events.filter((e) => e.output).map((e) => `${e.output!.nodeName}: ${Buffer.from(e.output!.data!, 'base64').toString()}`);
    expect(output.sort()).toEqual([expect.stringMatching(/^dev-1: hello from /), expect.stringMatching(/^prod-1: hello from /)]);
    const done = events.at(-1)!.done!;
    expect(done.runs!.map((r) => [r.nodeName, r.exitCode, r.state]).sort()).toEqual([
      ['dev-1', 3, 'RUN_STATE_FAILED'],
      ['prod-1', 3, 'RUN_STATE_FAILED'],
    ]);
  });

  it("sends at most max_output_per_node bytes of each node's output, and refuses a bad limit", async () => {
    const curl = (args: string[]) => promisify(execFile)('curl', ['-sS', '--cacert', join(fleet.dataDir, 'pki', 'ca.crt'), '-H', `Authorization: Bearer ${tokens.operator}`, ...args], { maxBuffer: 64 << 20 });
    const url = (path: string) => `https://127.0.0.1:${fleet.httpsPort}/api/v1${path}`;
    // 300,000 bytes from each node, in several chunks.
    const started = JSON.parse((await curl(['-H', 'content-type: application/json', '-d', JSON.stringify({ selector: 'env', shell: 'head -c 300000 /dev/zero | tr "\\0" x' }), url('/jobs')])).stdout) as { id: string };
    const bytesPerNode = async (query: string) => {
      const stream = (await curl(['-N', url(`/jobs/${started.id}/events${query}`)])).stdout;
      const sum = new Map<string, number>();
      for (const block of stream.split('\n\n').filter((b) => b.startsWith('event: message'))) {
        const e = JSON.parse(block.slice(block.indexOf('data: ') + 6)) as { output?: { nodeName: string; data: string } };
        if (e.output) sum.set(e.output.nodeName, (sum.get(e.output.nodeName) ?? 0) + Buffer.from(e.output.data, 'base64').length);
      }
      return Object.fromEntries([...sum].sort());
    };
    expect(await bytesPerNode('')).toEqual({ 'dev-1': 300_000, 'prod-1': 300_000 });
    expect(await bytesPerNode('?max_output_per_node=100000')).toEqual({ 'dev-1': 100_000, 'prod-1': 100_000 });
    const bad = await curl(['-w', '\n%{http_code}', url(`/jobs/${started.id}/events?max_output_per_node=-1`)]);
    expect(bad.stdout).toMatch(/max_output_per_node[\s\S]*\n400$/);
  });

  it('streams an agent upgrade, asked for with a POST body, to its summary', async () => {
    const body = JSON.stringify({ version: '0.1.0', all: true });
    const r = await http('POST', '/api/v1/agents/upgrade', { authorization: `Bearer ${tokens.admin}`, 'content-type': 'application/json' }, body);
    expect(r.status, r.body).toBe(200);
    expect(String(r.headers['content-type'])).toMatch(/^text\/event-stream/);
    const events = r.body
      .split('\n\n')
      .filter((block) => block.startsWith('event: message'))
      .map((block) => JSON.parse(block.slice(block.indexOf('data: ') + 6)) as Record<string, unknown>);
    // The plan, each node's outcome (both already run this version), then the summary.
    expect(events.map((e) => Object.keys(e)[0])).toEqual(['plan', 'node', 'node', 'done']);
    expect(events.at(-1)).toMatchObject({ done: { current: 2 } });
  });

  it('needs the CSRF token with the page cookie, never with a bearer token', async () => {
    const login = await http('POST', '/api/v1/session', { 'content-type': 'application/json', origin: fleet.installUrl }, JSON.stringify({ token: tokens.operator }));
    expect(login.status, login.body).toBe(200);
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    const csrf = (JSON.parse(login.body) as { csrf: string }).csrf;
    const label = JSON.stringify({ set: { csrf: 'checked' } });
    const json = { 'content-type': 'application/json', origin: fleet.installUrl };
    // A read with the cookie alone is fine; a change without the CSRF token is refused and changes nothing.
    expect((await http('GET', '/api/v1/nodes', { cookie })).status).toBe(200);
    const refused = await http('POST', '/api/v1/nodes/dev-1/labels', { ...json, cookie }, label);
    expect(refused.status).toBe(403);
    expect((await fleet.nodes()).find((n) => n.name === 'dev-1')!.labels.csrf).toBeUndefined();
    expect((await http('POST', '/api/v1/nodes/dev-1/labels', { ...json, cookie, 'x-csrf-token': csrf }, label)).status).toBe(200);
    // A bearer token needs no CSRF token (a script holds it; no browser sends it by itself).
    expect((await http('POST', '/api/v1/nodes/dev-1/labels', { 'content-type': 'application/json', authorization: `Bearer ${tokens.operator}` }, JSON.stringify({ remove: ['csrf'] }))).status).toBe(200);
    expect((await fleet.nodes()).find((n) => n.name === 'dev-1')!.labels.csrf).toBeUndefined();
  });

  it('serves its OpenAPI document', async () => {
    const r = await http('GET', '/api/v1/openapi.json');
    expect(r.status).toBe(200);
    const doc = JSON.parse(r.body) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/api/v1/jobs/{id}/events');
  });
});
