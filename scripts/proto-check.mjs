// Checks the wire contract before the tests run (`npm run proto:check`, first step of `npm test`):
// `buf lint` on proto/ as it is in the working tree, then `buf breaking` against the protos that
// deployed agents and servers may still speak. Offline: buf comes from node_modules, the older
// protos from git (`git show`), nothing is fetched.
//
// Which protos count as "before" (the `--against` of buf breaking), in this order:
//   1. M = the merge base of HEAD with `main` (or `origin/main` when there is no local main;
//      HEAD itself when neither exists, e.g. a CI checkout of a detached commit).
//   2. If the .proto files in the working tree (uncommitted edits and new files included) differ
//      from those at M, compare against M: a branch or an uncommitted change is checked as a whole
//      against the main it started from.
//   3. Otherwise (main itself, or a branch that has not touched the protos): C = the newest commit
//      on M's first-parent line (main's own history: a merge counts as the commit that changed them)
//      that changed a .proto file; compare against C's first parent, i.e. main as it was just before
//      its latest contract change. So a fresh clone of main in CI checks the last change that landed.
//      If no such commit exists (or C is the first commit), there is nothing older: lint only.
// A shallow clone that lacks C's parent fails with a clear message (`git fetch --unshallow`).
//
// Usage: node scripts/proto-check.mjs [--against REF]   (REF: compare against this commit instead)
// Run it from the repository root (or any checkout with buf.yaml and proto/; tests use a temp repo).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const buf = fileURLToPath(new URL('../node_modules/.bin/buf', import.meta.url));
/** Pathspec for the contract's source files (buf.yaml's module is `proto`). */
const PROTOS = ':(glob)proto/**/*.proto';

/** Runs git in the current directory; undefined when it fails and `quiet` is set. */
function git(args, quiet = false) {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', quiet ? 'ignore' : 'pipe'] }).trim();
  } catch (err) {
    if (quiet) return undefined;
    throw err;
  }
}

function fail(message) {
  process.stderr.write(`proto-check: ${message}\n`);
  process.exit(1);
}

/** The commit to compare against (see the header), and why, or undefined with the reason. */
function chooseAgainst() {
  const i = process.argv.indexOf('--against');
  if (i >= 0) {
    const ref = process.argv[i + 1];
    if (!ref || !git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], true)) fail(`--against needs a commit, got ${ref ?? 'nothing'}`);
    return { commit: ref, why: `${ref} (given)` };
  }
  if (git(['rev-parse', '--verify', '--quiet', 'HEAD'], true) === undefined) fail('buf breaking needs the git history: run it in a git clone of the repository');
  const main = ['main', 'origin/main'].find((ref) => git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], true));
  const base = (main && git(['merge-base', 'HEAD', main], true)) ?? git(['rev-parse', 'HEAD']);
  const baseName = main ? `the merge base with ${main} (${base.slice(0, 12)})` : `HEAD (${base.slice(0, 12)}; no main branch here)`;
  const changed = git(['diff', '--name-only', base, '--', PROTOS]) + git(['ls-files', '--others', '--exclude-standard', '--', PROTOS]);
  if (changed !== '') return { commit: base, why: `${baseName}: the protos here differ from it` };

  const last = git(['log', '-1', '--first-parent', '--format=%H', base, '--', PROTOS]);
  if (last === '') return { commit: undefined, why: `no commit up to ${baseName} changed the protos` };
  const parent = git(['rev-parse', '--verify', '--quiet', `${last}^1`], true);
  if (!parent) {
    if (git(['rev-parse', '--is-shallow-repository']) === 'true') {
      fail(`this clone is shallow: the commit before ${last.slice(0, 12)} (the last contract change) is missing; run git fetch --unshallow`);
    }
    return { commit: undefined, why: `${last.slice(0, 12)}, the last contract change, is the first commit` };
  }
  return { commit: parent, why: `${parent.slice(0, 12)}, main just before its last contract change ${last.slice(0, 12)}` };
}

/** Writes buf.yaml and every .proto file of `commit` under a new temporary directory. */
function checkout(commit) {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-proto-against-'));
  const names = git(['ls-tree', '-r', '--name-only', commit, '--', 'buf.yaml', 'proto']).split('\n');
  for (const name of names.filter((n) => n === 'buf.yaml' || n.endsWith('.proto'))) {
    mkdirSync(join(dir, dirname(name)), { recursive: true });
    writeFileSync(join(dir, name), execFileSync('git', ['show', `${commit}:${name}`]));
  }
  return dir;
}

function run(args) {
  const r = spawnSync(buf, args, { stdio: 'inherit' });
  if (r.error) fail(`cannot run ${buf}: ${r.error.message}`);
  return r.status === 0;
}

if (!run(['lint'])) fail('buf lint found problems in proto/ (see above)');
process.stdout.write('proto-check: buf lint passed\n');

const against = chooseAgainst();
if (!against.commit) {
  process.stdout.write(`proto-check: buf breaking skipped: ${against.why}\n`);
} else {
  const dir = checkout(against.commit);
  try {
    if (!run(['breaking', '--against', dir])) {
      fail(`buf breaking: the protos break compatibility with ${against.why} (see above). Deployed agents and servers still speak that contract: add a new field or message instead of changing one.`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`proto-check: buf breaking passed against ${against.why}\n`);
}
