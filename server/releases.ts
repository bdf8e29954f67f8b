// Agent releases the server hands out: DATA/releases/<version>/fleet-agent-linux-<arch>[.gz|.zst].
// The build next to the server (dist/fleet-agent-linux-<arch>) is imported as the server's own
// version at start. Checksums are computed here, cached by file size and modification time.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { copyFileAtomic } from '../common/atomic-write';
import { join } from 'node:path';
import type { Logger } from 'pino';

export const ARCHES = ['x64', 'arm64'] as const;
export type Arch = (typeof ARCHES)[number];
const VERSION_RE = /^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$/;
const SUFFIXES = ['', '.gz', '.zst'] as const;

export interface ReleaseFile {
  name: string;
  path: string;
  size: number;
  sha256: string;
}

/** True for strings that can name a release directory (no path tricks). */
export function validVersion(version: string): boolean {
  return VERSION_RE.test(version) && !version.includes('..');
}

export class Releases {
  readonly dir: string;
  readonly #hashes = new Map<string, { key: string; sha256: string }>();

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
  }

  /** Copies a locally built agent (dist/) in as `version` unless an identical one is there. */
  importBuild(buildDir: string, version: string, log: Logger): void {
    for (const arch of ARCHES) {
      const src = join(buildDir, `fleet-agent-linux-${arch}`);
      if (!existsSync(src)) continue;
      const dest = join(this.dir, version);
      mkdirSync(dest, { recursive: true });
      for (const suffix of SUFFIXES) {
        const from = src + suffix;
        const to = join(dest, `fleet-agent-linux-${arch}${suffix}`);
        if (!existsSync(from)) continue;
        if (existsSync(to) && this.#sha(to) === this.#sha(from)) continue;
        copyFileAtomic(from, to);
        log.info({ version, file: to }, 'imported agent build');
      }
    }
  }

  /** Versions present, newest modification first. */
  versions(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((v) => validVersion(v) && this.files(v).length > 0)
      .sort((a, b) => statSync(join(this.dir, b)).mtimeMs - statSync(join(this.dir, a)).mtimeMs);
  }

  /** The files of one version with their checksums. */
  files(version: string): ReleaseFile[] {
    if (!validVersion(version)) return [];
    const out: ReleaseFile[] = [];
    for (const arch of ARCHES) {
      for (const suffix of SUFFIXES) {
        const name = `fleet-agent-linux-${arch}${suffix}`;
        const path = join(this.dir, version, name);
        if (!existsSync(path)) continue;
        out.push({ name, path, size: statSync(path).size, sha256: this.#sha(path) });
      }
    }
    return out;
  }

  /** One file, or undefined for unknown versions, architectures or encodings. */
  file(version: string, arch: string, suffix = ''): ReleaseFile | undefined {
    if (!(ARCHES as readonly string[]).includes(arch)) return undefined;
    return this.files(version).find((f) => f.name === `fleet-agent-linux-${arch}${suffix}`);
  }

  /** sha256sums.txt for a version (sha256sum -c format). */
  sums(version: string): string | undefined {
    const files = this.files(version);
    return files.length ? files.map((f) => `${f.sha256}  ${f.name}\n`).join('') : undefined;
  }

  #sha(path: string): string {
    const st = statSync(path);
    const key = `${st.size}:${st.mtimeMs}`;
    const cached = this.#hashes.get(path);
    if (cached?.key === key) return cached.sha256;
    const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
    this.#hashes.set(path, { key, sha256 });
    return sha256;
  }
}
