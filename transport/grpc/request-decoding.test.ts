// A request whose bytes are not its protobuf type, or that has a text field over its limit, is
// answered INVALID_ARGUMENT naming the method (not grpc-js's INTERNAL, not the handler's answer
// echoing the value), on unary and streaming calls, and the handler never sees it; valid requests
// are untouched. Real grpc-js server and client on loopback, bytes sent as-is.
import { Client, Metadata, Server, ServerCredentials, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlServiceService, ListNodesRequest, ShellClientFrame } from '../../proto/gen/fleet/v1/control';
import { malformedRequestInterceptor, tolerantDecoding } from './request-decoding';

const identity = (b: Buffer) => b;
// A length-delimited field 1 that claims 100 bytes and carries 1: not decodable.
const GARBAGE = Buffer.from([0x0a, 0x64, 0x41]);

describe('malformed gRPC requests', () => {
  const server = new Server({ interceptors: [malformedRequestInterceptor] });
  let client: Client;
  const seen: unknown[] = [];

  beforeAll(async () => {
    server.addService(tolerantDecoding(ControlServiceService), {
      listNodes: (call: { request: unknown }, cb: (e: null, r: object) => void) => {
        seen.push(call.request);
        cb(null, { nodes: [] });
      },
      shell: (call: NodeJS.EventEmitter & { end(): void }) => {
        call.on('data', (m) => seen.push(m));
        call.on('end', () => call.end());
      },
    });
    const port = await new Promise<number>((ok, fail) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))));
    client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  afterAll(() => {
    client?.close();
    server.forceShutdown();
  });

  const unary = (bytes: Buffer) =>
    new Promise<{ code: number; details: string }>((ok) =>
      client.makeUnaryRequest('/fleet.v1.ControlService/ListNodes', identity, identity, bytes, new Metadata(), (err: ServiceError | null) => ok(err ? { code: err.code, details: err.details } : { code: status.OK, details: '' })),
    );

  it('answers undecodable unary requests INVALID_ARGUMENT, naming the method, without calling the handler', async () => {
    seen.length = 0;
    const r = await unary(GARBAGE);
    expect(r.code).toBe(status.INVALID_ARGUMENT);
    expect(r.details).toMatch(/^malformed request to \/fleet\.v1\.ControlService\/ListNodes: /);
    expect(seen).toEqual([]);
    const wrongWireType = await unary(Buffer.from([0x0f, 0x01]));
    expect(wrongWireType.code).toBe(status.INVALID_ARGUMENT);
  });

  it('passes valid requests through unchanged', async () => {
    seen.length = 0;
    const r = await unary(Buffer.from(ListNodesRequest.encode({ selector: 'role=web' }).finish()));
    expect(r.code).toBe(status.OK);
    expect(seen).toEqual([{ selector: 'role=web' }]);
  });

  it('answers a text field over its limit INVALID_ARGUMENT, naming the field and the limit, without calling the handler', async () => {
    seen.length = 0;
    const r = await unary(Buffer.from(ListNodesRequest.encode({ selector: 's'.repeat(1 << 20) }).finish()));
    expect(r).toEqual({ code: status.INVALID_ARGUMENT, details: 'ListNodes: selector is 1048576 characters long; the limit is 4096 (see "Limits" in docs/protocol.md)' });
    expect(seen).toEqual([]);
    const stream = client.makeBidiStreamRequest('/fleet.v1.ControlService/Shell', identity, identity, new Metadata());
    stream.on('data', () => {});
    stream.on('error', () => {});
    const done = new Promise<{ code: number; details: string }>((ok) => stream.on('status', ok));
    stream.write(Buffer.from(ShellClientFrame.encode({ body: { $case: 'start', value: { node: 'n'.repeat(300), size: undefined, argv: [], pty: false, term: '' } } }).finish()));
    stream.end();
    expect(await done).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^Shell: start\.node is 300 characters long; the limit is 253 /) });
    expect(seen).toEqual([]);
  });

  it('ends a stream with INVALID_ARGUMENT at its first undecodable frame', async () => {
    seen.length = 0;
    const stream = client.makeBidiStreamRequest('/fleet.v1.ControlService/Shell', identity, identity, new Metadata());
    stream.on('data', () => {});
    stream.on('error', () => {});
    const done = new Promise<{ code: number; details: string }>((ok) => stream.on('status', ok));
    stream.write(GARBAGE);
    stream.end();
    const s = await done;
    expect(s.code).toBe(status.INVALID_ARGUMENT);
    expect(s.details).toMatch(/ControlService\/Shell/);
    expect(seen).toEqual([]);
  });
});
