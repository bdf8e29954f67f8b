// A spec's fingerprint: lets the server tell an unchanged spec (re-applied, reformatted, keys
// reordered) from a changed one, and so decide whether `fleet apply` makes a new revision.
import { createHash } from 'node:crypto';
import type { Spec } from './schema';

/**
 * The sha256 (64 lower-case hex digits) of the spec's canonical JSON: object keys sorted, absent
 * optional fields left out, list order kept (it is the order resources are applied in). Two specs
 * with the same digest mean the same thing; YAML comments, quoting, layout and key order do not
 * count, and neither does writing a default out versus leaving it implied (`loadSpec` fills defaults).
 *
 * @example
 * if (specDigest(loaded) === stored.digest) return stored.revision; // nothing changed
 */
export function specDigest(spec: Spec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}

/** JSON with object keys in sorted order at every level and undefined members dropped. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
