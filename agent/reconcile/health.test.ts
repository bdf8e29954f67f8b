import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../common/logger';
import { check } from '../../common/spec/schema';
import { HealthMonitor, type CheckState } from './index';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function monitor(root = tmpdir()) {
  const reports: CheckState[][] = [];
  const health = new HealthMonitor({ root, onChange: (states) => reports.push(states), log: silentLogger() });
  cleanups.push(() => health.stop());
  return { health, reports };
}

function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

describe('HealthMonitor', () => {
  it('reports an http check when it first runs and when it flips, not on every run', async () => {
    let status = 200;
    const server = createHttpServer((_req, res) => res.writeHead(status).end());
    cleanups.push(() => server.close());
    const port = await listen(server);
    const { health, reports } = monitor();
    expect(health.states()).toEqual([]);

    health.set('web', [check.parse({ name: 'up', http: `http://127.0.0.1:${port}/health`, interval: '50ms' })]);
    await vi.waitFor(() => expect(reports).toHaveLength(1));
    expect(reports[0]).toEqual([{ spec: 'web', name: 'up', passing: true, output: 'HTTP 200', sinceUnixMs: expect.any(Number), checkedUnixMs: expect.any(Number) }]);
    const checked = health.states()[0]!.checkedUnixMs;
    await vi.waitFor(() => expect(health.states()[0]!.checkedUnixMs).toBeGreaterThan(checked));
    expect(reports).toHaveLength(1);

    status = 500;
    await vi.waitFor(() => expect(reports).toHaveLength(2));
    expect(reports[1]![0]).toMatchObject({ passing: false, output: 'HTTP 500' });
  });

  it('after set() again (a new apply), reports the whole list once every check has run, keeping since', async () => {
    const { health, reports } = monitor();
    const checks = [check.parse({ name: 'a', cmd: 'true', interval: '1h' }), check.parse({ name: 'b', cmd: 'true', interval: '1h' })];
    health.set('app', checks);
    await vi.waitFor(() => expect(health.states()).toHaveLength(2));
    const since = Object.fromEntries(health.states().map((c) => [c.name, c.sinceUnixMs]));
    const before = reports.length;
    health.set('app', checks);
    await vi.waitFor(() => expect(reports.length).toBe(before + 1));
    const latest = [...reports.at(-1)!].sort((x, y) => x.name.localeCompare(y.name));
    expect(latest.map((c) => [c.name, c.passing, c.sinceUnixMs])).toEqual([
      ['a', true, since.a],
      ['b', true, since.b],
    ]);
  });

  it('fails a tcp check once the port closes', async () => {
    const server = createTcpServer((socket) => socket.destroy());
    const port = await listen(server);
    const { health, reports } = monitor();
    health.set('db', [check.parse({ name: 'port', tcp: `127.0.0.1:${port}`, interval: '50ms' })]);
    await vi.waitFor(() => expect(reports.at(-1)?.[0]).toMatchObject({ passing: true, output: 'connected' }));

    await new Promise((resolve) => server.close(resolve));
    await vi.waitFor(() => expect(reports.at(-1)?.[0]).toMatchObject({ passing: false, output: `connect ECONNREFUSED 127.0.0.1:${port}` }));
  });

  it('runs cmd checks in the root, and set() with no checks drops the spec', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fleet-health-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const { health, reports } = monitor(root);
    health.set('app', [check.parse({ name: 'ready', cmd: 'echo checking; test -e ready || { echo "not ready yet"; exit 1; }', interval: '50ms' })]);
    await vi.waitFor(() => expect(reports.at(-1)?.[0]).toMatchObject({ passing: false, output: 'exit 1: not ready yet' }));

    writeFileSync(join(root, 'ready'), '');
    await vi.waitFor(() => expect(reports.at(-1)?.[0]).toMatchObject({ passing: true, output: 'exit 0' }));

    health.set('app', []);
    expect(reports.at(-1)).toEqual([]);
    expect(health.states()).toEqual([]);
  });
});
