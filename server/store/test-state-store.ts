// The contract every StateStore keeps (state-store.ts), as a test suite a store runs on itself: the
// SQLite one (state-store.test.ts) and the PostgreSQL one (server/postgres/pg-state-store.test.ts).
// What desired state, rollouts and hosted files (server/state/) rely on: revisions numbered per
// spec, rollouts found newest first, where each node stands, checks that report their changes,
// the deployment history, and what forgetting a node removes.
import { describe, expect, it } from 'vitest';
import type { CheckState, ResourceState } from '../../proto/gen/fleet/v1/common';
import type { Deployment } from '../../proto/gen/fleet/v1/control';
import { CHECK_OUTPUT_MAX, NodeRolloutState, RolloutState, type RevisionRecord, type RolloutRecord, type StateStore } from './state-store';

/** Revision content for `spec` (its number is the store's to give). */
export function revisionInput(spec: string, yaml = `name: ${spec}\n`): Omit<RevisionRecord, 'revision'> {
  return { spec, yaml, specJson: JSON.stringify({ name: spec }), digest: `sha256:${yaml.length}`, createdBy: 'alice', createdAt: 1_000 };
}

/** A running rollout of `spec` to revision 2, created at `createdAt`. */
function rolloutRecord(id: string, spec: string, createdAt: number, state: RolloutState = RolloutState.Running): RolloutRecord {
  const batches = { batchSize: 2, currentBatch: 0, maxErrors: 1, healthGateMs: 30_000, autoRollback: true };
  return { id, spec, revision: 2, previousRevision: 1, state, reason: '', ...batches, rollbackOf: '', createdBy: 'alice', createdAt, updatedAt: createdAt };
}

function check(spec: string, name: string, passing: boolean, output = ''): CheckState {
  return { spec, name, passing, output, sinceUnixMs: 100, checkedUnixMs: 200 };
}

function deployment(spec: string, nodeId: string, outcome: string): Omit<Deployment, 'atUnixMs'> {
  return { spec, revision: 3, nodeId, nodeName: `name-${nodeId}`, rolloutId: 'r-1', actor: 'alice', outcome, detail: `${spec} on ${nodeId}` };
}

const resources: ResourceState[] = [{ id: 'file:/etc/app.conf', status: 'changed', changes: ['content'], error: '' }];

/** Runs the StateStore contract against stores made by `make` (a fresh, empty one per test). */
export function stateStoreContract(name: string, make: () => Promise<StateStore>): void {
  describe(`StateStore contract: ${name}`, () => {
    it('numbers the revisions of each spec from 1, and gives them back', async () => {
      const store = await make();
      expect(await store.latestRevision('web')).toBeUndefined();
      expect(await store.addRevision(revisionInput('web', 'v1'))).toEqual({ ...revisionInput('web', 'v1'), revision: 1 });
      await store.addRevision(revisionInput('db'));
      expect((await store.addRevision(revisionInput('web', 'v2'))).revision).toBe(2);
      expect(await store.latestRevision('web')).toEqual({ ...revisionInput('web', 'v2'), revision: 2 });
      expect(await store.revision('web', 1)).toEqual({ ...revisionInput('web', 'v1'), revision: 1 });
      expect(await store.revision('web', 3)).toBeUndefined();
      expect(await store.specNames()).toEqual(['db', 'web']);
      expect((await store.revisions('web')).map((r) => r.yaml)).toEqual(['v1', 'v2']);
      expect((await store.revisions()).map((r) => `${r.spec}@${r.revision}`)).toEqual(['db@1', 'web@1', 'web@2']);
      expect((await store.revisions('db'))[0]).toEqual({ spec: 'db', revision: 1, yaml: 'name: db\n', digest: 'sha256:9', createdBy: 'alice', createdUnixMs: 1_000 });
    });

    it('stores a rollout with its nodes waiting, in position order', async () => {
      const store = await make();
      const r = { ...rolloutRecord('r-1', 'web', 5_000), autoRollback: false, reason: 'why', rollbackOf: 'r-0' };
      await store.createRollout(r, [
        { nodeId: 'n-2', nodeName: 'two', batch: 1, position: 1, fromRevision: 0, toRevision: 2 },
        { nodeId: 'n-1', nodeName: 'one', batch: 0, position: 0, fromRevision: 1, toRevision: 2 },
      ]);
      expect(await store.rollout('r-1')).toEqual(r);
      expect(await store.rollout('r-2')).toBeUndefined();
      expect(await store.rolloutNodes('r-1')).toEqual([
        { rolloutId: 'r-1', nodeId: 'n-1', nodeName: 'one', batch: 0, position: 0, fromRevision: 1, toRevision: 2, state: NodeRolloutState.Waiting, resources: [], error: '', updatedAt: 5_000 },
        { rolloutId: 'r-1', nodeId: 'n-2', nodeName: 'two', batch: 1, position: 1, fromRevision: 0, toRevision: 2, state: NodeRolloutState.Waiting, resources: [], error: '', updatedAt: 5_000 },
      ]);
      expect(await store.rolloutNodes('r-2')).toEqual([]);
    });

    it('lists rollouts newest first, the later stored first when created together', async () => {
      const store = await make();
      for (const [id, spec, at] of [['r-a', 'web', 1_000], ['r-c', 'db', 3_000], ['r-b', 'web', 2_000], ['r-0', 'web', 2_000]] as const) await store.createRollout(rolloutRecord(id, spec, at), []);
      expect((await store.rollouts(10)).map((r) => r.id)).toEqual(['r-c', 'r-0', 'r-b', 'r-a']);
      expect((await store.rollouts(2)).map((r) => r.id)).toEqual(['r-c', 'r-0']);
      expect((await store.rollouts(10, 'web')).map((r) => r.id)).toEqual(['r-0', 'r-b', 'r-a']);
      expect((await store.rollouts(1, 'web')).map((r) => r.id)).toEqual(['r-0']);
      expect(await store.rollouts(10, 'none')).toEqual([]);
    });

    it('finds the rollouts still going and the active one of a spec', async () => {
      const store = await make();
      const states = [RolloutState.Succeeded, RolloutState.RollingBack, RolloutState.Paused, RolloutState.Running, RolloutState.Failed, RolloutState.RolledBack];
      for (const [i, state] of states.entries()) await store.createRollout(rolloutRecord(`r-${i}`, i < 3 ? 'web' : 'db', 1_000 + i, state), []);
      expect((await store.unfinishedRollouts()).map((r) => r.id)).toEqual(['r-1', 'r-3']);
      expect((await store.activeRollout('web'))?.id).toBe('r-2');
      expect((await store.activeRollout('db'))?.id).toBe('r-3');
      await store.updateRollout('r-2', { state: RolloutState.Succeeded });
      expect((await store.activeRollout('web'))?.id).toBe('r-1');
      await store.updateRollout('r-1', { state: RolloutState.RolledBack });
      expect(await store.activeRollout('web')).toBeUndefined();
      expect(await store.activeRollout('none')).toBeUndefined();
    });

    it('changes only the rollout fields given', async () => {
      const store = await make();
      const r = rolloutRecord('r-1', 'web', 1_000);
      await store.createRollout(r, []);
      const before = Date.now();
      await store.updateRollout('r-1', { state: RolloutState.Paused, reason: 'paused by alice' });
      await store.updateRollout('r-1', { currentBatch: 3 });
      const now = await store.rollout('r-1');
      expect(now).toEqual({ ...r, state: RolloutState.Paused, reason: 'paused by alice', currentBatch: 3, updatedAt: now!.updatedAt });
      expect(now!.updatedAt).toBeGreaterThanOrEqual(before);
      await store.updateRollout('r-none', { state: RolloutState.Failed });
      expect(await store.rollout('r-none')).toBeUndefined();
    });

    it('records each node of a rollout, keeping its resources unless new ones are given', async () => {
      const store = await make();
      await store.createRollout(rolloutRecord('r-1', 'web', 1_000), [
        { nodeId: 'n-1', nodeName: 'one', batch: 0, position: 0, fromRevision: 1, toRevision: 2 },
        { nodeId: 'n-2', nodeName: 'two', batch: 0, position: 1, fromRevision: 1, toRevision: 2 },
      ]);
      const before = Date.now();
      await store.updateRolloutNode('r-1', 'n-1', NodeRolloutState.Failed, resources, 'exit 1');
      await store.updateRolloutNode('r-1', 'n-1', NodeRolloutState.RollingBack, undefined, 'exit 1');
      await store.updateRolloutNode('r-1', 'n-2', NodeRolloutState.Applied, []);
      await store.updateRolloutNode('r-1', 'n-none', NodeRolloutState.Applied);
      const [one, two] = await store.rolloutNodes('r-1');
      expect(one).toMatchObject({ state: NodeRolloutState.RollingBack, resources, error: 'exit 1' });
      expect(one!.updatedAt).toBeGreaterThanOrEqual(before);
      expect(two).toMatchObject({ state: NodeRolloutState.Applied, resources: [], error: '' });
      await store.updateRolloutNode('r-1', 'n-1', NodeRolloutState.RolledBack);
      expect((await store.rolloutNodes('r-1'))[0]).toMatchObject({ state: NodeRolloutState.RolledBack, resources, error: '' });
      expect(await store.rolloutNodes('r-1')).toHaveLength(2);
    });

    it('records where a node stands: sent, then reported, drift keeping its time', async () => {
      const store = await make();
      expect(await store.nodeSpec('n-1', 'web')).toBeUndefined();
      await store.setDesired('n-1', 'web', 2);
      expect(await store.nodeSpec('n-1', 'web')).toEqual({ nodeId: 'n-1', spec: 'web', desiredRevision: 2, appliedRevision: 0, status: 'applying', resources: [], reportedAt: 0, driftAt: 0 });
      await store.setReported('n-1', 'web', 2, 'drifted', resources, 5_000, true);
      await store.setReported('n-1', 'web', 2, 'converged', [], 6_000, false);
      expect(await store.nodeSpec('n-1', 'web')).toEqual({ nodeId: 'n-1', spec: 'web', desiredRevision: 2, appliedRevision: 2, status: 'converged', resources: [], reportedAt: 6_000, driftAt: 5_000 });
      // Sending the next revision keeps what was reported until the node reports again.
      await store.setDesired('n-1', 'web', 3);
      expect(await store.nodeSpec('n-1', 'web')).toMatchObject({ desiredRevision: 3, appliedRevision: 2, status: 'applying', reportedAt: 6_000, driftAt: 5_000 });
      // A spec the node reports that this server never sent it.
      await store.setReported('n-1', 'db', 4, 'converged', resources, 7_000, true);
      await store.setReported('n-1', 'cache', 1, 'failed', [], 7_000, false);
      expect(await store.nodeSpec('n-1', 'db')).toEqual({ nodeId: 'n-1', spec: 'db', desiredRevision: 4, appliedRevision: 4, status: 'converged', resources, reportedAt: 7_000, driftAt: 7_000 });
      expect((await store.nodeSpecs('n-1')).map((s) => `${s.spec}:${s.driftAt}`)).toEqual(['cache:0', 'db:7000', 'web:5000']);
      expect(await store.nodeSpecs('n-2')).toEqual([]);
    });

    it('replaces a node\'s checks and tells which changed', async () => {
      const store = await make();
      const first = [check('web', 'http', true), check('web', 'port', false, 'x'.repeat(CHECK_OUTPUT_MAX + 100)), check('db', 'ping', true)];
      expect(await store.replaceChecks('n-1', first)).toEqual(first.map((c) => ({ check: c, before: undefined })));
      expect(await store.checks('n-1')).toEqual([
        { ...check('db', 'ping', true), nodeId: 'n-1' },
        { ...check('web', 'http', true), nodeId: 'n-1' },
        { ...check('web', 'port', false, 'x'.repeat(CHECK_OUTPUT_MAX)), nodeId: 'n-1' },
      ]);
      // http fails now, port still fails, ping is no longer reported, disk is new.
      const second = [check('web', 'http', false, 'HTTP 500'), check('web', 'port', false), check('web', 'disk', true)];
      expect(await store.replaceChecks('n-1', second)).toEqual([
        { check: second[0], before: true },
        { check: second[2], before: undefined },
      ]);
      expect((await store.checks('n-1')).map((c) => `${c.name}:${c.passing}:${c.output}`)).toEqual(['disk:true:', 'http:false:HTTP 500', 'port:false:']);
      // A check named twice in one report: the later one is kept.
      await store.replaceChecks('n-1', [check('web', 'http', false, 'old'), check('web', 'http', true, 'new')]);
      expect((await store.checks('n-1')).map((c) => `${c.name}:${c.passing}:${c.output}`)).toEqual(['http:true:new']);
      expect(await store.replaceChecks('n-1', [])).toEqual([]);
      expect(await store.checks('n-1')).toEqual([]);
    });

    it('lists every node\'s checks by node, spec and name', async () => {
      const store = await make();
      await store.replaceChecks('n-2', [check('web', 'b', true), check('app', 'z', true)]);
      await store.replaceChecks('n-1', [check('web', 'a', false), check('web', 'B', true)]);
      expect((await store.checks()).map((c) => `${c.nodeId}/${c.spec}/${c.name}`)).toEqual(['n-1/web/B', 'n-1/web/a', 'n-2/app/z', 'n-2/web/b']);
    });

    it('forgets one spec of a node, or the whole node, and nothing of the others', async () => {
      const store = await make();
      for (const node of ['n-1', 'n-2']) {
        await store.setDesired(node, 'web', 1);
        await store.setDesired(node, 'db', 1);
        await store.replaceChecks(node, [check('web', 'http', true), check('db', 'ping', true)]);
      }
      await store.forgetNodeSpec('n-1', 'web');
      expect((await store.nodeSpecs('n-1')).map((s) => s.spec)).toEqual(['db']);
      expect((await store.checks('n-1')).map((c) => c.spec)).toEqual(['db']);
      await store.forgetNode('n-1');
      expect(await store.nodeSpecs('n-1')).toEqual([]);
      expect(await store.checks('n-1')).toEqual([]);
      expect((await store.nodeSpecs('n-2')).map((s) => s.spec)).toEqual(['db', 'web']);
      expect(await store.checks('n-2')).toHaveLength(2);
    });

    it('keeps the deployment history, the newest entries oldest first', async () => {
      const store = await make();
      await store.recordDeployment(deployment('web', 'n-1', 'applied'), 1_000);
      await store.recordDeployment(deployment('db', 'n-1', 'failed'), 2_000);
      await store.recordDeployment(deployment('web', 'n-2', 'unchanged'), 3_000);
      await store.recordDeployment(deployment('web', 'n-1', 'rolled-back'), 4_000);
      const before = Date.now();
      await store.recordDeployment(deployment('db', 'n-2', 'drift-repaired'));
      const all = await store.deployments({ limit: 10 });
      expect(all.map((d) => d.outcome)).toEqual(['applied', 'failed', 'unchanged', 'rolled-back', 'drift-repaired']);
      expect(all[0]).toEqual({ ...deployment('web', 'n-1', 'applied'), atUnixMs: 1_000 });
      expect(all[4]!.atUnixMs).toBeGreaterThanOrEqual(before);
      expect((await store.deployments({ limit: 2 })).map((d) => d.outcome)).toEqual(['rolled-back', 'drift-repaired']);
      expect((await store.deployments({ spec: 'web', limit: 10 })).map((d) => d.atUnixMs)).toEqual([1_000, 3_000, 4_000]);
      expect((await store.deployments({ nodeId: 'n-1', limit: 10 })).map((d) => d.atUnixMs)).toEqual([1_000, 2_000, 4_000]);
      expect((await store.deployments({ spec: 'web', nodeId: 'n-1', limit: 1 })).map((d) => d.atUnixMs)).toEqual([4_000]);
      expect((await store.deployments({ spec: '', nodeId: '', limit: 10 })).length).toBe(5);
      expect(await store.deployments({ spec: 'none', limit: 10 })).toEqual([]);
    });

    it('records a hosted file once, keeping the first record', async () => {
      const store = await make();
      const f = { sha256: 'ab'.repeat(32), name: 'app.tar.gz', size: 5_000_000_000, createdBy: 'alice', createdAt: 1_000 };
      expect(await store.hostedFile(f.sha256)).toBeUndefined();
      await store.addHostedFile(f);
      await store.addHostedFile({ ...f, name: 'again.tar.gz', createdBy: 'bob' });
      expect(await store.hostedFile(f.sha256)).toEqual(f);
    });
  });
}
