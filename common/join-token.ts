// Token formats. A join token carries the CA fingerprint (like kubeadm's discovery hash) so a fresh
// agent can authenticate the server without trusting on first use:
//   fj1_<id: 12 hex>_<secret: 40 hex>_<sha256 of the CA certificate: 64 hex>
// An API token (for the CLI and web) is fa1_<id>_<secret>. Only a hash of each secret is stored.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { MalformedJoinTokenError } from './errors';

export interface JoinToken {
  id: string;
  secret: string;
  /** Lower-case hex SHA-256 of the CA certificate's DER bytes. */
  caHash: string;
}

const JOIN = /^fj1_([0-9a-f]{12})_([0-9a-f]{40})_([0-9a-f]{64})$/;
const API = /^fa1_([0-9a-f]{12})_([0-9a-f]{40})$/;

/** Parses a join token; throws MalformedJoinTokenError for anything else. */
export function parseJoinToken(text: string): JoinToken {
  const m = JOIN.exec(text.trim());
  if (!m) throw new MalformedJoinTokenError();
  return { id: m[1]!, secret: m[2]!, caHash: m[3]! };
}

/** Formats a join token. */
export function formatJoinToken(t: JoinToken): string {
  return `fj1_${t.id}_${t.secret}_${t.caHash}`;
}

/** Parses an API token into id and secret, or returns null. */
export function parseApiToken(text: string): { id: string; secret: string } | null {
  const m = API.exec(text.trim());
  return m ? { id: m[1]!, secret: m[2]! } : null;
}

/** Makes a fresh random id and secret for a token. */
export function newTokenSecret(): { id: string; secret: string } {
  return { id: randomBytes(6).toString('hex'), secret: randomBytes(20).toString('hex') };
}

/** Formats an API token. */
export function formatApiToken(id: string, secret: string): string {
  return `fa1_${id}_${secret}`;
}

/** SHA-256 of a token secret, hex; what the server stores. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
