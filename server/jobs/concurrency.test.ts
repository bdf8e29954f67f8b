import { describe, expect, it } from 'vitest';
import { concurrencyLimit } from './concurrency';
import { InvalidRequestError } from '../errors';

describe('concurrencyLimit', () => {
  it('takes counts as they are and percentages of the target, at least one', () => {
    expect(concurrencyLimit('', 10)).toBe(Number.POSITIVE_INFINITY);
    expect(concurrencyLimit('3', 10)).toBe(3);
    expect(concurrencyLimit('25%', 10)).toBe(2);
    expect(concurrencyLimit('10%', 3)).toBe(1);
    expect(concurrencyLimit('100%', 7)).toBe(7);
  });
  it('refuses zero, negative, fractional and over-100% values', () => {
    for (const bad of ['0', '-1', '1.5', '0%', '101%', 'ten', '5 %']) expect(() => concurrencyLimit(bad, 10), bad).toThrow(InvalidRequestError);
  });
});
