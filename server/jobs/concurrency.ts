// Parses --max-concurrency: "N" nodes at a time or "N%" of the targeted nodes.
import { quote } from '../../common/format';
import { InvalidRequestError } from '../errors';

/**
 * How many runs may be in flight at once for a job of `total` nodes.
 * "" means no limit; "N%" is floor(total × N / 100), at least 1.
 * @example concurrencyLimit('25%', 10) === 2
 */
export function concurrencyLimit(spec: string, total: number): number {
  const text = spec.trim();
  if (text === '') return Number.POSITIVE_INFINITY;
  const m = /^(\d+)(%?)$/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  if (!m || n < 1 || (m[2] === '%' && n > 100)) {
    throw new InvalidRequestError(`invalid max concurrency ${quote(spec)}: use a whole number of nodes (e.g. 5) or a percentage from 1% to 100%`);
  }
  return m[2] === '%' ? Math.max(1, Math.floor((total * n) / 100)) : n;
}
