// `fleet history` as data: JSON, a Markdown document, and the files `--out DIR` writes for a git
// repository. Everything here is a pure function of the server's answer (no clock, no ordering
// left to chance), so exporting the same history twice gives byte-identical files and `git diff`
// shows only what is new.
import { mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../common/atomic-write';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { NAME_RE } from '../common/spec';
import type { Deployment, ListHistoryResponse, SpecRevision } from '../proto/gen/fleet/v1/control';
import { UnsafeSpecNameError } from './errors';

export interface DeploymentView {
  at: string;
  spec: string;
  revision: number;
  node: string;
  nodeId: string;
  rollout: string | null;
  actor: string;
  outcome: string;
  detail: string;
}

export interface RevisionView {
  spec: string;
  revision: number;
  createdAt: string;
  createdBy: string;
  digest: string;
  yaml: string;
}

export interface HistoryView {
  deployments: DeploymentView[];
  revisions: RevisionView[];
}

const iso = (ms: number) => new Date(ms).toISOString();

export function deploymentView(d: Deployment): DeploymentView {
  return { at: iso(d.atUnixMs), spec: d.spec, revision: d.revision, node: d.nodeName, nodeId: d.nodeId, rollout: d.rolloutId || null, actor: d.actor, outcome: d.outcome, detail: d.detail };
}

export function revisionView(r: SpecRevision): RevisionView {
  return { spec: r.spec, revision: r.revision, createdAt: iso(r.createdUnixMs), createdBy: r.createdBy, digest: r.digest, yaml: r.yaml };
}

/**
 * The history as plain data: deployments oldest first (the server's order, which is the order
 * they were recorded), revisions by spec and number.
 */
export function historyView(res: ListHistoryResponse): HistoryView {
  return {
    deployments: res.deployments.map(deploymentView),
    revisions: [...res.revisions].sort((a, b) => compare(a.spec, b.spec) || a.revision - b.revision).map(revisionView),
  };
}

/** Code-unit order, the same on every machine (localeCompare is not). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The specs the history concerns, sorted. */
function specNames(view: HistoryView): string[] {
  return [...new Set([...view.revisions.map((r) => r.spec), ...view.deployments.map((d) => d.spec)])].sort(compare);
}

function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\\/g, '\\\\').replace(/\|/g, '\\|').trim() || '-';
}

/** A fenced code block that survives backticks inside the text. */
function fence(lang: string, text: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const marks = '`'.repeat(longest + 1);
  return `${marks}${lang}\n${text}${text.endsWith('\n') || text === '' ? '' : '\n'}${marks}`;
}

/**
 * One spec's history in Markdown: its revisions newest first (who, when, digest, the YAML), then
 * its deployments newest first. `level` is the heading level of the spec's own title.
 */
export function specMarkdown(spec: string, view: HistoryView, level = 1): string {
  const h = (n: number) => '#'.repeat(level + n);
  const revisions = view.revisions.filter((r) => r.spec === spec).reverse();
  const deployments = view.deployments.filter((d) => d.spec === spec).reverse();
  const out: string[] = [`${h(0)} Spec ${spec}`, ''];
  out.push(`${revisions.length === 1 ? '1 revision' : `${revisions.length} revisions`}, ${deployments.length === 1 ? '1 deployment' : `${deployments.length} deployments`}.`, '');
  for (const r of revisions) {
    out.push(`${h(1)} Revision ${r.revision}`, '', `Stored ${r.createdAt} by ${r.createdBy} (sha256 \`${r.digest}\`).`, '', fence('yaml', r.yaml), '');
  }
  out.push(`${h(1)} Deployments`, '');
  if (deployments.length === 0) {
    out.push('None.', '');
  } else {
    out.push('| Time | Revision | Node | Outcome | By | Rollout | Detail |', '| --- | --- | --- | --- | --- | --- | --- |');
    for (const d of deployments) out.push(`| ${d.at} | ${d.revision} | ${cell(d.node)} | ${d.outcome} | ${cell(d.actor)} | ${d.rollout ?? '-'} | ${cell(d.detail)} |`);
    out.push('');
  }
  return out.join('\n');
}

/** The whole history as one Markdown document (`fleet history --export md`). */
export function historyMarkdown(view: HistoryView): string {
  const specs = specNames(view);
  const parts = ['# Deployment history', '', specs.length ? `Specs: ${specs.map((s) => `\`${s}\``).join(', ')}.` : 'Nothing deployed yet.', ''];
  for (const spec of specs) parts.push(specMarkdown(spec, view, 2));
  return parts.join('\n').replace(/\n+$/, '\n');
}

/** Throws unless `spec` is a plain spec name that stays inside `dir`. */
export function checkSpecDirName(dir: string, spec: string): void {
  const target = resolve(dir, spec);
  const rel = relative(resolve(dir), target);
  if (!NAME_RE.test(spec) || spec === '.' || spec === '..' || rel !== spec || rel.startsWith('..') || rel.includes(sep)) throw new UnsafeSpecNameError(spec);
}

/**
 * The files `--out DIR` writes, by path relative to DIR: `<spec>/revision-<N>.yaml` (the YAML as
 * stored), `<spec>/HISTORY.md`, and `history.json`.
 * @throws UnsafeSpecNameError for a spec name that would leave DIR.
 */
export function historyFiles(dir: string, view: HistoryView): Map<string, string> {
  const files = new Map<string, string>();
  for (const spec of specNames(view)) {
    checkSpecDirName(dir, spec);
    for (const r of view.revisions.filter((x) => x.spec === spec)) files.set(`${spec}/revision-${r.revision}.yaml`, r.yaml);
    files.set(`${spec}/HISTORY.md`, specMarkdown(spec, view).replace(/\n+$/, '\n'));
  }
  files.set('history.json', `${JSON.stringify(view, null, 2)}\n`);
  return files;
}

/**
 * Writes the files under `dir`, leaving alone those whose content is already the same; returns
 * the paths (relative to `dir`) that were created or changed, and how many were already current.
 */
export function writeHistoryFiles(dir: string, files: Map<string, string>): { written: string[]; unchanged: number } {
  const written: string[] = [];
  let unchanged = 0;
  for (const [rel, content] of [...files].sort(([a], [b]) => compare(a, b))) {
    const path = join(dir, ...rel.split('/'));
    let before: string | undefined;
    try {
      before = readFileSync(path, 'utf8');
    } catch {
      before = undefined;
    }
    if (before === content) {
      unchanged++;
      continue;
    }
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic(path, content);
    written.push(rel);
  }
  return { written, unchanged };
}
