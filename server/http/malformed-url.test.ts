// Request targets that `new URL` rejects (`//[`, `//a b`) are answered 400 or 404, never thrown:
// on the PXE port (a real plain-HTTP server on loopback) and on a terminal WebSocket upgrade
// (the real HTTPS front on loopback), where a throw in the 'upgrade' event used to take the whole
// server down.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOrCreatePki } from '../pki';
import type { Machines } from '../pxe';
import { startPxeServer } from './pxe-server';
import type { Releases } from '../releases';
import { MemorySignInLimits } from '../sign-in-limiter';
import { MemoryWebSessions } from './memory-web-sessions';
import { startInstallServer } from './install-server';
import { createWebApp, type WebAppDeps } from './web-app';
import { requestUrl } from './web-common';

const log = pino({ level: 'silent' });

function raw(port: number, target: string, tls = false, headers = 'Connection: close\r\n'): Promise<string> {
  return new Promise((resolve) => {
    const request = `GET ${target} HTTP/1.1\r\nHost: pxe\r\n${headers}\r\n`;
    const s = tls ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => s.write(request)) : connect(port, '127.0.0.1', () => s.write(request));
    let got = '';
    s.on('data', (d) => (got += d));
    s.on('error', () => {});
    s.on('close', () => resolve(got));
  });
}

describe('malformed request URLs', () => {
  const closers: (() => void)[] = [];
  afterAll(() => closers.forEach((c) => c()));

  it('requestUrl returns null for targets that do not parse', () => {
    expect(requestUrl('//[', 'https://x')).toBeNull();
    expect(requestUrl('//a b', 'https://x')).toBeNull();
    expect(requestUrl('/api/nodes?x=1', 'https://x')?.pathname).toBe('/api/nodes');
    expect(requestUrl(undefined, 'https://x')?.pathname).toBe('/');
  });

  it('answers them 400 on the PXE port, and the port keeps serving', async () => {
    const { app, port } = await startPxeServer('127.0.0.1', 0, {} as Machines, log);
    closers.push(() => void app.close());
    expect(await raw(port, '//[')).toMatch(/^HTTP\/1\.1 400 [\s\S]*malformed request URL/);
    expect(await raw(port, '/pxe/boot.ipxe')).toMatch(/^HTTP\/1\.1 200 [\s\S]*#!ipxe/);
  });

  it('refuses a WebSocket upgrade to one with 404 instead of throwing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-front-'));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    const pki = await loadOrCreatePki(dir, []);
    const web = createWebApp({ log, root: null, signInLimits: new MemorySignInLimits(), webSessions: new MemoryWebSessions() } as unknown as WebAppDeps);
    const { app, port } = await startInstallServer('127.0.0.1', 0, { scriptPath: '/dev/null', certChainPem: pki.serverCertChainPem, keyPem: pki.serverKeyPem, caPem: pki.caPem, grpcPort: 1, releases: {} as Releases, defaultVersion: () => undefined, log, web });
    closers.push(() => {
      web.close();
      void app.close();
    });
    const upgrade = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';
    const written = await raw(port, '//[', true, upgrade);
    expect(written).toMatch(/^HTTP\/1\.1 404 /);
    // The port keeps serving.
    expect(await raw(port, '/ca.crt', true)).toMatch(/^HTTP\/1\.1 200 [\s\S]*BEGIN CERTIFICATE/);
  });
});
