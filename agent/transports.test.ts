import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { GrpcAgentTransport, InvalidNatsOptionError, NatsAgentTransport, TransportRegistry, UnknownTransportError, type AgentTransport } from '../transport';
import { InvalidOptionError } from './errors';
import { AgentState, type AgentIdentity } from './state';
import { AGENT_TRANSPORTS, createAgentTransport, linkOptionsFromFlags, type AgentTransportFactory } from './transports';

describe('agent transports', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agent-transports-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const log = pino({ level: 'silent' });
  // Links are only made, never opened here: no key material is read.
  const identity = (): AgentIdentity => ({
    nodeId: 'n-0123456789ab',
    nodeName: 'web-1',
    server: '127.0.0.1:7443',
    keyPem: '',
    certPem: '',
    caPem: '',
    commandSigningKey: Buffer.alloc(0),
  });
  const state = (name: string) => {
    const s = new AgentState(join(dir, name));
    s.ensure();
    return s;
  };

  it('reads the transport from the flags: gRPC unless --nats names brokers', () => {
    expect(linkOptionsFromFlags({})).toEqual({ transport: 'grpc' });
    expect(linkOptionsFromFlags({ nats: 'nats://a:4222,nats://b:4222' })).toEqual({ transport: 'nats', natsServers: ['nats://a:4222', 'nats://b:4222'] });
    expect(() => linkOptionsFromFlags({ nats: 'http://a:4222' })).toThrow(InvalidNatsOptionError);
  });

  it('makes a gRPC link by default and a NATS link with --nats, both by registered name', async () => {
    expect(AGENT_TRANSPORTS.names).toEqual(['grpc', 'nats']);
    const id = identity();
    const grpc = createAgentTransport({ transport: 'grpc' }, { state: state('grpc'), log })(id);
    expect(grpc).toBeInstanceOf(GrpcAgentTransport);
    grpc.close();
    const withCreds = state('nats');
    withCreds.saveNatsCredentials('creds');
    const nats = createAgentTransport({ transport: 'nats', natsServers: ['nats://127.0.0.1:4222'] }, { state: withCreds, log })(id);
    expect(nats).toBeInstanceOf(NatsAgentTransport);
    await nats.close();
  });

  it('refuses an unknown transport, naming the known ones', () => {
    expect(() => createAgentTransport({ transport: 'quic' }, { state: state('quic'), log })).toThrow(new UnknownTransportError('quic', ['grpc', 'nats']));
  });

  it('refuses NATS without brokers or without NATS credentials, before any link is made', () => {
    expect(() => createAgentTransport({ transport: 'nats' }, { state: state('no-brokers'), log })).toThrow(InvalidOptionError);
    expect(() => createAgentTransport({ transport: 'nats', natsServers: ['nats://127.0.0.1:4222'] }, { state: state('no-creds'), log })).toThrow(/has no NATS credentials/);
  });

  it('takes a new transport by registration alone', async () => {
    const made: string[] = [];
    const loopback: AgentTransportFactory = {
      prepare: () => (id) => {
        made.push(id.nodeName);
        return {} as AgentTransport;
      },
    };
    const registry = new TransportRegistry({ ...Object.fromEntries(AGENT_TRANSPORTS.entries()), loopback });
    createAgentTransport({ transport: 'loopback' }, { state: state('loopback'), log }, registry)(identity());
    expect(made).toEqual(['web-1']);
  });
});
