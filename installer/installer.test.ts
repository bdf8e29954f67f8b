// The shell parts of the installer pass shellcheck, and install.sh embeds the launcher unchanged.
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dir = fileURLToPath(new URL('.', import.meta.url));

describe('installer scripts', () => {
  it('are clean under shellcheck (POSIX sh)', () => {
    const r = spawnSync('shellcheck', ['-s', 'sh', 'install.sh', 'fleet-agent-launch', 'check-embedded.sh'], { cwd: dir, encoding: 'utf8' });
    expect(r.error, 'shellcheck must be installed (npm test installs it)').toBeUndefined();
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('embed the launcher exactly as installer/fleet-agent-launch has it', () => {
    expect(() => execFileSync('sh', ['check-embedded.sh'], { cwd: dir, stdio: 'pipe' })).not.toThrow();
  });
});
