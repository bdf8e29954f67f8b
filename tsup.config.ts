// Builds the three executables (fleet, fleet-server, fleet-agent) as ESM bundles in dist/, and
// the web page (server/web: TypeScript, xterm.js and CSS) into dist/web, which fleet-server
// serves on its HTTPS port. Native addons stay external: they are loaded from node_modules (and,
// for the standalone agent, from an embedded asset).
import { defineConfig } from 'tsup';
import pkg from './package.json' with { type: 'json' };

export default defineConfig([
  {
    entry: {
      fleet: 'cli/bin.ts',
      'fleet-server': 'server/bin.ts',
      'fleet-agent': 'agent/bin.ts',
    },
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    outDir: 'dist',
    // Only tsup's own output: the standalone agent build (fleet-agent-linux-*) lives here too,
    // dist/discovery to build:discovery, and dist/web to the second build (both run at the same time).
    clean: ['!fleet-agent-linux-*', '!sha256sums.txt', '!web', '!web/**', '!discovery', '!discovery/**'],
    splitting: true,
    sourcemap: true,
    banner: { js: "import { createRequire as __fleetCreateRequire } from 'node:module'; const require = __fleetCreateRequire(import.meta.url);" },
    external: ['better-sqlite3', 'node-pty'],
    define: { __FLEET_VERSION__: JSON.stringify(pkg.version) },
  },
  {
    // One browser bundle: app.js and app.css (xterm's styles and ours); index.html is copied.
    entry: { app: 'server/web/app.ts' },
    format: ['esm'],
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    outDir: 'dist/web',
    publicDir: 'server/web/public',
    clean: true,
    splitting: false,
    sourcemap: true,
    minify: true,
    noExternal: [/.*/],
  },
]);
