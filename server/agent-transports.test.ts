import { Server } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { GrpcServerAgentTransport, NatsServerAgentTransport } from '../transport';
import { SERVER_TRANSPORTS, createServerTransports, type ServerTransportContext } from './agent-transports';
import { defaultOptions } from './config';
import { loadOrCreatePki } from './pki';

describe('server transports', () => {
  const dir = mkdtempSync(join(tmpdir(), 'server-transports-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const context = async (): Promise<ServerTransportContext & { asked: number }> => {
    const ctx = {
      grpcServer: new Server(),
      caPem: (await loadOrCreatePki(dir, [])).caPem,
      asked: 0,
      natsCredentials: async () => {
        ctx.asked++;
        return 'creds';
      },
      log: pino({ level: 'silent' }),
    };
    return ctx;
  };

  it('serves gRPC only by default, without asking for NATS credentials', async () => {
    const ctx = await context();
    const transports = await createServerTransports(defaultOptions(), ctx);
    expect(transports.map((t) => t.name)).toEqual(['grpc']);
    expect(transports[0]).toBeInstanceOf(GrpcServerAgentTransport);
    expect(ctx.asked).toBe(0);
  });

  it('serves NATS beside gRPC when brokers are configured (FLEET_NATS, --nats)', async () => {
    const ctx = await context();
    const transports = await createServerTransports({ ...defaultOptions(), nats: { servers: ['nats://127.0.0.1:4222'] } }, ctx);
    expect(transports.map((t) => t.name)).toEqual(['grpc', 'nats']);
    expect(transports[1]).toBeInstanceOf(NatsServerAgentTransport);
    expect(ctx.asked).toBe(1);
  });

  it('registers each transport under the name it reports', async () => {
    expect(SERVER_TRANSPORTS.names).toEqual(['grpc', 'nats']);
    const ctx = await context();
    const options = { ...defaultOptions(), nats: { servers: ['nats://127.0.0.1:4222'] } };
    for (const [name, factory] of SERVER_TRANSPORTS.entries()) expect((await factory.create(options, ctx))?.name).toBe(name);
  });
});
