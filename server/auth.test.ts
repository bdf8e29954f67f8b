import { describe, expect, it } from 'vitest';
import { ApiAuth, peerAddress } from './auth';
import { NotAuthenticatedError, TooManySignInsError } from './errors';
import { MemorySignInLimits } from './sign-in-limiter';
import { Role, openSqliteStores } from './store';

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

describe('ApiAuth sign-in limit', () => {
  it('holds back wrong tokens from an address past its limit, but never refuses a valid one from it', async () => {
    const auth = new ApiAuth(openSqliteStores(':memory:').tokens, new MemorySignInLimits({ max: 3 }));
    const valid = (await auth.createToken(Role.Viewer, 'ci')).token;
    const wrong = valid.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
    const attempt = async (token: string) => {
      try {
        return await auth.check(token, '10.0.0.1');
      } catch (err) {
        return err;
      }
    };
    for (let i = 0; i < 3; i++) expect(await attempt(wrong)).toBeInstanceOf(NotAuthenticatedError);
    expect(await attempt(wrong)).toBeInstanceOf(TooManySignInsError);
    expect(await attempt(valid)).toMatchObject({ role: Role.Viewer, description: 'ci' });
    expect(await attempt(wrong)).toBeInstanceOf(TooManySignInsError);
    // No token at all is not a guess, and another address is not held back.
    expect(await attempt('')).toBeInstanceOf(NotAuthenticatedError);
    expect(await auth.check(valid, '10.0.0.2')).toMatchObject({ role: Role.Viewer });
  });
});
