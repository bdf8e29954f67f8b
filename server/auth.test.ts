import { describe, expect, it } from 'vitest';
import { peerAddress } from './auth';

describe('peerAddress', () => {
  it('takes the address out of the forms grpc-js reports peers in', () => {
    expect(peerAddress('ipv4:10.1.2.3:5555')).toBe('10.1.2.3');
    expect(peerAddress('10.1.2.3:5555')).toBe('10.1.2.3');
    expect(peerAddress('ipv6:[::1]:5555')).toBe('::1');
    expect(peerAddress('[fe80::1]:443')).toBe('fe80::1');
    expect(peerAddress('unix:/run/fleet.sock')).toBe('unix:/run/fleet.sock');
    expect(peerAddress('')).toBe('');
  });
});
