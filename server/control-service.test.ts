// The Control service's Shell stream answers a client that half-closes before any start frame
// (found by bench/fuzz: the call was left open forever). A real grpc-js server and client on
// loopback; nothing past the start frame is reached, so the other collaborators are not needed.
import { Client, Metadata, Server, ServerCredentials, credentials, status } from '@grpc/grpc-js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlServiceService, ShellClientFrame } from '../proto/gen/fleet/v1/control';
import { createControlService, type ControlDeps } from './control-service';

const identity = (b: Buffer) => b;

describe('Control Shell stream', () => {
  const server = new Server();
  let client: Client;

  beforeAll(async () => {
    server.addService(ControlServiceService, createControlService({ log: pino({ level: 'silent' }) } as ControlDeps));
    const port = await new Promise<number>((ok, fail) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))));
    client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  afterAll(() => {
    client?.close();
    server.forceShutdown();
  });

  const shell = (frames: Buffer[]) =>
    new Promise<{ code: number; details: string }>((ok) => {
      const stream = client.makeBidiStreamRequest('/fleet.v1.ControlService/Shell', identity, identity, new Metadata(), { deadline: Date.now() + 10_000 });
      stream.on('data', () => {});
      stream.on('error', () => {});
      stream.on('status', ok);
      for (const f of frames) stream.write(f);
      stream.end();
    });

  it('answers a stream that ends before its start frame with INVALID_ARGUMENT', async () => {
    const empty = Buffer.from(ShellClientFrame.encode({ body: undefined }).finish());
    for (const frames of [[], [empty], [empty, empty]]) {
      const s = await shell(frames);
      expect(s.code).toBe(status.INVALID_ARGUMENT);
      expect(s.details).toBe('the shell stream ended before its start frame');
    }
  });

  it('still says what is wrong when the first frame is not start', async () => {
    const s = await shell([Buffer.from(ShellClientFrame.encode({ body: { $case: 'eof', value: true } }).finish())]);
    expect(s.code).toBe(status.INVALID_ARGUMENT);
    expect(s.details).toBe('the first frame of a shell must be start');
  });
});
