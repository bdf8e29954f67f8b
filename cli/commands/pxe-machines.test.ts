// `fleet machines …` and `fleet pxe …` run in-process against a fake Control client: what they
// send, what they print, and their exit codes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorKind } from '../../common/errors';
import type { Machine, PxeConfig } from '../../proto/gen/fleet/v1/control';
import { RemoteError } from '../../transport';
import type { ControlClient } from '../client';
import { CliEnv } from '../env';
import { UsageError } from '../errors';
import type { CliIo } from '../io';
import { buildProgram } from '../main';

class FakeClient {
  readonly calls: Record<string, unknown[]> = {};
  constructor(readonly answers: Record<string, unknown>) {}

  async call(method: string, request: unknown): Promise<unknown> {
    (this.calls[method] ??= []).push(request);
    const answer = this.answers[method];
    if (answer === undefined) throw new Error(`unexpected call ${method}`);
    if (answer instanceof Error) throw answer;
    return answer;
  }
}

class FakeEnv extends CliEnv {
  constructor(
    io: CliIo,
    readonly fake: FakeClient,
  ) {
    super(io, '/nonexistent/config.json');
  }
  override client(): ControlClient {
    return this.fake as unknown as ControlClient;
  }
}

async function run(fake: FakeClient, argv: string[], stdin?: string) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
  if (stdin !== undefined) {
    io.stdin = (async function* () {
      yield Buffer.from(stdin);
    })();
  }
  const env = new FakeEnv(io, fake);
  await buildProgram(env).parseAsync(argv, { from: 'user' });
  return { code: env.exitCode, stdout, stderr };
}

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
  createdUnixMs: Date.parse('2025-01-01T00:00:00Z'),
  lastBootUnixMs: 0,
  lastBootAddress: '',
  reported: undefined,
  approvedBy: 'admin',
  ...m,
});

const pxeConfig = (c: Partial<PxeConfig>): PxeConfig => ({ yaml: '', profiles: [], groups: [], rules: [], pxePort: 0, discoveryImage: false, ...c });

describe('fleet machines', () => {
  it('add normalises the MAC, sends name, profile and labels, and says which profile it boots', async () => {
    const fake = new FakeClient({ addMachine: machine({ profile: 'debian12', bootProfile: 'debian12', bootProfileFrom: 'machine', labels: { role: 'web' } }) });
    const r = await run(fake, ['machines', 'add', '--mac', '52-54-00-12-34-56', '--name', 'web-3', '--profile', 'debian12', '-l', 'role=web']);
    expect(fake.calls.addMachine).toEqual([{ name: 'web-3', mac: '52:54:00:12:34:56', uuid: '', serial: '', profile: 'debian12', labels: { role: 'web' } }]);
    expect(r.stdout).toBe('machine web-3 added (mac 52:54:00:12:34:56); it boots profile debian12\n');
  });

  it('add without --profile says the groups decide; by serial alone works; -o json prints only JSON', async () => {
    const fake = new FakeClient({ addMachine: machine({ mac: '', serial: 'ABC123' }) });
    const r = await run(fake, ['machines', 'add', '--serial', 'ABC123', '--name', 'web-3']);
    expect(r.stdout).toBe('machine web-3 added (serial ABC123); its profile comes from the groups in the PXE config\n');
    const json = await run(fake, ['machines', 'add', '--serial', 'ABC123', '--name', 'web-3', '-o', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: 'm-1', name: 'web-3', serial: 'ABC123', state: 'registered', createdAt: '2025-01-01T00:00:00.000Z' });
    expect(json.stderr).toBe('');
  });

  it('add refuses a bad MAC or no hardware address before calling the server', async () => {
    const fake = new FakeClient({});
    await expect(run(fake, ['machines', 'add', '--mac', '52:54:00:12:34', '--name', 'x'])).rejects.toThrow(UsageError);
    await expect(run(fake, ['machines', 'add', '--name', 'x'])).rejects.toThrow(/at least one of --mac, --uuid and --serial/);
    expect(fake.calls).toEqual({});
  });

  it('list shows a table; wide adds where the profile comes from, the boot address and what pending machines reported', async () => {
    const now = Date.now();
    const fake = new FakeClient({
      listMachines: {
        machines: [
          machine({ state: 'provisioned', nodeId: 'n-1', bootProfile: '', labels: { role: 'web' }, lastBootUnixMs: now - 180_000, lastBootAddress: '10.0.0.5' }),
          machine({
            id: 'm-2',
            name: 'pending-525400aabbcc',
            mac: '52:54:00:aa:bb:cc',
            state: 'pending',
            bootProfile: 'discovery',
            bootProfileFrom: 'discovery (pending approval)',
            lastBootUnixMs: now - 60_000,
            lastBootAddress: '10.0.0.6',
            reported: { hostname: 'discovery-525400aabbcc', macs: ['52:54:00:aa:bb:cc'], dmiUuid: '', serial: '' },
          }),
          machine({ id: 'm-3', name: 'db-1', mac: '52:54:00:00:00:01', bootProfile: 'debian12', bootProfileFrom: 'group rack-a' }),
        ],
      },
    });
    const r = await run(fake, ['machines', 'list']);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^NAME\s+STATE\s+MAC\s+PROFILE\s+NODE\s+LAST BOOT\s+LABELS$/);
    expect(lines[1]).toMatch(/^web-3\s+provisioned\s+52:54:00:12:34:56\s+-\s+n-1\s+3m ago\s+role=web$/);
    expect(lines[2]).toMatch(/^pending-525400aabbcc\s+pending\s+52:54:00:aa:bb:cc\s+discovery\s+-\s+1m ago\s+-$/);
    expect(lines[3]).toMatch(/^db-1\s+registered\s+52:54:00:00:00:01\s+debian12\s+-\s+-\s+-$/);
    expect(fake.calls.listMachines).toEqual([{ pendingOnly: false }]);

    const wide = await run(fake, ['machines', 'list', '-o', 'wide', '--pending']);
    expect(fake.calls.listMachines![1]).toEqual({ pendingOnly: true });
    expect(wide.stdout).toContain('discovery (pending approval)');
    expect(wide.stdout).toContain('1m ago from 10.0.0.6');
    expect(wide.stdout).toContain('discovery-525400aabbcc (52:54:00:aa:bb:cc)');
    expect(wide.stdout).toContain('debian12 (from group rack-a)');

    const json = await run(fake, ['machines', 'list', '-o', 'json']);
    expect(JSON.parse(json.stdout)).toHaveLength(3);
  });

  it('list says so when there is nothing, on stderr', async () => {
    const fake = new FakeClient({ listMachines: { machines: [] } });
    const r = await run(fake, ['machines', 'list', '--pending']);
    expect(r.stderr).toBe('no machine waits for approval\n');
  });

  it('approve, reject, reinstall and remove print the new state in one line; a MAC argument is normalised', async () => {
    const fake = new FakeClient({
      approveMachine: machine({ name: 'web-4', state: 'approved', bootProfile: 'debian12', bootProfileFrom: 'machine' }),
      rejectMachine: machine({ state: 'rejected' }),
      reinstallMachine: machine({ state: 'approved', bootProfile: 'debian12', bootProfileFrom: 'group rack-a' }),
      removeMachine: machine({ state: 'provisioned' }),
    });
    const a = await run(fake, ['machines', 'approve', '52-54-00-AA-BB-CC', '--name', 'web-4', '--profile', 'debian12', '-l', 'env=lab']);
    expect(fake.calls.approveMachine).toEqual([{ machine: '52:54:00:aa:bb:cc', name: 'web-4', profile: 'debian12', labels: { env: 'lab' } }]);
    expect(a.stdout).toBe('machine web-4 approved: profile debian12 (from machine), labels -\n');
    expect((await run(fake, ['machines', 'reject', 'web-3'])).stdout).toBe('machine web-3 rejected; it is offered no profile when it network-boots\n');
    expect((await run(fake, ['machines', 'reinstall', 'web-3'])).stdout).toBe(
      'machine web-3 approved for reinstalling: at its next network boot it installs profile debian12 (from group rack-a) and enrolls again\n',
    );
    expect((await run(fake, ['machines', 'remove', 'm-1'])).stdout).toBe('machine web-3 removed (it was provisioned)\n');
    expect(fake.calls.removeMachine).toEqual([{ machine: 'm-1' }]);
  });
});

describe('fleet pxe', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleet-cli-pxe-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('set sends the file as it is and prints a summary; -f - reads standard input', async () => {
    const yaml = 'profiles:\n  - name: a\n    kernel: http://x/k\n';
    writeFileSync(join(dir, 'pxe.yaml'), yaml);
    const fake = new FakeClient({ setPxeConfig: pxeConfig({ yaml, profiles: ['a', 'b'], groups: ['g'], rules: ['lab'] }) });
    const r = await run(fake, ['pxe', 'set', '-f', join(dir, 'pxe.yaml')]);
    expect(fake.calls.setPxeConfig).toEqual([{ yaml, fileName: join(dir, 'pxe.yaml') }]);
    expect(r.stdout).toBe('PXE config: 2 profiles (a, b), 1 group, 1 rule\n');
    const s = await run(fake, ['pxe', 'set', '-f', '-'], yaml);
    expect(fake.calls.setPxeConfig![1]).toEqual({ yaml, fileName: '<stdin>' });
    expect(s.code).toBe(0);
  });

  it('set prints the server\'s file:line:col problems as they are and exits 1', async () => {
    writeFileSync(join(dir, 'pxe.yaml'), 'groups:\n  - name: a\n');
    const problems = 'pxe.yaml:2:5: groups[0].profile: required\npxe.yaml:2:5: groups[0]: more than one default group';
    const fake = new FakeClient({ setPxeConfig: new RemoteError(problems, 'INVALID_SPEC', ErrorKind.Invalid, 3) });
    const r = await run(fake, ['pxe', 'set', '-f', join(dir, 'pxe.yaml')]);
    expect(r.stderr).toBe(`${problems}\n`);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(1);
  });

  it('set reports a missing file without calling the server', async () => {
    const fake = new FakeClient({});
    await expect(run(fake, ['pxe', 'set', '-f', join(dir, 'missing.yaml')])).rejects.toThrow(/cannot read PXE config file .*missing\.yaml: no such file/);
  });

  it('show prints the YAML on stdout and the PXE port and discovery image status on stderr', async () => {
    const yaml = 'profiles: []\n';
    let fake = new FakeClient({ getPxeConfig: pxeConfig({ yaml, pxePort: 8080, discoveryImage: true }) });
    let r = await run(fake, ['pxe', 'show']);
    expect(r.stdout).toBe(yaml);
    expect(r.stderr).toContain('PXE answers on port 8080\n');
    expect(r.stderr).toContain('discovery image: available');

    fake = new FakeClient({ getPxeConfig: pxeConfig({}) });
    r = await run(fake, ['pxe', 'show']);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('no PXE config set\n');
    expect(r.stderr).toContain('PXE is off: start fleet-server with --pxe-listen 0.0.0.0:8080\n');
    expect(r.stderr).toContain('discovery image: missing');

    r = await run(fake, ['pxe', 'show', '-o', 'json']);
    expect(JSON.parse(r.stdout)).toEqual({ yaml: '', profiles: [], groups: [], rules: [], pxePort: 0, discoveryImage: false });
    expect(r.stderr).toBe('');
  });
});
