import { describe, expect, it } from 'vitest';
import type { Machine } from '../proto/gen/fleet/v1/control';
import { UsageError } from './errors';
import { machineRef, parseMac, parseUuid, profileText, reportedText, stateLine } from './machine-view';

const machine = (m: Partial<Machine>): Machine => ({
  id: 'm-1',
  name: 'web-3',
  mac: '52:54:00:12:34:56',
  uuid: '',
  serial: '',
  profile: '',
  labels: {},
  state: 'registered',
  nodeId: '',
  bootProfile: '',
  bootProfileFrom: '',
  createdUnixMs: 1,
  lastBootUnixMs: 0,
  lastBootAddress: '',
  reported: undefined,
  approvedBy: 'admin',
  ...m,
});

describe('machine addresses', () => {
  it('accepts MACs with colons or hyphens in either case and sends them lower-case with colons', () => {
    expect(parseMac('52:54:00:12:34:56')).toBe('52:54:00:12:34:56');
    expect(parseMac('52-54-00-12-34-56')).toBe('52:54:00:12:34:56');
    expect(parseMac('52:54:00:AB:CD:EF')).toBe('52:54:00:ab:cd:ef');
  });

  it('refuses what is not a MAC, with a usage error that shows the expected form', () => {
    for (const bad of ['52:54:00:12:34', '52:54:00:12:34:56:78', '52:54-00:12:34:56', '525400123456', 'zz:54:00:12:34:56', '']) {
      expect(() => parseMac(bad)).toThrow(UsageError);
    }
    expect(() => parseMac('nope')).toThrow(/invalid MAC address "nope" \(expected six hex pairs, e\.g\. 52:54:00:12:34:56/);
  });

  it('checks UUIDs and lower-cases them; a MAC given as MACHINE is normalised, a name is left alone', () => {
    expect(parseUuid('4C4C4544-0042-3510-8057-B4C04F564433')).toBe('4c4c4544-0042-3510-8057-b4c04f564433');
    expect(() => parseUuid('4c4c4544')).toThrow(UsageError);
    expect(machineRef('52-54-00-AB-CD-EF')).toBe('52:54:00:ab:cd:ef');
    expect(machineRef('web-3')).toBe('web-3');
  });
});

describe('machine lines', () => {
  it('says which profile a machine boots and where it comes from', () => {
    expect(profileText(machine({ bootProfile: 'debian12', bootProfileFrom: 'group rack-a-web' }))).toBe('debian12 (from group rack-a-web)');
    expect(profileText(machine({ bootProfile: 'discovery', bootProfileFrom: 'discovery (pending approval)' }))).toBe('discovery (pending approval)');
    expect(profileText(machine({}))).toBe('-');
  });

  it('describes each state in one line', () => {
    expect(stateLine(machine({ state: 'approved', bootProfile: 'debian12', bootProfileFrom: 'group rack-a', labels: { role: 'web', env: 'lab' } }))).toBe(
      'machine web-3 approved: profile debian12 (from group rack-a), labels env=lab,role=web',
    );
    expect(stateLine(machine({ state: 'approved' }))).toMatch(/^machine web-3 approved, but no profile applies to it yet: add a matching or default group/);
    expect(stateLine(machine({ state: 'rejected' }))).toBe('machine web-3 rejected; it is offered no profile when it network-boots');
    expect(stateLine(machine({ state: 'provisioned', nodeId: 'n-9' }))).toMatch(/^machine web-3 provisioned as node n-9; it boots from its disk/);
  });

  it('shows what a pending machine reported from the discovery image', () => {
    expect(reportedText(machine({ reported: { hostname: 'discovery-525400123456', macs: ['52:54:00:12:34:56', '52:54:00:12:34:57'], dmiUuid: '', serial: 'S1' } }))).toBe(
      'discovery-525400123456 (52:54:00:12:34:56,52:54:00:12:34:57; serial S1)',
    );
    expect(reportedText(machine({}))).toBe('-');
  });
});
