// History exports: Markdown and the files for a git repository, written deterministically, and
// spec names that would escape the output directory refused.
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ListHistoryResponse } from '../proto/gen/fleet/v1/control';
import { UnsafeSpecNameError } from './errors';
import { historyFiles, historyMarkdown, historyView, writeHistoryFiles } from './history-export';

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5);

function history(extra = false): ListHistoryResponse {
  const deployments = [
    { atUnixMs: T0 + 1000, spec: 'web', revision: 1, nodeId: 'n1', nodeName: 'web-1', rolloutId: 'r-a', actor: 'admin', outcome: 'applied', detail: 'file:/etc/app.conf' },
    { atUnixMs: T0 + 2000, spec: 'db', revision: 1, nodeId: 'n2', nodeName: 'db-1', rolloutId: 'r-b', actor: 'admin', outcome: 'failed', detail: 'exec:init: exit 1 | stderr:\nboom' },
    { atUnixMs: T0 + 3000, spec: 'web', revision: 1, nodeId: 'n1', nodeName: 'web-1', rolloutId: '', actor: 'agent', outcome: 'drift-repaired', detail: 'file:/etc/app.conf' },
  ];
  const revisions = [
    { spec: 'web', revision: 1, yaml: 'name: web\n# a comment\nresources: []\n', digest: 'd1', createdBy: 'admin', createdUnixMs: T0 },
    { spec: 'db', revision: 1, yaml: 'name: db\nresources:\n  - type: file\n    path: /x\n    content: "```"\n', digest: 'd2', createdBy: 'admin', createdUnixMs: T0 },
  ];
  if (extra) {
    revisions.push({ spec: 'web', revision: 2, yaml: 'name: web\nresources: []\nchecks: []\n', digest: 'd3', createdBy: 'ops', createdUnixMs: T0 + 5000 });
    deployments.push({ atUnixMs: T0 + 6000, spec: 'web', revision: 2, nodeId: 'n1', nodeName: 'web-1', rolloutId: 'r-c', actor: 'ops', outcome: 'unchanged', detail: '' });
  }
  return { deployments, revisions };
}

/** Every file under `dir` with its content. */
function snapshot(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) Object.assign(out, snapshot(dir, rel));
    else out[rel] = readFileSync(join(dir, rel), 'utf8');
  }
  return out;
}

describe('history export', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleet-history-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('renders Markdown with each spec, its revisions (YAML fenced safely) and a deployments table', () => {
    const md = historyMarkdown(historyView(history()));
    expect(md).toContain('## Spec db');
    expect(md).toContain('### Revision 1');
    expect(md).toContain('Stored 2025-01-02T03:04:05.000Z by admin');
    expect(md).toContain('````yaml\nname: db\n');
    expect(md).toContain('| 2025-01-02T03:04:07.000Z | 1 | db-1 | failed | admin | r-b | exec:init: exit 1 \\| stderr: boom |');
    expect(md.indexOf('## Spec db')).toBeLessThan(md.indexOf('## Spec web'));
  });

  it('writes the same bytes every time, and only what is new changes', () => {
    const first = writeHistoryFiles(dir, historyFiles(dir, historyView(history())));
    expect(first.written).toEqual(['db/HISTORY.md', 'db/revision-1.yaml', 'history.json', 'web/HISTORY.md', 'web/revision-1.yaml']);
    const before = snapshot(dir);
    expect(before['web/revision-1.yaml']).toBe('name: web\n# a comment\nresources: []\n');
    expect(JSON.parse(before['history.json']!)).toMatchObject({ deployments: [{ node: 'web-1', outcome: 'applied' }, { node: 'db-1' }, { outcome: 'drift-repaired', rollout: null }] });
    const mtime = statSync(join(dir, 'history.json')).mtimeMs;

    const again = writeHistoryFiles(dir, historyFiles(dir, historyView(history())));
    expect(again).toEqual({ written: [], unchanged: 5 });
    expect(snapshot(dir)).toEqual(before);
    expect(statSync(join(dir, 'history.json')).mtimeMs).toBe(mtime);

    const more = writeHistoryFiles(dir, historyFiles(dir, historyView(history(true))));
    expect(more.written).toEqual(['history.json', 'web/HISTORY.md', 'web/revision-2.yaml']);
    const after = snapshot(dir);
    expect(after['db/HISTORY.md']).toBe(before['db/HISTORY.md']);
    expect(after['web/HISTORY.md']).toContain('## Revision 2');
  });

  it('refuses spec names that would write outside the directory', () => {
    for (const name of ['../evil', '/etc', 'a/b', '..', '.hidden']) {
      const bad = historyView({ deployments: [], revisions: [{ spec: name, revision: 1, yaml: 'x', digest: '', createdBy: '', createdUnixMs: T0 }] });
      expect(() => historyFiles(dir, bad), name).toThrow(UnsafeSpecNameError);
    }
    expect(readdirSync(dir)).toEqual([]);
  });
});
