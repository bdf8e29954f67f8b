// Short random ids with a type prefix: n-… for nodes, j-… for jobs.
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** A prefixed random id, e.g. newId('j') → "j-4f8k2m9x3q". */
export function newId(prefix: string, length = 10): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += ALPHABET[b & 31];
  return `${prefix}-${out}`;
}
