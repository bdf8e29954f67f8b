// Builds the three executables (fleet, fleet-server, fleet-agent) as ESM bundles in dist/.
// Native addons stay external: they are loaded from node_modules (and, for the standalone
// agent, from an embedded asset).
import { defineConfig } from 'tsup';
import pkg from './package.json' with { type: 'json' };

export default defineConfig({
  entry: {
    fleet: 'cli/bin.ts',
    'fleet-server': 'server/bin.ts',
    'fleet-agent': 'agent/bin.ts',
  },
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  outDir: 'dist',
  // Only tsup's own output: the standalone agent build (fleet-agent-linux-*) lives here too.
  clean: ['!fleet-agent-linux-*', '!sha256sums.txt'],
  splitting: true,
  sourcemap: true,
  banner: { js: "import { createRequire as __fleetCreateRequire } from 'node:module'; const require = __fleetCreateRequire(import.meta.url);" },
  external: ['better-sqlite3', 'node-pty'],
  define: { __FLEET_VERSION__: JSON.stringify(pkg.version) },
});
