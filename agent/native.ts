// Loads native add-ons embedded in the standalone agent (Node single-executable application):
// the asset is written to a private temporary file and opened with process.dlopen.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Loads `${name}.node` from the executable's embedded assets. */
export function loadEmbeddedNative(name: string): unknown {
  // node:sea only exists inside a single-executable application, so it is required lazily.
  const sea = createRequire(__filename)('node:sea') as { getAsset(key: string): ArrayBuffer };
  const dir = mkdtempSync(join(tmpdir(), 'fleet-agent-native-'));
  const file = join(dir, `${name}.node`);
  try {
    writeFileSync(file, Buffer.from(sea.getAsset(`${name}.node`)), { mode: 0o500 });
    const module = { exports: {} as unknown };
    process.dlopen(module, file);
    return module.exports;
  } finally {
    // Once loaded, the library stays mapped; the file is not needed any more.
    rmSync(dir, { recursive: true, force: true });
  }
}
