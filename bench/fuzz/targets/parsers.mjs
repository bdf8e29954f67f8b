// In-process targets for what parses text from users and the network: specs and PXE configs
// (loadSpec / loadPxeConfig must throw SpecError whose every line is FILE:LINE:COL: …, never
// anything else, never hang), join and API tokens, label selectors and label assignments (a
// valid parse or the typed error). A sample of the mutated specs also goes through the real
// `fleet plan -f`, which must answer with a clear one-line-per-problem error, never a crash.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dist } from '../../lib.mjs';
import { mutateText } from '../mutate.mjs';
import { PXE_CONFIGS, SELECTOR_PIECES, SELECTORS, SPECS, YAML_PIECES } from '../samples.mjs';

/** A call slower than this counts as a hang (the parsers run in microseconds to milliseconds). */
const HANG_MS = 5_000;
const LOCATED = /^\S*:\d+:\d+: \S/;

function randomYaml(rng) {
  const r = rng.int(10);
  if (r === 0) return rng.string(400);
  if (r === 1) return rng.bytes(rng.size(2048)).toString('latin1');
  if (r === 2) return `${'- '.repeat(rng.range(10, 3000))}x`;
  if (r === 3) return `${'['.repeat(rng.range(10, 5000))}`;
  if (r === 4) return `a: &a [x]\n${Array.from({ length: rng.range(2, 12) }, (_, k) => `b${k}: &b${k} [*${k ? `b${k - 1}` : 'a'}, *${k ? `b${k - 1}` : 'a'}]`).join('\n')}\n`;
  if (r === 5) return 'k: v\n'.repeat(rng.range(1, 4000));
  return mutateText(rng, rng.pick([...SPECS, ...PXE_CONFIGS]), YAML_PIECES);
}

function timed(fn) {
  const t = performance.now();
  try {
    return { value: fn(), ms: performance.now() - t };
  } catch (err) {
    return { err, ms: performance.now() - t };
  }
}

/** YAML specs and PXE configs through their loaders. */
export function specTarget(project) {
  const { loadSpec, loadPxeConfig, SpecError } = project;
  return {
    name: 'yaml-specs',
    needsFleet: false,
    concurrency: 1,
    runCase(ctx, rng, i, verdict) {
      const text = randomYaml(rng);
      const pxe = rng.chance(0.3);
      const file = pxe ? 'pxe.yaml' : 'fuzz.yaml';
      const r = timed(() => (pxe ? loadPxeConfig(text, file) : loadSpec(text, file)));
      const input = { loader: pxe ? 'loadPxeConfig' : 'loadSpec', text };
      if (r.ms > HANG_MS) return verdict.finding('hang', `${input.loader} took ${Math.round(r.ms)} ms`, input);
      if (!r.err) return verdict.ok();
      if (!(r.err instanceof SpecError)) return verdict.finding('internal', `${input.loader} threw ${r.err?.name}: ${r.err?.message}`, input);
      const bad = r.err.message.split('\n').find((line) => !line.startsWith(`${file}:`) || !LOCATED.test(line));
      if (bad !== undefined || r.err.problems.length === 0) return verdict.finding('internal', `${input.loader}: a problem without FILE:LINE:COL: ${JSON.stringify(bad)}`, input);
      return verdict.refused();
    },
  };
}

/** Join tokens, API tokens, selectors and label assignments. */
export function tokenTarget(project) {
  const { parseJoinToken, parseApiToken, parseSelector, parseLabelAssignments, MalformedJoinTokenError, InvalidSelectorError, InvalidLabelError, formatJoinToken } = project;
  const join = formatJoinToken({ id: '0123456789ab', secret: 'f'.repeat(40), caHash: 'e'.repeat(64) });
  const api = `fa1_0123456789ab_${'c'.repeat(40)}`;
  const kinds = [
    ['parseJoinToken', () => parseJoinToken, MalformedJoinTokenError, join, ['_', 'fj1_', '0', 'f', ' ', '\n']],
    ['parseApiToken', () => parseApiToken, null, api, ['_', 'fa1_', '0', ' ']],
    ['parseSelector', () => parseSelector, InvalidSelectorError, null, SELECTOR_PIECES],
    ['parseLabelAssignments', () => (t) => parseLabelAssignments(t.split(/\s+/)), InvalidLabelError, 'role=web env=prod a/b=c', ['=', ' ', '/', '.', '-']],
  ];
  return {
    name: 'tokens-selectors',
    needsFleet: false,
    concurrency: 1,
    runCase(ctx, rng, i, verdict) {
      const [name, get, errorClass, seed, pieces] = kinds[i % kinds.length];
      const text = rng.chance(0.2) ? rng.string(200) : rng.chance(0.05) ? `${'a in ('.repeat(rng.range(10, 5000))}` : mutateText(rng, seed ?? rng.pick(SELECTORS), pieces);
      const r = timed(() => get()(text));
      const input = { parser: name, text };
      if (r.ms > HANG_MS) return verdict.finding('hang', `${name} took ${Math.round(r.ms)} ms`, input);
      if (!r.err) return verdict.ok();
      if (!errorClass || !(r.err instanceof errorClass) || !r.err.message) return verdict.finding('internal', `${name} threw ${r.err?.name}: ${r.err?.message}`, input);
      return verdict.refused();
    },
  };
}

/** A sample of mutated specs through the real `fleet plan -f FILE` against the server. */
export const planTarget = {
  name: 'fleet-plan',
  needsFleet: true,
  concurrency: 1,
  setup() {
    return { dir: mkdtempSync(join(tmpdir(), 'fleet-fuzz-plan-')) };
  },
  teardown(state) {
    rmSync(state.dir, { recursive: true, force: true });
  },
  runCase(ctx, rng, i, verdict, state) {
    const text = i % 5 === 0 ? SPECS[i % SPECS.length] : mutateText(rng, rng.pick(SPECS), YAML_PIECES);
    const file = join(state.dir, `spec-${i}.yaml`);
    writeFileSync(file, text);
    const r = spawnSync(process.execPath, [join(dist, 'fleet.js'), 'plan', '-f', file], { env: { ...process.env, FLEET_CONFIG: ctx.fleet.fleet.config }, encoding: 'utf8', timeout: 30_000 });
    const input = { text };
    if (r.error?.code === 'ETIMEDOUT') return verdict.finding('hang', 'fleet plan did not finish in 30 s', input);
    if (r.status === 0) return verdict.ok();
    // A clear error: exit 1 (or 2 for usage), each line of stderr saying what is wrong, no stack trace.
    if ((r.status === 1 || r.status === 2) && r.stderr.trim() && !/\n\s+at |internal server error|INTERNAL/i.test(r.stderr)) return verdict.refused();
    return verdict.finding('internal', `fleet plan exited ${r.status ?? r.signal}: ${r.stderr.slice(0, 300)}`, input);
  },
};
