// Journey 1 under a real systemd (PID 1 of a Debian container booted with systemd-nspawn, in its
// own network namespace): install.sh registers and starts fleet-agent.service, and uninstalling
// through the agent itself — `fleet exec NODE -- …/fleet-agent-uninstall.sh`, which runs inside
// the unit's own cgroup — completes: the job says what happens, the unit and every file go, and
// the node leaves the fleet. Needs root, systemd-container, mmdebstrap and the standalone agent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, waitFor } from './harness';
import { TestHost } from './netns';
import { Container } from './nspawn';

describe('installer under systemd', () => {
  let host: TestHost;
  let fleet: Fleet;
  let box: Container;

  beforeAll(async () => {
    host = TestHost.create({ prefix: 'fleet-sd' });
    fleet = new Fleet({ host: host.peerIp });
    await fleet.startServer();
    // The first run builds the container's root (cached in .cache/nspawn) and takes minutes.
    box = await Container.boot(host, { hostname: 'sd-box' });
  }, 900_000);

  afterAll(async () => {
    await box?.destroy();
    host?.destroy();
    await fleet?.stop();
  });

  const leftovers = async () =>
    (await box.run('for f in /opt/fleet /etc/fleet /var/lib/fleet-agent /etc/systemd/system/fleet-agent.service /etc/systemd/system/multi-user.target.wants/fleet-agent.service; do if [ -e "$f" ]; then echo "$f"; fi; done')).output.trim();
  const agentProcesses = async () => (await box.run('cat /proc/[0-9]*/comm 2>/dev/null | grep -c "^fleet-agent" || true')).output.trim();

  it('uninstalling through the agent (fleet exec) completes, reports what happens, and the node leaves', async () => {
    const token = await fleet.token();
    const install = await box.run(`curl -fsSL -k --pinnedpubkey '${fleet.installPin}' ${fleet.installUrl}/install.sh | sh -s -- --token ${token}`);
    expect(install.code, install.output).toBe(0);
    expect(install.output).toMatch(/service: +systemd unit \/etc\/systemd\/system\/fleet-agent\.service/);
    await fleet.waitOnline(['sd-box']);
    expect((await box.run('systemctl is-enabled fleet-agent.service')).output.trim()).toBe('enabled');

    const job = await fleet.cli(['exec', 'sd-box', '--', '/opt/fleet/bin/fleet-agent-uninstall.sh']);
    // The job ends with the uninstaller's own word on what happens next, not `lost`.
    expect(job.code, job.stdout + job.stderr).toBe(0);
    expect(job.stdout).toMatch(/^sd-box: .*continues outside fleet-agent\.service/m);

    await waitFor('the uninstall to finish', async () => (await leftovers()) === '' && (await agentProcesses()) === '0', 60_000, 500);
    const enabled = await box.run('systemctl is-enabled fleet-agent.service');
    expect(enabled.code, enabled.output).not.toBe(0);
    expect((await box.run('systemctl is-active fleet-agent.service')).output.trim()).toBe('inactive');
    const log = await box.run('journalctl -u fleet-agent-uninstall --no-pager -o cat');
    expect(log.output).toMatch(/sd-box left the fleet/);
    expect(log.output).toMatch(/fleet-agent is uninstalled/);

    // The node told the server it is leaving: gone from `fleet nodes`, and audited.
    await waitFor('sd-box to leave `fleet nodes`', async () => !(await fleet.nodes()).some((n) => n.name === 'sd-box'));
    const audit = await fleet.json<{ action: string; actor: string; target: string; ok: boolean }[]>(['audit', '--action', 'node.leave']);
    expect(audit).toEqual([expect.objectContaining({ target: 'sd-box', ok: true })]);
  });
});
