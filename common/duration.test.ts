import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration';
import { InvalidDurationError } from './errors';

describe('parseDuration', () => {
  it('parses single and compound units', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('0')).toBe(0);
  });
  it('rejects numbers without units and garbage', () => {
    for (const bad of ['30', '', 's', '10 m', '1x', '-5s']) expect(() => parseDuration(bad), bad).toThrow(InvalidDurationError);
  });
});

describe('formatDuration', () => {
  it('is compact at every scale', () => {
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(2400)).toBe('2.40s');
    expect(formatDuration(185_000)).toBe('3m05s');
    expect(formatDuration(7_200_000)).toBe('2h00m');
  });
});
