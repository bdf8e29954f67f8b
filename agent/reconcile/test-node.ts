// Test support: a temporary root and state directory, a downloader that serves local files by URL
// and records what it was asked for, and a desired-state builder that applies the schema defaults.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../common/logger';
import { desiredState, type DesiredState } from '../../common/spec/schema';
import { sha256 } from './disk';
import type { ReconcileOptions } from './options';

/** A throwaway node for tests. */
export class TestNode {
  readonly root = mkdtempSync(join(tmpdir(), 'fleet-root-'));
  readonly stateDir = mkdtempSync(join(tmpdir(), 'fleet-state-'));
  /** Every download the reconciler asked for, in order. */
  readonly downloads: string[] = [];
  readonly #artifacts = new Map<string, string>();
  readonly #artifactDir = mkdtempSync(join(tmpdir(), 'fleet-artifacts-'));

  /** Serves `content` (or a copy of a local file) at a made-up URL; returns the URL and its sha256. */
  artifact(name: string, content: string | Buffer): { url: string; sha256: string } {
    const file = join(this.#artifactDir, name);
    writeFileSync(file, content);
    const url = `http://artifacts.test/${name}`;
    this.#artifacts.set(url, file);
    return { url, sha256: sha256(content) };
  }

  options(extra: Partial<ReconcileOptions> = {}): ReconcileOptions {
    return {
      root: this.root,
      dryRun: false,
      stateDir: this.stateDir,
      log: silentLogger(),
      download: async (source, dest) => {
        this.downloads.push(source.url ?? `hosted:${source.hosted}`);
        const file = source.url === undefined ? undefined : this.#artifacts.get(source.url);
        if (file === undefined) throw new Error(`404 ${source.url}`);
        copyFileSync(file, dest);
      },
      ...extra,
    };
  }

  cleanup(): void {
    for (const dir of [this.root, this.stateDir, this.#artifactDir]) rmSync(dir, { recursive: true, force: true });
  }
}

/** A desired state for spec "app", with schema defaults filled in. */
export function desired(resources: unknown[], revision = 1): DesiredState {
  return desiredState.parse({ spec: 'app', revision, resources, checks: [] });
}
