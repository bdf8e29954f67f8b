// Seed: `fleet bootstrap ssh` installs an agent on a running machine through a real OpenSSH
// server (Debian's sshd) in a network namespace, and waits until it is online.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, type Proc } from './harness';
import { TestHost } from './netns';

describe('fleet bootstrap ssh', () => {
  let host: TestHost;
  let fleet: Fleet;
  let sshd: Proc;
  const dir = mkdtempSync(join(tmpdir(), 'fleet-bootstrap-'));
  const root = join(dir, 'root');

  beforeAll(async () => {
    host = TestHost.create();
    fleet = new Fleet({ host: host.peerIp });
    await fleet.startServer();
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'client_key')]);
    execFileSync('cp', [join(dir, 'client_key.pub'), join(dir, 'authorized_keys')]);
    mkdirSync('/run/sshd', { recursive: true });
    writeFileSync(
      join(dir, 'sshd_config'),
      [
        `ListenAddress ${host.ip}:2222`,
        `HostKey ${join(dir, 'host_key')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'PidFile none',
        // This "fresh host" installs under a root the test owns, with no init system.
        `SetEnv INSTALL_FLEET_ROOT=${root} INSTALL_FLEET_INIT=none`,
      ].join('\n') + '\n',
    );
    sshd = host.spawn(`exec /usr/sbin/sshd -D -e -f ${join(dir, 'sshd_config')}`);
    await sshd.waitForOutput(/Server listening on/);
  });

  afterAll(async () => {
    if (host) await host.run(`${join(root, 'opt/fleet/bin/fleet-agent-uninstall.sh')} || true`);
    await sshd?.kill('SIGKILL');
    host?.destroy();
    await fleet?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('installs over ssh with a one-use token and waits until the node is online', async () => {
    const r = await fleet.cli([
      'bootstrap', 'ssh', `root@${host.ip}`,
      '--port', '2222',
      '--identity', join(dir, 'client_key'),
      '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`,
      '--server-host', host.peerIp,
      '--name', 'seeded-1',
      '--label', 'role=db',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^seeded-1 \(n-\w+\) is online$/m);
    const node = (await fleet.nodes()).find((n) => n.name === 'seeded-1');
    expect(node).toMatchObject({ online: true, labels: { role: 'db' } });
    // The token it made was for one use only.
    const tokens = await fleet.json<{ description: string; used: number; maxUses: number }[]>(['tokens', 'list']);
    expect(tokens.find((t) => t.description.startsWith('bootstrap ssh'))).toMatchObject({ used: 1, maxUses: 1 });
  });

  it('fails clearly when ssh cannot get in, and revokes the token it made', async () => {
    const r = await fleet.cli(['bootstrap', 'ssh', `root@${host.ip}`, '--port', '2222', '-o', `UserKnownHostsFile=${join(dir, 'known_hosts')}`, '-o', 'IdentitiesOnly=yes', '--identity', '/dev/null', '--timeout', '20s']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failed \(ssh exit status 255\); the join token was revoked/);
  });
});
