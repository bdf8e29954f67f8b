// How plans and rollouts read: diff signs, per-node headlines and summaries, and the lines printed
// while following a rollout.
import { describe, expect, it } from 'vitest';
import type { ResourceState } from '../proto/gen/fleet/v1/common';
import type { PlanResponse, Rollout, RolloutNode } from '../proto/gen/fleet/v1/control';
import { RolloutProgress, planLines, resourceSign, rolloutVerdict } from './rollout-view';

const res = (id: string, status: string, changes: string[] = [], error = ''): ResourceState => ({ id, status, changes, error });

function rollout(over: Partial<Rollout>, nodes: Partial<RolloutNode>[]): Rollout {
  return {
    id: 'r-1',
    spec: 'web',
    revision: 2,
    previousRevision: 1,
    state: 'running',
    reason: '',
    createdBy: 'admin',
    createdUnixMs: 1,
    updatedUnixMs: 1,
    batchSize: 1,
    batches: nodes.length,
    currentBatch: 0,
    maxErrors: 0,
    errors: 0,
    healthGateMs: 0,
    autoRollback: false,
    rollbackOf: '',
    nodes: nodes.map((n, i) => ({ nodeId: `n${i}`, nodeName: `web-${i + 1}`, batch: i, state: 'waiting', resources: [], error: '', updatedUnixMs: 1, ...n })),
    ...over,
  };
}

describe('plan view', () => {
  it('signs creations, removals, changes and failures like a diff', () => {
    expect(resourceSign(res('file:/a', 'pending', ['create (3 bytes, mode 0644)']))).toBe('+');
    expect(resourceSign(res('package:curl', 'pending', ['install curl']))).toBe('+');
    expect(resourceSign(res('binary:hello', 'pending', ['download hello 1 (sha256 ab…)', 'link bin/hello → 1']))).toBe('+');
    expect(resourceSign(res('binary:hello', 'pending', ['download hello 2 (sha256 ab…)', 'link bin/hello → 2 (was 1)']))).toBe('~');
    expect(resourceSign(res('file:/a', 'pending', ['delete']))).toBe('-');
    expect(resourceSign(res('service:web', 'pending', ['stop', 'disable', 'remove /etc/systemd/system/web.service']))).toBe('-');
    expect(resourceSign(res('file:/a', 'pending', ['content differs (sha256 1 → 2)']))).toBe('~');
    expect(resourceSign(res('file:/a', 'failed', [], 'permission denied'))).toBe('!');
  });

  it('prints a header, each node with what would change, and a summary', () => {
    const plan: PlanResponse = {
      spec: 'web',
      currentRevision: 2,
      specChanged: true,
      nodes: [
        { nodeId: 'a', nodeName: 'node-1', outcome: 'changes', error: '', resources: [res('file:/etc/app.conf', 'pending', ['content differs (sha256 1f2e → 9a8b)']), res('exec:init', 'ok'), res('file:/old', 'pending', ['delete'])] },
        { nodeId: 'b', nodeName: 'node-2', outcome: 'unchanged', error: '', resources: [res('file:/etc/app.conf', 'ok')] },
        { nodeId: 'c', nodeName: 'node-3', outcome: 'offline', error: '', resources: [] },
      ],
    };
    expect(planLines(plan)).toEqual([
      'spec web: revision 2 → 3 (spec changed)',
      '',
      'node-1: 2 to change',
      '    ~ file:/etc/app.conf  content differs (sha256 1f2e → 9a8b)',
      '    - file:/old  delete',
      'node-2: up to date',
      'node-3: offline',
      '',
      '3 nodes: 1 to change, 1 up to date, 1 offline',
    ]);
    const failed = planLines({ ...plan, specChanged: false, nodes: [{ nodeId: 'a', nodeName: 'node-1', outcome: 'failed', error: '', resources: [res('file:/x', 'failed', [], 'permission denied')] }] });
    expect(failed[0]).toBe('spec web: revision 2 (spec unchanged)');
    expect(failed).toContain('node-1: failed: 1 resource failed');
    expect(failed).toContain('    ! file:/x  permission denied');
    expect(failed.at(-1)).toBe('1 node: 1 failed');
  });
});

describe('rollout progress', () => {
  it('prints each node once as it settles, batch changes as notes, and the verdict', () => {
    const out: string[] = [];
    const notes: string[] = [];
    const p = new RolloutProgress((l) => out.push(l), (l) => notes.push(l), { hasChecks: false });
    const nodes = [{}, {}, {}];
    p.update(rollout({}, nodes));
    p.update(rollout({}, [{ state: 'applied', resources: [res('file:/a', 'changed', ['create']), res('file:/b', 'changed', ['create']), res('exec:x', 'ok')] }, {}, {}]));
    p.update(rollout({ currentBatch: 1 }, [{ state: 'applied', resources: [res('file:/a', 'changed'), res('file:/b', 'changed')] }, { state: 'unchanged' }, {}]));
    const done = rollout({ currentBatch: 2, state: 'failed', reason: '1 node(s) failed in batch 3 of 3 (maxErrors 0)' }, [
      { state: 'applied', resources: [res('file:/a', 'changed')] },
      { state: 'unchanged' },
      { state: 'failed', error: 'file:/x: permission denied' },
    ]);
    p.update(done);
    expect(out).toEqual(['web-1: applied (2 changed)', 'web-2: unchanged', 'web-3: failed: file:/x: permission denied']);
    expect(notes).toEqual(['batch 1/3', 'batch 2/3']);
    expect(rolloutVerdict(done)).toBe('rollout r-1 failed: 1 node(s) failed in batch 3 of 3 (maxErrors 0)');
  });

  it('waits for the health gate when the spec has checks, and reports a later rollback', () => {
    const out: string[] = [];
    const p = new RolloutProgress((l) => out.push(l), () => {}, { hasChecks: true });
    p.update(rollout({}, [{ state: 'applied', resources: [res('file:/a', 'changed')] }, {}]));
    expect(out).toEqual([]);
    p.update(rollout({}, [{ state: 'unhealthy', error: 'health checks not passing for 1 s (http: HTTP 500)' }, {}]));
    p.update(rollout({ state: 'rolled-back', reason: 'r' }, [{ state: 'rolled-back', error: 'health checks not passing for 1 s (http: HTTP 500)' }, {}]));
    expect(out).toEqual(['web-1: unhealthy: health checks not passing for 1 s (http: HTTP 500)', 'web-1: rolled-back (it was health checks not passing for 1 s (http: HTTP 500))']);
  });

  it('names the files a node kept because they were edited since fleet wrote them', () => {
    const out: string[] = [];
    const p = new RolloutProgress((l) => out.push(l), () => {}, { hasChecks: false });
    p.update(
      rollout({ state: 'succeeded', currentBatch: 1 }, [
        { state: 'applied', resources: [res('file:/a', 'changed', ['delete']), res('file:/b', 'skipped', [], 'edited since fleet wrote it')] },
        { state: 'failed', error: 'file:/x: permission denied', resources: [res('service:s', 'skipped', [], 'watched /x failed')] },
      ]),
    );
    expect(out).toEqual(['web-1: applied (1 changed), kept file:/b (edited since fleet wrote it)', 'web-2: failed: file:/x: permission denied']);
  });

  it('sums up a successful rollout, and says so when nothing changed', () => {
    const ok = rollout({ state: 'succeeded', currentBatch: 3 }, [{ state: 'healthy', resources: [res('file:/a', 'changed')] }, { state: 'unchanged', resources: [res('file:/a', 'ok')] }, { state: 'applied', resources: [res('file:/a', 'changed')] }]);
    expect(rolloutVerdict(ok)).toBe('rollout r-1 succeeded: 3 nodes, 2 changed, 1 unchanged');
    const same = rollout({ state: 'succeeded', currentBatch: 2 }, [{ state: 'unchanged' }, { state: 'healthy', resources: [res('file:/a', 'ok')] }]);
    expect(rolloutVerdict(same)).toBe('rollout r-1 succeeded; nothing to change: 2 nodes already up to date');
  });
});
