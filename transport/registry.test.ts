import { describe, expect, it } from 'vitest';
import { UnknownTransportError } from './errors';
import { TransportRegistry } from './registry';

describe('TransportRegistry', () => {
  const registry = new TransportRegistry({ grpc: 'g', nats: 'n' });

  it('finds a factory by name and lists the names in registration order', () => {
    expect(registry.get('nats')).toBe('n');
    expect(registry.names).toEqual(['grpc', 'nats']);
    expect(registry.entries()).toEqual([['grpc', 'g'], ['nats', 'n']]);
  });

  it('refuses an unknown name with an error that lists the known ones', () => {
    let error: unknown;
    try {
      registry.get('quic');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UnknownTransportError);
    expect(error).toMatchObject({ code: 'UNKNOWN_TRANSPORT', transport: 'quic', known: ['grpc', 'nats'] });
    expect((error as Error).message).toBe('unknown agent transport "quic" (known: grpc, nats)');
  });

  it('does not take an inherited property for a registered name', () => {
    expect(() => registry.get('toString')).toThrow(UnknownTransportError);
  });
});
