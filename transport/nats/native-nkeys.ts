// nkey signing with Node's native Ed25519. The nkeys library (tweetnacl) derives the key from the
// seed in JavaScript on every signature, about 10 ms of CPU each: negligible for one agent, but
// most of the cost when a server signs thousands of user JWTs or an emulator connects thousands
// of agents to a broker.
import { fromSeed, type KeyPair } from '@nats-io/jwt';
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import type { Authenticator } from 'nats';
import { InvalidNatsOptionError } from './errors';

/** PKCS#8 DER of an Ed25519 private key, up to the 32-byte seed. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function privateKeyOf(kp: KeyPair): KeyObject {
  const seed = (kp as unknown as { getRawSeed(): Uint8Array }).getRawSeed();
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** The same key pair, signing natively, with its public and private key computed once. */
export function nativeSigner(kp: KeyPair): KeyPair {
  const key = privateKeyOf(kp);
  const publicKey = kp.getPublicKey();
  const privateKey = kp.getPrivateKey();
  const fast = Object.create(kp) as KeyPair;
  fast.getPublicKey = () => publicKey;
  fast.getPrivateKey = () => privateKey;
  fast.sign = (input: Uint8Array) => new Uint8Array(sign(null, input, key));
  return fast;
}

/**
 * What nats.js's credsAuthenticator does (a user JWT, and the nonce signed with the user's nkey),
 * with the key decoded once and the nonce signed natively.
 * @throws InvalidNatsOptionError when `creds` is not a creds file (JWT + seed blocks)
 */
export function credsAuthenticator(creds: string): Authenticator {
  const blocks = [...creds.matchAll(/-{3,}[^\n]*-{3,}\n\s*(\S+)\s*\n\s*-{3,}[^\n]*-{3,}/g)].map((m) => m[1]!);
  if (blocks.length < 2) throw new InvalidNatsOptionError('the NATS credentials are not a creds file (a JWT and an nkey seed)');
  const [jwt, seed] = blocks as [string, string];
  let kp: KeyPair;
  try {
    kp = fromSeed(new TextEncoder().encode(seed));
  } catch (err) {
    throw new InvalidNatsOptionError(`the NATS credentials hold no valid nkey seed: ${(err as Error).message}`);
  }
  const key = privateKeyOf(kp);
  const nkey = kp.getPublicKey();
  return (nonce?: string) => ({ jwt, nkey, sig: nonce ? sign(null, Buffer.from(nonce), key).toString('base64') : '' });
}
