// Recordings as files under DATA/recordings: the RecordingStore contract, and the files' place
// and mode (the operator's backups and the docs name them).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalRecordings } from './local-recordings';
import { recordingStoreContract } from './test-recording-store';

const root = mkdtempSync(join(tmpdir(), 'fleet-recordings-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => new LocalRecordings(join(root, `d${++n}`, 'recordings'));

recordingStoreContract('LocalRecordings', fresh);

describe('LocalRecordings', () => {
  it('keeps each recording as DATA/recordings/<id>.cast, readable by the server user only', async () => {
    const dir = join(root, 'modes', 'recordings');
    const store = new LocalRecordings(dir);
    const out = store.create('s5');
    out.write('x\n');
    await out.close();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 's5.cast')).mode & 0o777).toBe(0o600);
  });
});
