// Self-upgrade that never strands a node: a good build is taken and reported; a broken build is
// rolled back by the agent's launcher on its own, the node stays online, and commands accepted
// before or sent during the upgrade still complete. Needs root and the standalone agent build.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, Proc, waitFor } from './harness';
import { TestHost } from './netns';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BASE = (JSON.parse(execFileSync('cat', [join(REPO, 'package.json')]).toString()) as { version: string }).version;
const GOOD = `${BASE}-upgrade.1`;
const BROKEN = `${BASE}-broken.1`;

describe('agent self-upgrade', () => {
  let host: TestHost;
  let fleet: Fleet;
  const scratch = mkdtempSync(join(tmpdir(), 'fleet-upgrade-'));
  const root = join(scratch, 'root');

  beforeAll(async () => {
    // A second, good build with another version, and a "build" that cannot even start.
    execFileSync(process.execPath, [join(REPO, 'scripts/build-agent.mjs')], {
      env: { ...process.env, FLEET_BUILD_VERSION: GOOD, OUT: join(scratch, 'good'), FLEET_BUILD_COMPRESS: 'gzip' },
      stdio: 'pipe',
    });
    host = TestHost.create();
    fleet = new Fleet({ host: host.peerIp });
    const releases = join(fleet.dataDir, 'releases');
    mkdirSync(join(releases, GOOD), { recursive: true });
    copyFileSync(join(scratch, 'good/fleet-agent-linux-x64'), join(releases, GOOD, 'fleet-agent-linux-x64'));
    mkdirSync(join(releases, BROKEN), { recursive: true });
    writeFileSync(join(releases, BROKEN, 'fleet-agent-linux-x64'), '#!/bin/sh\necho "this build is broken" >&2\nexit 3\n');
    chmodSync(join(releases, BROKEN, 'fleet-agent-linux-x64'), 0o755);
    await fleet.startServer();
    const token = await fleet.token();
    const install = await host.run(`curl -fsSL -k --pinnedpubkey '${fleet.installPin}' ${fleet.installUrl}/install.sh | sh -s -- --token ${token} --root ${root} --init none --name up-1`);
    expect(install.code, install.output).toBe(0);
    await fleet.waitOnline(['up-1']);
  }, 240_000);

  afterAll(async () => {
    if (host) await host.run(`${join(root, 'opt/fleet/bin/fleet-agent-uninstall.sh')} || true`);
    host?.destroy();
    await fleet?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  const version = async () => (await fleet.json<{ name: string; agentVersion: string; online: boolean }[]>(['nodes'])).find((n) => n.name === 'up-1')!;

  it('upgrades to a good build and reports the new version', async () => {
    expect((await version()).agentVersion).toBe(BASE);
    const r = await fleet.cli(['agents', 'upgrade', 'up-1', '--version', GOOD, '--deadline', '30s']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`up-1: upgraded \\(now ${GOOD.replaceAll('.', '\\.')}\\)`));
    expect(await version()).toMatchObject({ agentVersion: GOOD, online: true });
    const wide = await fleet.cli(['nodes', '-o', 'wide']);
    expect(wide.stdout).toMatch(new RegExp(`up-1\\s+online\\s+\\S+\\s+${GOOD.replaceAll('.', '\\.')}`));
  });

  it('rolls back a broken build by itself; the node stays; commands before and during the upgrade complete', async () => {
    const before = await fleet.cli(['exec', 'up-1', '--detach', '--', 'sh', '-c', 'sleep 2; echo accepted-before']);
    expect(before.code).toBe(0);
    const upgrade = new Proc(
      spawn(process.execPath, [join(REPO, 'dist/fleet.js'), 'agents', 'upgrade', 'up-1', '--version', BROKEN, '--deadline', '12s'], {
        env: { ...process.env, FLEET_CONFIG: fleet.configFile },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    // Wait until the agent has left to restart into the broken build, then send a command.
    await waitFor('up-1 restarting', async () => !(await version()).online, 30_000, 100);
    const during = await fleet.cli(['exec', 'up-1', '--detach', '--', 'echo', 'sent-during']);
    expect(during.code).toBe(0);

    expect(await upgrade.exited).toBe(1);
    expect(upgrade.output).toMatch(/up-1: rolled-back/);
    expect(await version()).toMatchObject({ agentVersion: GOOD, online: true });

    for (const [job, text] of [[before.stdout.trim(), 'accepted-before'], [during.stdout.trim(), 'sent-during']] as const) {
      const shown = await fleet.cli(['jobs', 'show', job]);
      expect(shown.code, shown.stderr).toBe(0);
      expect(shown.stdout).toBe(`up-1: ${text}\n`);
    }
    const audit = await fleet.json<{ action: string; detail: string }[]>(['audit', '--action', 'agent.upgrade']);
    expect(audit[0]?.detail).toMatch(/rolled-back/);
  });
});
