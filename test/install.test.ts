// Journey 1: `curl … /install.sh | sh -s -- --token T` on a fresh host (a network namespace with an
// install root the test owns) brings the node online; a re-run changes nothing; the uninstall
// script removes every file the installer wrote. Needs root and the standalone agent build.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, waitFor } from './harness';
import { TestHost } from './netns';

const REPO = fileURLToPath(new URL('..', import.meta.url));

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('curl | sh installer', () => {
  let host: TestHost;
  let fleet: Fleet;
  const root = mkdtempSync(join(tmpdir(), 'fleet-install-root-'));

  beforeAll(async () => {
    host = TestHost.create();
    fleet = new Fleet({ host: host.peerIp });
    await fleet.startServer();
  });
  afterAll(async () => {
    host?.destroy();
    await fleet?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const curlSh = (args: string) => `curl -fsSL -k --pinnedpubkey '${fleet.installPin}' ${fleet.installUrl}/install.sh | sh -s -- ${args}`;

  it('installs and enrolls: the node is online; a second run changes nothing; uninstall removes every file', async () => {
    const token = await fleet.token(['--label', 'role=web']);
    const first = await host.run(curlSh(`--token ${token} --root ${root} --init none --name fresh-1`));
    expect(first.code, first.output).toBe(0);
    await fleet.waitOnline(['fresh-1']);
    const node = (await fleet.nodes()).find((n) => n.name === 'fresh-1')!;
    expect(node.labels).toEqual({ role: 'web' });

    const files = filesUnder(root);
    expect(files).toEqual(expect.arrayContaining(['opt/fleet/bin/fleet-agent', 'opt/fleet/bin/fleet-agent-launch', 'opt/fleet/bin/fleet-agent-uninstall.sh', 'etc/fleet/agent.env']));
    expect(statSync(join(root, 'etc/fleet/agent.env')).mode & 0o777).toBe(0o600);
    // The installed executable is the server's build, byte for byte.
    expect(readFileSync(join(root, 'opt/fleet/bin/fleet-agent')).equals(readFileSync(join(REPO, 'dist/fleet-agent-linux-x64')))).toBe(true);
    const pidFile = files.find((f) => f.endsWith('fleet-agent.pid'))!;
    const pid = readFileSync(join(root, pidFile), 'utf8').trim();

    // The uninstaller the installer generated is as clean as the installer.
    expect(execFileSync('shellcheck', ['-s', 'sh', join(root, 'opt/fleet/bin/fleet-agent-uninstall.sh')]).toString()).toBe('');

    const before = filesUnder(root).filter((f) => !f.startsWith('var/'));
    const second = await host.run(curlSh(`--token ${token} --root ${root} --init none --name fresh-1`));
    expect(second.code, second.output).toBe(0);
    expect(second.output).toMatch(/nothing changed/);
    // Not restarted, and no file added or removed outside the agent's own state and logs.
    expect(readFileSync(join(root, pidFile), 'utf8').trim()).toBe(pid);
    expect(filesUnder(root).filter((f) => !f.startsWith('var/'))).toEqual(before);

    const uninstall = await host.run(join(root, 'opt/fleet/bin/fleet-agent-uninstall.sh'));
    expect(uninstall.code, uninstall.output).toBe(0);
    expect(filesUnder(root)).toEqual([]);
    // The node told the server it is leaving: not listed any more (rather than offline forever).
    expect(uninstall.output).toMatch(/^fresh-1 left the fleet/m);
    expect((await fleet.nodes()).map((n) => n.name)).not.toContain('fresh-1');
  });

  it('uninstalling through the agent itself (fleet exec) hands over to a background process and completes', async () => {
    const token = await fleet.token();
    const install = await host.run(curlSh(`--token ${token} --root ${root} --init none --name fresh-2`));
    expect(install.code, install.output).toBe(0);
    await fleet.waitOnline(['fresh-2']);
    const job = await fleet.cli(['exec', 'fresh-2', '--', join(root, 'opt/fleet/bin/fleet-agent-uninstall.sh')]);
    expect(job.code, job.stdout + job.stderr).toBe(0);
    expect(job.stdout).toMatch(/^fresh-2: fleet uninstall: started by the agent; the uninstall continues in the background/m);
    const log = join(root, 'var/log/fleet-agent-uninstall.log');
    await waitFor('the uninstall to finish', () => existsSync(log) && /fleet-agent is uninstalled/.test(readFileSync(log, 'utf8')), 60_000);
    expect(readFileSync(log, 'utf8')).toMatch(/^fresh-2 left the fleet/m);
    // Only the uninstall's own log is left.
    expect(filesUnder(root)).toEqual(['var/log/fleet-agent-uninstall.log']);
    expect((await fleet.nodes()).map((n) => n.name)).not.toContain('fresh-2');
    rmSync(join(root, 'var'), { recursive: true, force: true });
  });

  it('prints an install line and a login line that work, exactly as printed, from another machine', async () => {
    const banner = fleet.server.output;
    const install = /^install an agent: (curl .* --token TOKEN)$/m.exec(banner)?.[1];
    const login = /^ {2}(fleet login --server \S+ --token \S+ --ca-hash \S+)$/m.exec(banner)?.[1];
    expect(install, banner).toBeDefined();
    expect(login, banner).toBeDefined();
    const scratch = mkdtempSync(join(tmpdir(), 'fleet-install-printed-'));
    try {
      // The test host runs as root and has neither sudo nor the fleet CLI on its PATH: stand-ins
      // that run the real thing, so the lines run as printed.
      const bin = join(scratch, 'bin');
      mkdirSync(bin);
      writeFileSync(join(bin, 'sudo'), '#!/bin/sh\nexec "$@"\n', { mode: 0o755 });
      writeFileSync(join(bin, 'fleet'), `#!/bin/sh\nexec ${process.execPath} ${join(REPO, 'dist/fleet.js')} "$@"\n`, { mode: 0o755 });
      const env = { PATH: `${bin}:${process.env.PATH}`, FLEET_CONFIG: join(scratch, 'cli.json') };

      const token = await fleet.token();
      const installed = await host.run(`${install!.replace('TOKEN', token)} --root ${join(scratch, 'root')} --init none --name printed-1`, { env });
      // `curl … | sh` exits 0 when curl fails (sh reads nothing): curl must not complain.
      expect(installed.output).not.toMatch(/curl: \(\d+\)/);
      expect(installed.code, installed.output).toBe(0);
      await fleet.waitOnline(['printed-1']);
      const loggedIn = await host.run(login!, { env });
      expect(loggedIn.code, loggedIn.output).toBe(0);
      await host.run(join(scratch, 'root/opt/fleet/bin/fleet-agent-uninstall.sh'));
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('refuses clearly: not root, http, wrong URL, bad pin, malformed token, refused token', async () => {
    const token = await fleet.token();
    const scratch = mkdtempSync(join(tmpdir(), 'fleet-install-bad-'));
    try {
      const script = join(scratch, 'install.sh');
      execFileSync('curl', ['-fsSL', '-k', '--pinnedpubkey', fleet.installPin, '-o', script, `${fleet.installUrl}/install.sh`]);
      // The script arrives on stdin, as with curl | sh.
      const run = (args: string, as = '') => host.run(`${as}sh -s -- ${args} --root ${scratch}/root --init none < ${script}`);

      const notRoot = await run(`--token ${token}`, 'setpriv --reuid=65534 --regid=65534 --clear-groups ');
      expect(notRoot.code).not.toBe(0);
      expect(notRoot.output).toMatch(/root/);

      const http = await run(`--token ${token} --url http://${fleet.host}:${fleet.httpsPort}`);
      expect(http.code).not.toBe(0);
      expect(http.output).toMatch(/https/);

      const wrongUrl = await run(`--token ${token} --url https://${fleet.host}:1`);
      expect(wrongUrl.code).not.toBe(0);
      expect(wrongUrl.output).toMatch(/reach|connect/i);

      const badPin = await run(`--token ${token} --ca-pin sha256:${'0'.repeat(64)}`);
      expect(badPin.code).not.toBe(0);
      expect(badPin.output).toMatch(/does not match the pin/);

      const malformed = await run('--token not-a-token');
      expect(malformed.code).not.toBe(0);
      expect(malformed.output).toMatch(/join token/);

      const forged = `fj1_${'a'.repeat(12)}_${'b'.repeat(40)}_${fleet.caHash}`;
      const refused = await run(`--token ${forged}`);
      expect(refused.code).not.toBe(0);
      expect(refused.output).toMatch(/not known to this server/);
      // Nothing is left running after a refusal.
      expect(refused.output).not.toMatch(/started/i);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
