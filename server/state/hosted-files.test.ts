// An upload abandoned while its data is still being written (the client's stream breaks off)
// fails that upload only: no file is kept and the late write error does not crash the server
// (found by bench/fuzz: an unhandled 'error' on the file stream killed fleet-server).
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { StateStore } from '../store';
import { HostedFiles } from './hosted-files';
import { LocalBlobs } from './local-blobs';

describe('HostedFiles uploads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-hosted-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('survives an upload whose stream breaks while a write is pending', async () => {
    const files = new HostedFiles(new LocalBlobs(join(dir, 'files')), { hostedFile: () => undefined } as unknown as StateStore);
    const broken = new Error('Premature close');
    async function* chunks(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(1000, 1);
      // The file is open and the first write done; the next write is still under way when the
      // stream breaks.
      await new Promise((r) => setTimeout(r, 30));
      yield Buffer.alloc(1000, 2);
      throw broken;
    }
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      for (let i = 0; i < 5; i++) await expect(files.store({ name: 'x.bin', size: 16 << 20, sha256: 'a'.repeat(64) }, chunks(), 'test')).rejects.toBe(broken);
      // Let the abandoned writes finish and report.
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(uncaught).toEqual([]);
    expect(existsSync(join(dir, 'files')) ? readdirSync(join(dir, 'files')) : []).toEqual([]);
  });
});
