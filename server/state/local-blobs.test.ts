// Blobs as files under DATA/files: the BlobStore contract (a refused upload leaves no temporary
// file behind), and the files' place and mode.
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalBlobs } from './local-blobs';
import { blobStoreContract } from './test-blob-store';

const root = mkdtempSync(join(tmpdir(), 'fleet-blobs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

blobStoreContract('LocalBlobs', async () => {
  const dir = join(root, `d${++n}`, 'files');
  const store = new LocalBlobs(dir);
  // Everything in the directory that is not a stored blob (a leftover .upload-* file).
  const leftovers = async () => {
    const found: string[] = [];
    for (const name of existsSync(dir) ? readdirSync(dir) : []) if (!(await store.has(name))) found.push(name);
    return found;
  };
  return { store, leftovers };
});

describe('LocalBlobs', () => {
  it('keeps each blob as DATA/files/<sha256>, readable by the server user only', async () => {
    const dir = join(root, 'modes', 'files');
    const store = new LocalBlobs(dir);
    const data = Buffer.from('hello\n');
    const digest = '5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03';
    await store.put(digest, data.length, (async function* () {
      yield data;
    })());
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, digest)).mode & 0o777).toBe(0o600);
  });
});
