// Journey 4, terminal side: `fleet shell` driven through tmux like a person would, pipes, the
// recording it leaves, and the limits on who may open how many shells.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCast } from '../common/asciicast';
import { Fleet, Proc, waitFor } from './harness';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

const REPO = fileURLToPath(new URL('..', import.meta.url));
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', `fleet-test-${process.pid}`, ...args]).toString();

describe('fleet shell', () => {
  const fleet = new Fleet({ serverEnv: { FLEET_SHELL_MAX_PER_USER: '2', FLEET_SHELL_IDLE_MS: '4000' } });
  const session = 'shell';

  beforeAll(async () => {
    await fleet.startServer();
    const token = await fleet.token();
    fleet.startAgent('term-1', token);
    await fleet.waitOnline(['term-1']);
  });
  afterAll(async () => {
    for (const kill of [() => tmux('kill-server'), () => termTmux('kill-server')]) {
      try {
        kill();
      } catch {
        // no server left
      }
    }
    await fleet.stop();
  });

  const screen = () => tmux('capture-pane', '-p', '-t', session);
  const paneSize = () => tmux('display', '-p', '-t', session, '#{pane_height} #{pane_width}').trim();
  const type = (text: string) => tmux('send-keys', '-t', session, text, 'Enter');

  it('is a real terminal: size from the first byte, resize, Ctrl-C, and the remote exit code', async () => {
    tmux('-f', '/dev/null', 'new-session', '-d', '-s', session, '-x', '100', '-y', '30', `env FLEET_CONFIG=${fleet.configFile} ${process.execPath} ${join(REPO, 'dist/fleet.js')} shell term-1 -- sh; echo "EXIT=$?"; sleep 300`);
    tmux('set', '-t', session, 'status', 'off');
    type('echo ready-$((1+1))');
    await waitFor('the remote shell', () => screen().includes('ready-2'), 15_000);
    type('stty size');
    const first = paneSize();
    await waitFor(`stty size ${first}`, () => screen().includes(`\n${first}`), 10_000);

    tmux('resize-window', '-t', session, '-x', '120', '-y', '40');
    const resized = paneSize();
    expect(resized).not.toBe(first);
    type('clear; stty size');
    await waitFor(`stty size ${resized} after the resize`, () => screen().includes(`${resized}`), 10_000);

    type('sleep 60');
    await new Promise((r) => setTimeout(r, 300));
    tmux('send-keys', '-t', session, 'C-c');
    type('echo after-$((40+2))');
    await waitFor('Ctrl-C to stop the remote sleep', () => screen().includes('after-42'), 10_000);

    type('exit 7');
    await waitFor('the CLI to exit with the remote status', () => screen().includes('EXIT=7'), 10_000);
  });

  // A tmux server of its own, whose panes have a TERM other than the usual xterm-256color.
  const termTmux = (...args: string[]) => execFileSync('tmux', ['-L', `fleet-test-${process.pid}-term`, '-f', join(fleet.dir, 'tmux.conf'), ...args]).toString();
  const fleetShell = (name: string) => {
    writeFileSync(join(fleet.dir, 'tmux.conf'), 'set -g default-terminal tmux-256color\nset -g status off\n');
    termTmux('new-session', '-d', '-s', name, '-x', '120', '-y', '40', `env FLEET_CONFIG=${fleet.configFile} ${process.execPath} ${join(REPO, 'dist/fleet.js')} shell term-1 -- sh; echo "EXIT=$?"; sleep 300`);
    return {
      screen: () => termTmux('capture-pane', '-p', '-t', name),
      type: (text: string) => termTmux('send-keys', '-t', name, text, 'Enter'),
    };
  };

  it("gives the node the operator's TERM, not always xterm-256color", async () => {
    const t = fleetShell('term');
    expect(termTmux('show', '-gv', 'default-terminal').trim()).toBe('tmux-256color');
    t.type('echo "remote TERM is [$TERM]"');
    const remote = await waitFor('the remote TERM', () => /^remote TERM is \[(.*)\]$/m.exec(t.screen()), 15_000);
    expect(remote[1]).toBe('tmux-256color');
    t.type('exit');
  });

  it('shows output as the node sent it: a bare line feed moves down without returning', async () => {
    const t = fleetShell('lf');
    // Full-screen programs turn off output processing on the node and move the cursor down with
    // LF; the local terminal must not add a carriage return.
    t.type("clear; stty -opost; printf 'abc\\ndef\\r\\n'; stty opost; echo done-$((5+5))");
    await waitFor('the output', () => t.screen().includes('done-10'), 15_000);
    const lines = t.screen().split('\n');
    expect(lines.slice(lines.findIndex((l) => l === 'abc'), lines.findIndex((l) => l === 'abc') + 2)).toEqual(['abc', '   def']);
    t.type('exit');
  });

  it('passes a large paste of multi-byte text to the node byte for byte, and its output back', async () => {
    const t = fleetShell('paste');
    // 2000 lines of 3-byte and 2-byte characters: the paste reaches the CLI in chunks whose
    // edges fall inside characters.
    const text = Array.from({ length: 2000 }, (_, i) => `${String(i).padStart(4, '0')} 日本語✓é 日本語✓é\n`).join('');
    const pasted = join(fleet.dir, 'pasted.txt');
    const arrived = join(fleet.dir, 'arrived.txt');
    const raw = join(fleet.dir, 'pane.raw');
    writeFileSync(pasted, text);
    t.type('stty -echo; echo ready-$((2+2))');
    await waitFor('the remote shell', () => t.screen().includes('ready-4'), 15_000);
    t.type(`cat > ${arrived}`);
    await new Promise((r) => setTimeout(r, 500));
    termTmux('load-buffer', '-b', 'paste', pasted);
    termTmux('paste-buffer', '-b', 'paste', '-t', 'paste');
    termTmux('send-keys', '-t', 'paste', 'C-d');
    t.type('echo pasted-$((3+3))');
    await waitFor('the paste to be written on the node', () => t.screen().includes('pasted-6'), 30_000);
    const got = readFileSync(arrived, 'utf8');
    const broken = got.split('\n').filter((l) => l.includes('\uFFFD'));
    expect(broken, `${broken.length} of 2000 lines arrived corrupted`).toEqual([]);
    expect(sha256(readFileSync(arrived))).toBe(sha256(Buffer.from(text)));

    // The other way: the node prints the same text, and the CLI's terminal receives it intact.
    termTmux('pipe-pane', '-t', 'paste', `cat > ${raw}`);
    t.type(`clear; cat ${arrived}; echo printed-$((4+4))`);
    await waitFor('the node to print the text', () => t.screen().includes('printed-8'), 30_000);
    termTmux('pipe-pane', '-t', 'paste');
    await waitFor('the pane log', () => existsSync(raw) && readFileSync(raw, 'utf8').includes('printed-8'));
    const shown = readFileSync(raw, 'utf8').replace(/\r\n/g, '\n');
    expect(shown).not.toContain('\uFFFD');
    expect(shown).toContain(text);
    t.type('exit');
  });

  it('works as a pipe when stdin is not a terminal', async () => {
    const out = execFileSync('sh', ['-c', `printf 'echo hi\\n' | ${process.execPath} ${join(REPO, 'dist/fleet.js')} shell term-1`], { env: { ...process.env, FLEET_CONFIG: fleet.configFile } }).toString();
    expect(out).toBe('hi\n');
  });

  it('moves a large output through flow control intact, without stalling', async () => {
    // 64 MiB: far more than the agent may have in flight (1 MiB), so the PTY side pauses and resumes.
    const out = execFileSync('sh', ['-c', `${process.execPath} ${join(REPO, 'dist/fleet.js')} shell term-1 -- sh -c 'head -c 67108864 /dev/zero | tr "\\0" x' | sha256sum`], {
      env: { ...process.env, FLEET_CONFIG: fleet.configFile },
      timeout: 120_000,
    }).toString();
    const expected = execFileSync('sh', ['-c', `head -c 67108864 /dev/zero | tr '\\0' x | sha256sum`]).toString();
    expect(out).toBe(expected);
  });

  it('leaves a valid asciicast v2 recording that replays the session output', async () => {
    const r = await fleet.cli(['shell', 'term-1', '--', 'sh', '-c', 'printf "recorded %s\\n" "$((6*7))"']);
    expect(r.code).toBe(0);
    const sessions = await fleet.json<{ id: string; nodeName: string; endedUnixMs: number; exitCode: number }[]>(['sessions', 'list']);
    const last = sessions[0]!;
    expect(last).toMatchObject({ nodeName: 'term-1', exitCode: 0 });
    const raw = await fleet.cli(['sessions', 'play', last.id, '--raw']);
    const cast = parseCast(raw.stdout);
    expect(cast.header).toMatchObject({ version: 2, width: 80, height: 24 });
    expect(cast.events.filter((e) => e[1] === 'o').map((e) => e[2]).join('')).toBe('recorded 42\n');
    const played = await fleet.cli(['sessions', 'play', last.id, '--idle-time-limit', '100ms']);
    expect(played.stdout).toBe('recorded 42\n');
    const audit = await fleet.json<{ action: string; target: string; detail: string }[]>(['audit', '--action', 'shell.close']);
    expect(audit[0]).toMatchObject({ target: 'term-1' });
    expect(audit[0]!.detail).toMatch(new RegExp(`session ${last.id} lasted \\d+ s, exit 0`));
  });

  it('closes a shell that stays idle past the limit (4 s in this test)', async () => {
    const r = await fleet.cli(['shell', 'term-1', '--', 'sleep', '60']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/shell ended: idle for more than 4.00s/);
    const audit = await fleet.json<{ detail: string }[]>(['audit', '--action', 'shell.close']);
    expect(audit[0]!.detail).toMatch(/idle for more than/);
  });

  it('refuses a viewer, and the shell over the per-user limit, clearly', async () => {
    const viewer = (await fleet.cli(['api-tokens', 'create', '--role', 'viewer'])).stdout.trim();
    const viewerConfig = join(fleet.dir, 'viewer.json');
    const login = await fleet.cli(['login', '--server', fleet.url, '--token', viewer, '--ca-hash', `sha256:${fleet.caHash}`], { FLEET_CONFIG: viewerConfig });
    expect(login.code, login.stderr).toBe(0);
    const refused = await fleet.cli(['shell', 'term-1', '--', 'true'], { FLEET_CONFIG: viewerConfig });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/needs the operator role; your token has viewer/);

    // Two shells held open (the limit in this test), then a third. They print every second, so
    // the 4 s idle limit cannot close them while a loaded machine runs the third.
    const hold = () =>
      new Proc(spawn(process.execPath, [join(REPO, 'dist/fleet.js'), 'shell', 'term-1', '--', 'sh', '-c', 'echo ready; while sleep 1; do echo tick; done'], { env: { ...process.env, FLEET_CONFIG: fleet.configFile }, stdio: ['pipe', 'pipe', 'pipe'] }));
    const held = [hold(), hold()];
    try {
      for (const h of held) await h.waitForOutput(/ready/);
      const third = await fleet.cli(['shell', 'term-1', '--', 'true']);
      expect(third.code).toBe(1);
      expect(third.stderr).toMatch(/you already have 2 shells open, the most allowed per user/);
    } finally {
      for (const h of held) await h.kill('SIGKILL');
    }
  });
});
