import { describe, expect, it } from 'vitest';
import { InvalidLabelError, InvalidSelectorError } from './errors';
import { parseLabelAssignments, parseSelector } from './labels';

describe('parseSelector', () => {
  const web = { role: 'web', env: 'prod', zone: 'a' };
  const dev = { role: 'web', env: 'dev' };
  const db = { role: 'db', zone: 'c', legacy: '' };

  it('matches equality and inequality like kubectl (absent keys satisfy !=)', () => {
    const s = parseSelector('role=web,env!=dev');
    expect([web, dev, db].map((l) => s.matches(l))).toEqual([true, false, false]);
    expect(parseSelector('env!=prod').matches(db)).toBe(true);
    expect(parseSelector('role==db').matches(db)).toBe(true);
  });

  it('handles set membership, existence and commas inside parentheses', () => {
    expect(parseSelector('zone in (a,b)').matches(web)).toBe(true);
    expect(parseSelector('zone in (a, b)').matches(db)).toBe(false);
    expect(parseSelector('zone notin (a,b)').matches(db)).toBe(true);
    expect(parseSelector('zone notin (a,b)').matches(dev)).toBe(true);
    expect(parseSelector('legacy').matches(db)).toBe(true);
    expect(parseSelector('!legacy,role in (web,db)').matches(web)).toBe(true);
    expect(parseSelector('!legacy').matches(db)).toBe(false);
  });

  it('treats an empty selector as matching everything', () => {
    expect(parseSelector('  ').empty).toBe(true);
    expect(parseSelector('').matches(db)).toBe(true);
  });

  it('rejects malformed selectors with a clear error', () => {
    for (const bad of ['role=web,', 'zone in ()', 'role=we b', '=web', 'a=b=c', 'zone in (a,b', '-x=1']) {
      expect(() => parseSelector(bad), bad).toThrow(InvalidSelectorError);
    }
    expect(() => parseSelector('role=web,')).toThrow(/empty requirement/);
  });
});

describe('parseLabelAssignments', () => {
  it('parses k=v pairs including prefixed keys and empty values', () => {
    expect(parseLabelAssignments(['role=web', 'example.com/tier=', 'zone=eu-1'])).toEqual({
      role: 'web',
      'example.com/tier': '',
      zone: 'eu-1',
    });
  });
  it('rejects pairs without = and bad characters', () => {
    expect(() => parseLabelAssignments(['role'])).toThrow(InvalidLabelError);
    expect(() => parseLabelAssignments(['role=a b'])).toThrow(InvalidLabelError);
  });
});

describe('Selector.implies', () => {
  const implies = (a: string, b: string) => parseSelector(a).implies(parseSelector(b));
  it('holds when the first selector is at least as narrow', () => {
    expect(implies('env=dev', 'env=dev')).toBe(true);
    expect(implies('role=web,env=dev', 'env=dev')).toBe(true);
    expect(implies('env in (dev)', 'env in (dev,test)')).toBe(true);
    expect(implies('env=dev', 'env')).toBe(true);
    expect(implies('env=dev', 'env!=prod')).toBe(true);
    expect(implies('env notin (prod,stage)', 'env!=prod')).toBe(true);
    expect(implies('!env', 'env notin (prod)')).toBe(true);
    expect(implies('anything=1', '')).toBe(true);
  });
  it('fails when the first selector reaches nodes the second does not', () => {
    expect(implies('role=web', 'env=dev')).toBe(false);
    expect(implies('', 'env=dev')).toBe(false);
    expect(implies('env in (dev,prod)', 'env=dev')).toBe(false);
    expect(implies('env', 'env=dev')).toBe(false);
    expect(implies('env!=prod', 'env=dev')).toBe(false);
    expect(implies('env!=stage', 'env!=prod')).toBe(false);
    expect(implies('env=prod', 'env!=prod')).toBe(false);
    expect(implies('!env', 'env')).toBe(false);
  });
});
