// Help text for every command, checked against a snapshot so changes to the CLI surface are deliberate.
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram, hoistGlobalOptions, main } from './main';
import { CliEnv } from './env';

function capture() {
  let stdout = '';
  let stderr = '';
  return { io: { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } }, out: () => stdout, err: () => stderr };
}

function allCommands(cmd: Command, prefix: string[] = []): string[][] {
  return cmd.commands.flatMap((c) => [[...prefix, c.name()], ...allCommands(c, [...prefix, c.name()])]);
}

describe('fleet CLI', () => {
  const names = allCommands(buildProgram(new CliEnv(capture().io, '/nonexistent')));

  it('has help for every command', async () => {
    const texts: Record<string, string> = {};
    for (const path of [[], ...names]) {
      const c = capture();
      expect(await main([...path, '--help'], c.io, '/nonexistent/config.json')).toBe(0);
      texts[['fleet', ...path].join(' ')] = c.out().replace(/Config: .*\(override/, 'Config: <path> (override');
    }
    expect(texts).toMatchSnapshot();
  });

  it('prints its version', async () => {
    const c = capture();
    expect(await main(['--version'], c.io)).toBe(0);
    expect(c.out()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('exits 2 for unknown commands and options, 1 when not logged in', async () => {
    let c = capture();
    expect(await main(['frobnicate'], c.io, '/nonexistent/config.json')).toBe(2);
    expect(c.err()).toMatch(/unknown command/);
    c = capture();
    expect(await main(['nodes', '--bogus'], c.io, '/nonexistent/config.json')).toBe(2);
    c = capture();
    expect(await main(['nodes'], c.io, '/nonexistent/config.json')).toBe(1);
    expect(c.err()).toMatch(/not logged in/);
  });

  it('refuses an unknown -o value on every command that has -o, before contacting any server', async () => {
    const program = buildProgram(new CliEnv(capture().io, '/nonexistent'));
    const find = (path: string[]) => path.reduce<Command>((cmd, name) => cmd.commands.find((c) => c.name() === name)!, program);
    const withOutput = names.filter((path) => find(path).options.some((o) => o.long === '--output'));
    expect(withOutput.length).toBeGreaterThan(15);
    for (const path of withOutput) {
      // Fill required arguments with placeholders; the bad -o must be refused first.
      const args = find(path).registeredArguments.filter((a) => a.required).map(() => 'x');
      const c = capture();
      const code = await main([...path, ...args, '-o', 'bogus', '--', 'true'], c.io, '/nonexistent/config.json');
      expect({ path: path.join(' '), code, err: c.err() }).toEqual({ path: path.join(' '), code: 2, err: expect.stringMatching(/argument 'bogus' is invalid/) as unknown });
    }
  });

  it('gives a subcommand its own -o even when its parent has one (nodes show N -o table is refused: show has yaml|json)', async () => {
    const c = capture();
    expect(await main(['nodes', 'show', 'web-1', '-o', 'table'], c.io, '/nonexistent/config.json')).toBe(2);
    expect(c.err()).toMatch(/Allowed choices are yaml, json/);
  });

  it('takes global options after a subcommand too', async () => {
    const c = capture();
    expect(await main(['nodes', '-o', 'json', '--context', 'elsewhere'], c.io, '/nonexistent/config.json')).toBe(1);
    expect(c.err()).toMatch(/no context "elsewhere"/);
    const d = capture();
    expect(await main(['nodes', '--request-timeout=soon'], d.io, '/nonexistent/config.json')).toBe(2);
    expect(d.err()).toMatch(/--request-timeout: "soon" is not a duration/);
  });

  it('moves global options to the front and leaves everything else in order', () => {
    expect(hoistGlobalOptions(['exec', '-l', 'a=1', '--context', 'prod', 'web-1', '--request-timeout=5s'])).toEqual(['--context', 'prod', '--request-timeout=5s', 'exec', '-l', 'a=1', 'web-1']);
  });
});
