// The import-boundary rules (.dependency-cruiser.cjs, run by `npm run lint:boundaries`) refuse what
// they should and let the allowed imports through: dependency-cruiser runs with the repository's
// config on a small tree in a temporary directory, where each file makes one allowed or one
// forbidden import.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

/** path → source; every import here is either allowed or named in `expected` below. */
const TREE: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'probe', type: 'module', dependencies: { zod: '*' }, devDependencies: { vitest: '*' } }),
  'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'ESNext', moduleResolution: 'Bundler', strict: true } }),
  'common/errors.ts': 'export class FleetError extends Error {}\n',
  'common/format.ts': 'export const quote = (s: string) => JSON.stringify(s);\n',
  'common/below.ts': "import { link } from '../transport';\nexport const below = link;\n",
  'transport/index.ts': "export { link } from './grpc/link';\n",
  'transport/grpc/link.ts': "import { quote } from '../../common/format';\nexport const link = quote('link');\n",
  'server/errors.ts': "import { FleetError } from '../common/errors';\nexport class NotFoundError extends FleetError {}\n",
  'server/store/index.ts': "export { NodeStore } from './node-store';\n",
  'server/store/node-store.ts': "import { NotFoundError } from '../errors';\nexport class NodeStore { missing = NotFoundError; }\n",
  'server/jobs/index.ts': "export { dispatch } from './dispatcher';\n",
  // Allowed: a sibling through its index, the parent's errors.ts, the transport through its index, a dependency.
  'server/jobs/dispatcher.ts': "import { z } from 'zod';\nimport { link } from '../../transport';\nimport { NodeStore } from '../store';\nimport { NotFoundError } from '../errors';\nexport const dispatch = [z, link, NodeStore, NotFoundError];\n",
  'server/state/rollouts.ts': "import { NodeStore } from '../store/node-store';\nexport const rollouts = NodeStore;\n",
  'server/control-service.ts': "import { NodeStore } from './store';\nimport { dispatch } from './jobs';\nexport const control = [NodeStore, dispatch];\n",
  'server/upgrades.ts': "import { describe } from 'vitest';\nexport const upgrades = describe;\n",
  'server/a.ts': "import { b } from './b';\nexport const a = () => b;\n",
  'server/b.ts': "import { a } from './a';\nexport const b = () => a;\n",
  'server/pki.ts': "import { parse } from 'yaml';\nexport const pki = parse;\n",
  'server/targets.ts': "import { helper } from '../test/harness';\nexport const targets = helper;\n",
  'server/web/app.ts': "import { readFileSync } from 'node:fs';\nimport { quote } from '../../common/format';\nexport const app = [readFileSync, quote];\n",
  'agent/agent.ts': "import { dispatch } from '../server/jobs';\nexport const agent = dispatch;\n",
  'test/harness.ts': 'export const helper = 1;\n',
  // Allowed: a test imports public surfaces (and devDependencies).
  'test/store.test.ts': "import { it } from 'vitest';\nimport { NodeStore } from '../server/store';\nit('x', () => void NodeStore);\n",
};

describe('import boundaries (.dependency-cruiser.cjs)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleet-boundaries-'));
    for (const [path, text] of Object.entries(TREE)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names every forbidden import, and only those', () => {
    const r = spawnSync(
      join(root, 'node_modules/.bin/depcruise'),
      ['agent', 'common', 'server', 'test', 'transport', '--config', join(root, '.dependency-cruiser.cjs'), '--output-type', 'json'],
      { cwd: dir, encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    const found = (JSON.parse(r.stdout) as { summary: { violations: { rule: { name: string }; from: string; to: string }[] } }).summary.violations
      .map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)
      .sort();
    expect(found).toEqual(
      [
        'adapters-do-not-touch-stores: server/control-service.ts → server/store/index.ts',
        'layers:common-is-below-everything: common/below.ts → transport/index.ts',
        'layers:executables-are-independent: agent/agent.ts → server/jobs/index.ts',
        'layers:web-page-runs-in-a-browser: server/web/app.ts → fs',
        'no-circular: server/a.ts → server/b.ts',
        'no-dev-deps-in-production: server/upgrades.ts → node_modules/vitest/dist/index.d.ts',
        'no-undeclared-packages: server/pki.ts → node_modules/yaml/dist/index.d.ts',
        'no-test-code-in-production: server/targets.ts → test/harness.ts',
        'public-surface:server/store: server/state/rollouts.ts → server/store/node-store.ts',
        'public-surface:test: server/targets.ts → test/harness.ts',
      ].sort(),
    );
  }, 60_000);
});
