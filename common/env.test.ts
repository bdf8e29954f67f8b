import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ENV, envDefault, envHelp, Program, readEnv, readEnvOrDefault, type EnvName } from './env';
import { InvalidEnvError } from './errors';

const repo = fileURLToPath(new URL('..', import.meta.url));
/** Where fleet's code, scripts and tests live (docs are checked separately). */
const SOURCE_ROOTS = ['agent', 'server', 'cli', 'common', 'transport', 'installer', 'scripts', 'test', 'bench', 'proto', 'package.json', 'tsup.config.ts', 'vitest.config.ts'];
const SKIP = new Set(['node_modules', 'dist', '.cache', 'gen']);
/** FLEET_ words that are not environment variables: install.sh's heredoc marker. */
const NOT_VARIABLES = new Set(['FLEET_AGENT_LAUNCH_EOF']);
const NAME = /(?<![A-Za-z0-9_])FLEET_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_])/g;

function files(path: string): string[] {
  const full = join(repo, path);
  if (!statSync(full, { throwIfNoEntry: false })) return [];
  if (statSync(full).isFile()) return [path];
  return readdirSync(full).flatMap((entry) => (SKIP.has(entry) ? [] : files(join(path, entry))));
}

const sources = SOURCE_ROOTS.flatMap(files).filter((f) => !f.endsWith('.md'));
const text = (file: string) => readFileSync(join(repo, file), 'utf8');

/** The FLEET_ names in `source` that common/env.ts does not declare. */
function undeclaredIn(source: string): string[] {
  return [...new Set(source.match(NAME) ?? [])].filter((n) => !(n in ENV) && !NOT_VARIABLES.has(n));
}

describe('FLEET_* declarations', () => {
  it('declare every FLEET_ variable used anywhere in the source', () => {
    expect(sources.length).toBeGreaterThan(100);
    const undeclared = sources.flatMap((file) => undeclaredIn(text(file)).map((n) => `${file}: ${n}`));
    expect(undeclared).toEqual([]);
    // The scan does find one that is not declared.
    expect(undeclaredIn(`const x = process.env.${'FLEET'}_NOT_DECLARED; // INSTALL_FLEET_ROOT __FLEET_URL__`)).toEqual([`${'FLEET'}_NOT_DECLARED`]);
  });

  it('are the only way fleet-server, fleet-agent and fleet read them', () => {
    const direct = /process\.env\.FLEET_|\benv\.FLEET_|env\[\s*['"`]FLEET_|\.env\(\s*['"`]FLEET_/;
    const programs = sources.filter((f) => /^(agent|server|cli|common|transport)\//.test(f) && f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'common/env.ts');
    expect(programs.length).toBeGreaterThan(50);
    expect(programs.filter((f) => direct.test(text(f)))).toEqual([]);
    for (const read of ['process.env.FLEET_LOG', "env['FLEET_DATA']", "new Option('--data').env('FLEET_DATA')"]) expect(direct.test(read), read).toBe(true);
  });

  it('are all listed in docs/configuration.md, which lists nothing else', () => {
    const doc = readFileSync(join(repo, 'docs/configuration.md'), 'utf8');
    const listed = [...doc.matchAll(/^\| `(FLEET_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(listed.toSorted()).toEqual(Object.keys(ENV).toSorted());
  });

  it('have defaults that pass their own checks, and a program that reads each', () => {
    for (const [name, v] of Object.entries(ENV) as [EnvName, (typeof ENV)[EnvName]][]) {
      expect(v.programs.length, name).toBeGreaterThan(0);
      expect(v.description.length, name).toBeGreaterThan(10);
      if ('default' in v && v.default !== undefined) expect(() => envDefault(name), name).not.toThrow();
    }
  });
});

describe('readEnv', () => {
  it('converts values, and treats unset and empty as unset', () => {
    expect(readEnv('FLEET_OFFLINE_AFTER_MS', { FLEET_OFFLINE_AFTER_MS: '15000' })).toBe(15000);
    expect(readEnv('FLEET_SHELL_RECORD_INPUT', { FLEET_SHELL_RECORD_INPUT: '1' })).toBe(true);
    expect(readEnv('FLEET_SHELL_RECORD_INPUT', { FLEET_SHELL_RECORD_INPUT: '0' })).toBe(false);
    expect(readEnv('FLEET_WEBHOOKS', { FLEET_WEBHOOKS: 'https://a/x, https://b/y,' })).toEqual(['https://a/x', 'https://b/y']);
    expect(readEnv('FLEET_LISTEN', { FLEET_LISTEN: '[::1]:7443' })).toBe('[::1]:7443');
    expect(readEnv('FLEET_AGENT_RECONCILE_INTERVAL', { FLEET_AGENT_RECONCILE_INTERVAL: '1h30m' })).toBe('1h30m');
    expect(readEnv('FLEET_DATA', {})).toBeUndefined();
    expect(readEnv('FLEET_DATA', { FLEET_DATA: '' })).toBeUndefined();
  });

  it('keeps the defaults fleet has always had', () => {
    expect(readEnvOrDefault('FLEET_LOG', {})).toBe('info');
    expect(readEnvOrDefault('FLEET_DATA', {})).toBe('./fleet-data');
    expect(readEnvOrDefault('FLEET_OFFLINE_AFTER_MS', {})).toBe(12_000);
    expect(readEnvOrDefault('FLEET_HEARTBEAT_MS', {})).toBe(5_000);
    expect(readEnvOrDefault('FLEET_SIGNIN_FAILURES', {})).toBe(10);
    expect(readEnvOrDefault('FLEET_SHELL_IDLE_MS', {})).toBe(20 * 60_000);
    expect(readEnvOrDefault('FLEET_SHELL_MAX_MS', {})).toBe(12 * 3_600_000);
    expect(readEnvOrDefault('FLEET_SHELL_RECORD_INPUT', {})).toBe(false);
    expect(readEnvOrDefault('FLEET_AGENT_DIR', {})).toBe('/var/lib/fleet-agent');
    expect(readEnvOrDefault('FLEET_AGENT_SUPERVISED', {})).toBe(false);
  });

  it('refuses a bad value with an error that names the variable', () => {
    const cases: [EnvName, string, RegExp][] = [
      ['FLEET_OFFLINE_AFTER_MS', 'abc', /^FLEET_OFFLINE_AFTER_MS="abc": expected a whole number$/],
      ['FLEET_HEARTBEAT_MS', '-5', /^FLEET_HEARTBEAT_MS="-5": expected a whole number$/],
      ['FLEET_LISTEN', 'localhost', /^FLEET_LISTEN="localhost": expected HOST:PORT/],
      ['FLEET_SHELL_RECORD_INPUT', 'yes', /^FLEET_SHELL_RECORD_INPUT="yes": expected 1 \(on\) or 0 \(off\)$/],
      ['FLEET_LOG', 'loud', /^FLEET_LOG="loud": expected fatal, error/],
      ['FLEET_AGENT_RECONCILE_INTERVAL', 'soon', /^FLEET_AGENT_RECONCILE_INTERVAL="soon": expected a duration/],
    ];
    for (const [name, value, message] of cases) {
      let error: unknown;
      try {
        readEnv(name, { [name]: value });
      } catch (err) {
        error = err;
      }
      expect(error, name).toBeInstanceOf(InvalidEnvError);
      expect(error, name).toMatchObject({ variable: name, value, code: 'INVALID_ENV' });
      expect((error as Error).message, name).toMatch(message);
    }
  });
});

describe('envHelp', () => {
  it("lists the program's variables, wrapped", () => {
    const help = envHelp(Program.Agent);
    expect(help).toMatch(/^Environment \(see docs\/configuration\.md\): FLEET_LOG, FLEET_SERVER,/);
    expect(help).toContain('FLEET_AGENT_RENEW_BEFORE_MS');
    expect(help).not.toContain('FLEET_DATA');
    expect(Math.max(...help.split('\n').map((l) => l.length))).toBeLessThanOrEqual(112);
  });
});

