// The fuzz runner: runs each target's cases in batches (each case from its own seeded stream, so a
// seed reproduces the inputs whatever the concurrency), checks the fleet's health after every
// batch, saves every finding's input for reproduction, and prints the summary table.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from './prng.mjs';

/** What one target did: the columns of the summary table. */
export class Tally {
  cases = 0;
  crashes = 0;
  hangs = 0;
  internal = 0;
  seconds = 0;
  /** Inputs refused with a clear error / accepted. */
  refused = 0;
  accepted = 0;

  constructor(name) {
    this.name = name;
  }
}

/** Collects findings and writes each input to `outDir` (created on the first finding). */
export class Findings {
  list = [];
  #outDir;

  constructor(outDir) {
    this.#outDir = outDir;
  }

  /** Records one finding of `kind` (crash, hang, internal) with the input that caused it. */
  add(tally, kind, detail, input) {
    if (kind === 'crash') tally.crashes++;
    else if (kind === 'hang') tally.hangs++;
    else tally.internal++;
    const n = this.list.length + 1;
    let file = '';
    if (input !== undefined && this.#outDir) {
      mkdirSync(this.#outDir, { recursive: true });
      file = join(this.#outDir, `${String(n).padStart(4, '0')}-${tally.name}-${kind}.${Buffer.isBuffer(input) ? 'bin' : 'json'}`);
      writeFileSync(file, Buffer.isBuffer(input) ? input : JSON.stringify(input, (_k, v) => (v?.type === 'Buffer' ? Buffer.from(v.data).toString('base64') : v), 2));
    }
    const finding = { target: tally.name, kind, detail: String(detail).slice(0, 300), file };
    this.list.push(finding);
    return finding;
  }
}

/** Runs `fn(i)` for i in [from, to) with at most `concurrency` at once. */
export async function pool(from, to, concurrency, fn) {
  let next = from;
  const worker = async () => {
    while (next < to) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, to - from) }, worker));
}

/** The seeded random stream of case `i` of a target. */
export const caseRng = (seed, target, i) => new Rng(seed).fork(`${target}#${i}`);

/**
 * Runs the given targets. Each target is `{ name, concurrency, setup?(ctx), runCase(ctx, rng, i, verdict) }`
 * where runCase calls `verdict.ok()`, `verdict.refused()`, or `verdict.finding(kind, detail, input)`.
 * `ctx.fleet` is the fleet under attack (or null for in-process targets); its `health()` runs
 * after each of `batches` batches. Returns the tallies, the findings, and RSS before and after.
 */
export async function runFuzz({ seed, casesPerTarget, targets, ctx, batches = 4, outDir, log = () => {} }) {
  const findings = new Findings(outDir);
  const tallies = [];
  const rssBefore = ctx.fleet?.rss();
  let fleetDown = false;
  for (const target of targets) {
    const tally = new Tally(target.name);
    tallies.push(tally);
    const count = typeof casesPerTarget === 'number' ? casesPerTarget : casesPerTarget(target.name);
    if (target.needsFleet && fleetDown) {
      log(`${target.name}: skipped, the fleet is down`);
      continue;
    }
    const started = performance.now();
    const state = target.setup ? await target.setup(ctx) : undefined;
    try {
      const per = Math.max(1, Math.ceil(count / batches));
      for (let from = 0; from < count && !fleetDown; from += per) {
        const to = Math.min(count, from + per);
        await pool(from, to, target.concurrency ?? 1, async (i) => {
          const rng = caseRng(seed, target.name, i);
          tally.cases++;
          const verdict = {
            ok: () => tally.accepted++,
            refused: () => tally.refused++,
            finding: (kind, detail, input) => {
              const f = findings.add(tally, kind, detail, input);
              log(`FINDING ${f.target} ${f.kind}: ${f.detail}${f.file ? ` (input: ${f.file})` : ''}`);
            },
          };
          try {
            await target.runCase(ctx, rng, i, verdict, state);
          } catch (err) {
            verdict.finding('internal', `the fuzzer's case threw: ${err?.stack ?? err}`, { seed, target: target.name, case: i });
          }
        });
        if (target.needsFleet && ctx.fleet) {
          const problems = await ctx.fleet.health();
          for (const p of problems) findings.add(tally, 'crash', p, { seed, target: target.name, batchEndingAt: to });
          if (problems.length) {
            log(`CRASH after ${target.name} cases ${from}..${to - 1}: ${problems.join('; ')}`);
            if (problems.some((p) => /exited|no longer serves/.test(p))) fleetDown = true;
          }
        }
      }
    } finally {
      await target.teardown?.(state);
    }
    tally.seconds = (performance.now() - started) / 1000;
    log(`${target.name}: ${tally.cases} cases, ${tally.refused} refused, ${tally.accepted} accepted, ${tally.crashes + tally.hangs + tally.internal} findings, ${tally.seconds.toFixed(1)} s`);
  }
  return { tallies, findings: findings.list, rssBefore, rssAfter: ctx.fleet?.rss() };
}

/** The summary table, as text. */
export function summaryTable(tallies) {
  const rows = [['target', 'cases', 'crashes', 'hangs/timeouts', 'internal errors', 'seconds'], ...tallies.map((t) => [t.name, t.cases, t.crashes, t.hangs, t.internal, t.seconds.toFixed(1)])];
  const total = tallies.reduce((a, t) => ({ cases: a.cases + t.cases, crashes: a.crashes + t.crashes, hangs: a.hangs + t.hangs, internal: a.internal + t.internal, seconds: a.seconds + t.seconds }), { cases: 0, crashes: 0, hangs: 0, internal: 0, seconds: 0 });
  rows.push(['total', total.cases, total.crashes, total.hangs, total.internal, total.seconds.toFixed(1)]);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  const line = (r) => `| ${r.map((v, c) => (c === 0 ? String(v).padEnd(widths[c]) : String(v).padStart(widths[c]))).join(' | ')} |`;
  return [line(rows[0]), `|${widths.map((w, c) => (c === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}
