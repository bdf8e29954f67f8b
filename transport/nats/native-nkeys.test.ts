import { createAccount, createUser, fmtCreds } from '@nats-io/jwt';
import { credsAuthenticator as natsJsCredsAuthenticator } from 'nats';
import { describe, expect, it } from 'vitest';
import { InvalidNatsOptionError } from './errors';
import { credsAuthenticator, nativeSigner } from './native-nkeys';

describe('native nkeys', () => {
  it('signs exactly what the nkeys library signs (Ed25519 is deterministic)', () => {
    const kp = createAccount();
    const data = new TextEncoder().encode('fleet.v1 claims');
    const fast = nativeSigner(kp);
    expect(Buffer.from(fast.sign(data))).toEqual(Buffer.from(kp.sign(data)));
    expect(fast.getPublicKey()).toBe(kp.getPublicKey());
    expect(fast.getPrivateKey()).toEqual(kp.getPrivateKey());
  });

  it('answers a broker nonce exactly as nats.js credsAuthenticator does', () => {
    const user = createUser();
    const creds = new TextDecoder().decode(fmtCreds('eyJhbGciOi.e30.sig', user));
    const ours = credsAuthenticator(creds)('nonce-1234');
    const theirs = natsJsCredsAuthenticator(new TextEncoder().encode(creds))('nonce-1234');
    expect(ours).toEqual(theirs);
  });

  it('refuses text that is not a creds file', () => {
    expect(() => credsAuthenticator('not creds')).toThrow(InvalidNatsOptionError);
    expect(() => credsAuthenticator('-----BEGIN X-----\njwt\n------END X------\n-----BEGIN S-----\nSUBAD\n------END S------\n')).toThrow(/no valid nkey seed/);
  });
});
