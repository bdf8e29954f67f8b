// Request targets that `new URL` rejects (`//[`, `//a b`) are answered 400 or 404, never thrown:
// on the PXE port (a real plain-HTTP server on loopback) and on a terminal WebSocket upgrade,
// where a throw in the 'upgrade' event used to take the whole server down.
import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { Machines } from '../pxe/machines';
import { startPxeServer } from '../pxe/pxe-server';
import type { Access } from '../access';
import type { ApiAuth } from '../auth';
import type { NodeStore } from '../store/node-store';
import type { ShellSessions } from '../shells/sessions';
import { requestUrl } from './web-common';
import { ShellSockets } from './websocket-shell';

const log = pino({ level: 'silent' });

function raw(port: number, target: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(`GET ${target} HTTP/1.1\r\nHost: pxe\r\nConnection: close\r\n\r\n`));
    let got = '';
    s.on('data', (d) => (got += d));
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
    const { server, port } = await startPxeServer('127.0.0.1', 0, {} as Machines, log);
    closers.push(() => server.close());
    expect(await raw(port, '//[')).toMatch(/^HTTP\/1\.1 400 [\s\S]*malformed request URL/);
    expect(await raw(port, '/pxe/boot.ipxe')).toMatch(/^HTTP\/1\.1 200 [\s\S]*#!ipxe/);
  });

  it('refuses a WebSocket upgrade to one with 404 instead of throwing', () => {
    const sockets = new ShellSockets({ shells: {} as ShellSessions, auth: {} as ApiAuth, access: {} as Access, nodes: {} as NodeStore, sessions: () => { throw new Error('not reached'); }, log });
    closers.push(() => sockets.close());
    const socket = new PassThrough();
    let written = '';
    socket.on('data', (d: Buffer) => (written += d.toString()));
    const req = { url: '//[', headers: { host: 'x', upgrade: 'websocket' } } as unknown as IncomingMessage;
    expect(() => sockets.upgrade(req, socket, Buffer.alloc(0))).not.toThrow();
    expect(written).toMatch(/^HTTP\/1\.1 404 /);
  });
});
