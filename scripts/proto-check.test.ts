// scripts/proto-check.mjs catches a breaking change to the wire contract: a throwaway git repository
// holds a copy of buf.yaml and proto/, and the check runs there as a developer and CI would run it.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const script = join(root, 'scripts/proto-check.mjs');
const COMMON = 'proto/fleet/v1/common.proto';
/** What buf says when OsFacts.fqdn (field 8) gets another number. */
const BROKEN = /Previously present field "8" with name "fqdn" on message "OsFacts" was deleted/;

describe('proto-check (buf lint + buf breaking)', () => {
  let repo: string;
  const env = {
    ...process.env,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'test',
    GIT_AUTHOR_EMAIL: 'test@example.invalid',
    GIT_COMMITTER_NAME: 'test',
    GIT_COMMITTER_EMAIL: 'test@example.invalid',
    CI: 'true',
  };
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, env, stdio: 'pipe' }).toString();
  const check = () => {
    const r = spawnSync(process.execPath, [script], { cwd: repo, env, encoding: 'utf8' });
    return { ok: r.status === 0, out: r.stdout + r.stderr };
  };
  const edit = (from: string, to: string) => {
    const text = readFileSync(join(repo, COMMON), 'utf8');
    expect(text).toContain(from);
    writeFileSync(join(repo, COMMON), text.replace(from, to));
  };
  const commit = (message: string) => git('commit', '-qam', message);

  beforeEach(() => {
    repo = mkdtempSync(join(tmpdir(), 'fleet-proto-check-'));
    cpSync(join(root, 'buf.yaml'), join(repo, 'buf.yaml'));
    cpSync(join(root, 'proto/fleet'), join(repo, 'proto/fleet'), { recursive: true });
    git('init', '-q', '-b', 'main');
    git('add', '.');
    commit('contract');
  });
  afterEach(() => rmSync(repo, { recursive: true, force: true }));

  it('passes a compatible change and checks it against main before it', () => {
    expect(check()).toMatchObject({ ok: true, out: expect.stringContaining('buf breaking skipped') });
    edit('string fqdn = 8;', 'string fqdn = 8;\n  string domain = 99;');
    expect(check()).toMatchObject({ ok: true, out: expect.stringMatching(/buf breaking passed against the merge base with main/) });
    commit('add a field');
    expect(check()).toMatchObject({ ok: true, out: expect.stringMatching(/buf breaking passed against \w+, main just before its last contract change/) });
  }, 30_000);

  it('fails an uncommitted change of a field number with buf\'s message', () => {
    edit('string fqdn = 8;', 'string fqdn = 99;');
    const r = check();
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(BROKEN);
  }, 30_000);

  it('fails the breaking change once it is committed on main (a fresh clone in CI)', () => {
    edit('string fqdn = 8;', 'string fqdn = 99;');
    commit('renumber');
    // Commits after it that do not touch the protos change nothing: the last contract change is checked.
    writeFileSync(join(repo, 'README'), 'x');
    git('add', 'README');
    commit('unrelated');
    const clone = `${repo}-clone`;
    execFileSync('git', ['clone', '-q', repo, clone], { env, stdio: 'pipe' });
    try {
      const r = spawnSync(process.execPath, [script], { cwd: clone, env, encoding: 'utf8' });
      expect(r.status).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(BROKEN);
    } finally {
      rmSync(clone, { recursive: true, force: true });
    }
  }, 30_000);

  it('fails a branch whose earlier commit broke the contract, even when its last one did not', () => {
    git('checkout', '-q', '-b', 'topic');
    edit('string fqdn = 8;', 'string fqdn = 99;');
    commit('renumber');
    edit('string fqdn = 99;', 'string fqdn = 99;\n  string domain = 100;');
    commit('add a field');
    const r = check();
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(BROKEN);
  }, 30_000);
});
