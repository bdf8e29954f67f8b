import { describe, expect, it } from 'vitest';
import { SpecError } from '../../common/errors';
import { loadPxeConfig } from './config';
import { approvingRule, chooseProfile } from './matching';

const config = loadPxeConfig(
  `profiles:
  - { name: base, kernel: /pxe/files/k }
  - { name: web, kernel: /pxe/files/k }
  - { name: rack, kernel: /pxe/files/k }
  - { name: one, kernel: /pxe/files/k }
  - { name: zeta, kernel: /pxe/files/k }
groups:
  - { name: everything, default: true, profile: base }
  - { name: web-rack-a, profile: web, match: { labels: "role=web,rack=a" } }
  - { name: rack-a, profile: rack, match: { labels: "rack=a" } }
  - { name: by-mac, profile: one, match: { macs: ["52-54-00-AA-BB-CC"] } }
  - { name: z-tie, profile: zeta, match: { labels: "rack=b" } }
  - { name: a-tie, profile: rack, match: { labels: "rack=b" } }
rules:
  - { name: lab, match: "mac=52:54:00:*", max: 2, profile: base }
  - { name: named, match: "hostname=db-*,serial=SN*", max: 1 }
`,
  'pxe.yaml',
);
const machine = (labels: Record<string, string>, mac: string | null = null, profile = '') => ({ mac, uuid: null, serial: null, labels, profile });

describe('PXE group matching', () => {
  it('picks the most specific group: identity over labels, more requirements over fewer, default last', () => {
    expect(chooseProfile(machine({ role: 'web', rack: 'a' }, '52:54:00:aa:bb:cc'), config)).toMatchObject({ profile: 'one', from: 'group by-mac' });
    expect(chooseProfile(machine({ role: 'web', rack: 'a' }), config)).toMatchObject({ profile: 'web', from: 'group web-rack-a' });
    expect(chooseProfile(machine({ rack: 'a' }), config)).toMatchObject({ profile: 'rack', from: 'group rack-a' });
    expect(chooseProfile(machine({ rack: 'c' }), config)).toMatchObject({ profile: 'base', from: 'default group everything' });
  });

  it('breaks ties by group name, whatever the order in the file', () => {
    expect(chooseProfile(machine({ rack: 'b' }), config)).toMatchObject({ profile: 'rack', from: 'group a-tie' });
  });

  it("lets a machine's own profile win", () => {
    expect(chooseProfile(machine({ rack: 'a' }, '52:54:00:aa:bb:cc', 'zeta'), config)).toEqual({ profile: 'zeta', from: 'machine' });
  });

  it('refuses two default groups, unknown profiles and duplicate names, with lines', () => {
    const bad = `profiles:
  - { name: base, kernel: /k }
groups:
  - { name: a, default: true, profile: base }
  - { name: b, default: true, profile: base }
  - { name: a, profile: nope, match: { labels: "x=y" } }
`;
    let error: SpecError | undefined;
    try {
      loadPxeConfig(bad, 'pxe.yaml');
    } catch (err) {
      error = err as SpecError;
    }
    expect(error).toBeInstanceOf(SpecError);
    expect(error!.message).toContain('pxe.yaml:5:');
    expect(error!.message).toMatch(/groups\[1\]\.default: more than one default group/);
    expect(error!.message).toMatch(/groups\[2\]\.name: duplicate name "a"/);
    expect(error!.message).toMatch(/groups\[2\]\.profile: no profile named "nope"/);
  });

  it('refuses template variables a boot cannot fill', () => {
    expect(() => loadPxeConfig('profiles:\n  - { name: p, kernel: /k, args: "host={{ machine.hostname }} role={{ labels.role }}" }\n', 'pxe.yaml')).toThrow(
      /pxe\.yaml:2:\d+: profiles\[0\]\.args: unknown template variable \{\{ machine\.hostname \}\}/,
    );
  });
});

describe('approval rules', () => {
  it('match globs on every field given, in order, until their count is used up', () => {
    const m = { mac: '52:54:00:12:34:56', uuid: '', serial: '', hostname: 'x' };
    expect(approvingRule(config, m, () => 0)?.name).toBe('lab');
    expect(approvingRule(config, m, () => 2)).toBeUndefined();
    expect(approvingRule(config, { mac: 'aa:bb:cc:dd:ee:ff', uuid: '', serial: 'SN42', hostname: 'db-1' }, () => 0)?.name).toBe('named');
    expect(approvingRule(config, { mac: 'aa:bb:cc:dd:ee:ff', uuid: '', serial: '', hostname: 'db-1' }, () => 0)).toBeUndefined();
  });
});
