import { createServer } from 'node:http';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { flattenFacts, reportStatus } from './desired-state';
import { batchSize, reportFailure, rollbackError, stopReason } from './rollouts';
import { Webhooks, type Alert } from './webhooks';

const report = (statuses: string[], extra: { error?: string; inProgress?: boolean } = {}) => ({
  commandId: '',
  spec: 's',
  revision: 1,
  rolloutId: '',
  dryRun: false,
  resources: statuses.map((status, i) => ({ id: `file:/${i}`, status, changes: [], error: '' })),
  atUnixMs: 0,
  inProgress: extra.inProgress ?? false,
  error: extra.error ?? '',
  recheck: false,
});

describe('rollout batches', () => {
  it('takes a count as is and a percentage of the targets, rounded up, never below one', () => {
    expect(batchSize(2, 6)).toBe(2);
    expect(batchSize('25%', 6)).toBe(2);
    expect(batchSize('10%', 3)).toBe(1);
    expect(batchSize('100%', 7)).toBe(7);
  });
});

describe('when a rollout stops', () => {
  const tally = { errors: 0, total: 4, maxErrors: 1, batch: 0, batches: 2, rollback: false };

  it('goes on within maxErrors and stops past it', () => {
    expect(stopReason(tally)).toBeNull();
    expect(stopReason({ ...tally, errors: 1 })).toBeNull();
    expect(stopReason({ ...tally, errors: 2 })).toBe('2 node(s) failed in batch 1 of 2 (maxErrors 1)');
  });

  it('has failed when every node failed, however large maxErrors is', () => {
    const all = { ...tally, total: 2, maxErrors: 2, batches: 1 };
    expect(stopReason({ ...all, errors: 1 })).toBeNull();
    expect(stopReason({ ...all, errors: 2 })).toBe('all 2 node(s) failed');
    // Before the last batch there are nodes still to try.
    expect(stopReason({ ...tally, total: 4, maxErrors: 4, errors: 2 })).toBeNull();
  });

  it('fails a rollback at its first node that could not be returned', () => {
    expect(stopReason({ ...tally, rollback: true, maxErrors: 2, batches: 1 })).toBeNull();
    expect(stopReason({ ...tally, rollback: true, maxErrors: 2, batches: 1, errors: 1 })).toBe('rollback failed on 1 of 4 node(s)');
  });

  it('says why a report is a failure, and keeps a node\'s first error beside its rollback\'s', () => {
    expect(reportFailure(null, 15 * 60_000)).toBe('no answer within 15 min');
    expect(reportFailure(report(['ok', 'changed']), 1000)).toBeNull();
    expect(reportFailure(report(['ok'], { error: 'malformed' }), 1000)).toBe('malformed');
    const failed = report(['ok', 'failed']);
    failed.resources[1]!.error = 'exit 1';
    expect(reportFailure(failed, 1000)).toBe('file:/1: exit 1');
    expect(rollbackError('health checks not passing', 'file:/1: exit 1')).toBe('health checks not passing; rollback failed: file:/1: exit 1');
    expect(rollbackError('', 'no answer')).toBe('rollback failed: no answer');
  });
});

describe('node state from a report', () => {
  it('is failed, applying, drifted or converged, in that order of precedence', () => {
    expect(reportStatus(report(['ok', 'failed', 'drifted']))).toBe('failed');
    expect(reportStatus(report(['ok'], { error: 'malformed' }))).toBe('failed');
    expect(reportStatus(report(['ok'], { inProgress: true }))).toBe('applying');
    expect(reportStatus(report(['ok', 'drifted']))).toBe('drifted');
    expect(reportStatus(report(['ok', 'changed']))).toBe('converged');
  });

  it('flattens facts into dotted keys for templates, leaving lists out', () => {
    expect(flattenFacts({ os: { distro: 'Debian', arch: 'x64' }, uptimeSeconds: 5, disks: [{ a: 1 }], memory: undefined })).toEqual({
      'os.distro': 'Debian',
      'os.arch': 'x64',
      uptimeSeconds: '5',
    });
  });
});

describe('webhooks', () => {
  it('retries a failing receiver until it takes the alert', async () => {
    const got: Alert[] = [];
    let calls = 0;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (++calls < 3) return res.writeHead(503).end();
        got.push(JSON.parse(body) as Alert);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const hooks = new Webhooks([`http://127.0.0.1:${port}/`], pino({ level: 'silent' }), 10);
    hooks.notify({ type: 'rollout', rollout: 'r-1', spec: 'web', revision: 2, state: 'rolled-back', reason: 'x', at: 'now' });
    await hooks.drain(5000);
    server.close();
    expect(calls).toBe(3);
    expect(got).toEqual([expect.objectContaining({ type: 'rollout', rollout: 'r-1', state: 'rolled-back' })]);
  });
});
