// Test hosts made by several test processes at once (vitest runs suites in parallel workers) get
// subnets of their own, so each reaches the server side of its own link and no other. Needs root.
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { Proc } from './harness';
import { TestHost } from './netns';

const scratch = mkdtempSync(join(tmpdir(), 'fleet-netns-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// A process that makes three hosts, prints them, and removes them when its stdin closes.
const CHILD = `
import { TestHost } from './netns.mjs';
const hosts = [TestHost.create(), TestHost.create(), TestHost.create()];
console.log(JSON.stringify(hosts.map((h) => ({ ns: h.ns, ip: h.ip, peerIp: h.peerIp }))));
process.stdin.resume();
process.stdin.on('end', () => { for (const h of hosts) h.destroy(); process.exit(0); });
`;

describe('test hosts', () => {
  it('gives hosts made by processes started together subnets of their own, each reaching its own peer', async () => {
    await build({ entryPoints: [fileURLToPath(new URL('./netns.ts', import.meta.url))], bundle: true, platform: 'node', format: 'esm', outfile: join(scratch, 'netns.mjs'), logLevel: 'silent' });
    writeFileSync(join(scratch, 'child.mjs'), CHILD);
    const children = Array.from({ length: 4 }, () => new Proc(spawn(process.execPath, [join(scratch, 'child.mjs')], { stdio: ['pipe', 'pipe', 'pipe'] })));
    const mine = TestHost.create();
    try {
      const listed = await Promise.all(children.map(async (c) => JSON.parse((await c.waitForOutput(/^\[.*\]$/m))[0]) as { ns: string; ip: string; peerIp: string }[]));
      const hosts = [...listed.flat(), { ns: mine.ns, ip: mine.ip, peerIp: mine.peerIp }];
      expect(new Set(hosts.map((h) => h.ip)).size).toBe(hosts.length);
      expect(new Set(hosts.map((h) => h.ns)).size).toBe(hosts.length);
      // A connection to the server side of each link is answered there, and the answer comes
      // back down the same link.
      const answers: string[] = [];
      for (const h of hosts) {
        const server = createServer((socket) => socket.end(h.ns));
        await new Promise<void>((ok) => server.listen(0, h.peerIp, ok));
        const { port } = server.address() as AddressInfo;
        const client = new Proc(
          spawn('ip', ['netns', 'exec', h.ns, process.execPath, '-e', `require('net').connect(${port}, '${h.peerIp}').on('data', (d) => process.stdout.write(d)).setTimeout(3000, () => process.exit(2))`], { stdio: 'pipe' }),
        );
        await client.exited;
        server.close();
        answers.push(client.output.trim() || `${h.ns}: no answer`);
      }
      expect(answers).toEqual(hosts.map((h) => h.ns));
    } finally {
      for (const c of children) c.child.stdin!.end();
      await Promise.all(children.map((c) => c.exited));
      mine.destroy();
    }
  }, 60_000);
});
