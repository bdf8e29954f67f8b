// Help text for every command, checked against a snapshot so changes to the CLI surface are deliberate.
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { buildProgram, main } from './main';
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
});
