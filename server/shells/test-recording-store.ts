// The contract every RecordingStore keeps (recording-store.ts), as a test suite a store runs on
// itself: the local one here (local-recordings.test.ts), a shared one later with the same cases.
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { RecordingStore } from './recording-store';

/** Everything a stream gives, as text. */
export async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Runs the RecordingStore contract against stores made by `make` (a fresh, empty one per test). */
export function recordingStoreContract(name: string, make: () => RecordingStore | Promise<RecordingStore>): void {
  describe(`RecordingStore contract: ${name}`, () => {
    it('reads back what was written, in order, once closed', async () => {
      const store = await make();
      const out = store.create('s1');
      out.write('{"version": 2}\n');
      for (let i = 0; i < 100; i++) out.write(`[${i}, "o", "line ${i}"]\n`);
      await out.close();
      const text = await readAll((await store.open('s1'))!);
      expect(text.split('\n')).toHaveLength(102);
      expect(text.startsWith('{"version": 2}\n[0, "o", "line 0"]\n')).toBe(true);
      expect(text.endsWith('[99, "o", "line 99"]\n')).toBe(true);
      expect(await store.exists('s1')).toBe(true);
    });

    it('has nothing under an unknown id, nor under one that is not an id', async () => {
      const store = await make();
      for (const id of ['s-unknown', '../s1', '', 'a/b', 'x'.repeat(65)]) {
        expect(await store.open(id)).toBeUndefined();
        expect(await store.exists(id)).toBe(false);
      }
    });

    it('lets a recording be read while it is still being written', async () => {
      const store = await make();
      const out = store.create('s2');
      out.write('first\n');
      // Give the writer a moment to store what it was given (it never makes the session wait).
      await expect.poll(async () => (await store.exists('s2')) && readAll((await store.open('s2'))!)).toBe('first\n');
      out.write('second\n');
      await out.close();
      expect(await readAll((await store.open('s2'))!)).toBe('first\nsecond\n');
    });

    it('never lets a second writer change an existing recording', async () => {
      const store = await make();
      const first = store.create('s3');
      first.write('original\n');
      await first.close();
      const second = store.create('s3');
      second.write('overwritten\n');
      await second.close();
      expect(await readAll((await store.open('s3'))!)).toBe('original\n');
    });

    it('removes a recording, and removing none is harmless', async () => {
      const store = await make();
      const out = store.create('s4');
      out.write('x\n');
      await out.close();
      await store.remove('s4');
      await store.remove('s4');
      await store.remove('never-there');
      expect(await store.exists('s4')).toBe(false);
      expect(await store.open('s4')).toBeUndefined();
    });
  });
}
