import { describe, expect, it } from 'vitest';
import { normalizeMac, usableSerial, usableUuid } from './identities';

describe('hardware identities', () => {
  it('normalises MACs as iPXE, agents and operators write them', () => {
    expect(normalizeMac('52-54-00-AA-00-05')).toBe('52:54:00:aa:00:05');
    expect(normalizeMac(' 52:54:00:aa:00:05 ')).toBe('52:54:00:aa:00:05');
    expect(normalizeMac('52:54:00:aa:00')).toBe('');
  });

  it('keeps real UUIDs (lower case) and drops placeholders and what is not a UUID', () => {
    expect(usableUuid('4C4C4544-0042-3510-8057-B4C04F564433')).toBe('4c4c4544-0042-3510-8057-b4c04f564433');
    for (const bad of ['', '00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', '03000200-0400-0500-0006-000700080009', 'not-a-uuid', '${uuid}']) {
      expect(usableUuid(bad), bad).toBe('');
    }
  });

  it('keeps real serials (trimmed) and drops placeholders, blanks and unprintable text', () => {
    expect(usableSerial('  CZ1234ABC ')).toBe('CZ1234ABC');
    expect(usableSerial('VMware-56 4d 2b')).toBe('VMware-56 4d 2b');
    for (const bad of ['', '   ', 'To Be Filled By O.E.M.', 'TO BE FILLED BY O.E.M', 'Default string', 'System Serial Number', 'Not Specified', 'None', '0', '0000000000', '0123456789', 'XXXXXXXX', 'a\u0000b', 'x'.repeat(129)]) {
      expect(usableSerial(bad), bad).toBe('');
    }
  });
});
