// A stray "{{" in a profile's userData or args is reported on its own line, one line per problem
// (found by bench/fuzz: the check swallowed every line up to a later "}}" into the message).
import { describe, expect, it } from 'vitest';
import { SpecError } from '../../common/errors';
import { loadPxeConfig } from './config';

const config = (userData: string) =>
  ['profiles:', '  - name: p', '    kernel: /pxe/discovery/vmlinuz', '    userData: |', ...userData.split('\n').map((l) => `      ${l}`), ''].join('\n');

describe('PXE config template variables', () => {
  it('keeps every problem on one FILE:LINE:COL line when a "{{" is never closed on its line', () => {
    let err: unknown;
    try {
      loadPxeConfig(config('runcmd: ["{{ install_cloud-config\nruncmd: ["{{ install_comand }}"]'), 'pxe.yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SpecError);
    const lines = (err as SpecError).message.split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^pxe\.yaml:4:15: profiles\[0\]\.userData: unknown template variable \{\{ install_comand \}\}/);
  });

  it('still accepts the known variables', () => {
    expect(loadPxeConfig(config('runcmd: ["{{ install_command }}", "{{machine.name}}"]'), 'pxe.yaml').profiles[0]!.name).toBe('p');
  });

  it("checks the discovery image's args like a profile's, and refuses keys it does not know there", () => {
    expect(loadPxeConfig('discovery:\n  args: console=ttyS1,115200n8 fleet.name={{ machine.name }}\n', 'pxe.yaml').discovery?.args).toBe('console=ttyS1,115200n8 fleet.name={{ machine.name }}');
    expect(() => loadPxeConfig('discovery:\n  args: console=ttyS1 {{ nope }}\n', 'pxe.yaml')).toThrow(/^pxe\.yaml:2:9: discovery\.args: unknown template variable \{\{ nope \}\}/);
    expect(() => loadPxeConfig('discovery:\n  kernel: /k\n', 'pxe.yaml')).toThrow(/discovery\.kernel: unknown field "kernel"/);
  });
});
