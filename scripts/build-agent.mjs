// Builds the standalone agent: dist/fleet-agent-linux-<arch>, a Node single-executable application
// (the agent bundled into one CommonJS file with tsup, node-pty's native module embedded as an
// asset), plus a gzip copy (and zstd when available) and sha256sums.txt.
//
//   npm run build:agent                         # version from package.json
//   FLEET_BUILD_VERSION=1.2.3 OUT=dir node scripts/build-agent.mjs   # another version, elsewhere
//   FLEET_BUILD_COMPRESS=gzip …                # skip the slow zstd copy
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, chmodSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join, resolve } from 'node:path';
import { build } from 'tsup';

const root = resolve(import.meta.dirname, '..');
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const version = process.env.FLEET_BUILD_VERSION ?? pkg.version;
const out = resolve(process.env.OUT ?? join(root, 'dist'));
const arch = { x64: 'x64', arm64: 'arm64' }[process.arch];
if (process.platform !== 'linux' || !arch) throw new Error(`the standalone agent is built on linux x64/arm64, not ${process.platform}-${process.arch}`);
const work = join(out, `sea-${version}`);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

// node-pty finds its add-on by path; inside the executable it comes from an embedded asset instead.
const ptyUtils = require.resolve('node-pty/lib/utils.js');
const nativeLoader = join(root, 'agent/native.ts');
const embeddedPty = {
  name: 'fleet-embedded-native',
  setup(b) {
    b.onLoad({ filter: /node-pty[\\/]lib[\\/]utils\.js$/ }, (args) => {
      if (args.path !== ptyUtils) return undefined;
      return {
        loader: 'js',
        contents: `
          exports.assign = function (target, ...sources) { sources.forEach((s) => Object.keys(s).forEach((k) => { target[k] = s[k]; })); return target; };
          exports.loadNativeModule = function (name) { return { dir: '', module: require(${JSON.stringify(nativeLoader)}).loadEmbeddedNative(name) }; };`,
      };
    });
  },
};

await build({
  entry: { 'fleet-agent': join(root, 'agent/bin.ts') },
  outDir: work,
  format: ['cjs'],
  platform: 'node',
  target: 'node20',
  noExternal: [/.*/],
  splitting: false,
  sourcemap: false,
  clean: false,
  silent: true,
  config: false,
  define: { __FLEET_VERSION__: JSON.stringify(version) },
  esbuildPlugins: [embeddedPty],
});

const bundle = join(work, 'fleet-agent.cjs');
const renamed = join(work, 'fleet-agent.js');
try {
  statSync(bundle);
} catch {
  copyFileSync(renamed, bundle);
}
const ptyNode = join(require.resolve('node-pty/package.json'), '..', 'build/Release/pty.node');
writeFileSync(
  join(work, 'sea-config.json'),
  JSON.stringify({ main: bundle, output: join(work, 'sea.blob'), disableExperimentalSEAWarning: true, useCodeCache: false, assets: { 'pty.node': ptyNode } }),
);
execFileSync(process.execPath, ['--experimental-sea-config', join(work, 'sea-config.json')], { stdio: 'inherit' });

const name = `fleet-agent-linux-${arch}`;
const binary = join(out, name);
rmSync(binary, { force: true });
copyFileSync(process.execPath, binary);
chmodSync(binary, 0o755);
execFileSync(process.execPath, [require.resolve('postject/dist/cli.js'), binary, 'NODE_SEA_BLOB', join(work, 'sea.blob'), '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], { stdio: 'ignore' });

// Compressed copies: gzip always (every installer host can gunzip; -6 is within 1% of -9 and three
// times faster), zstd when the tool exists unless FLEET_BUILD_COMPRESS=gzip (test builds).
execFileSync('sh', ['-c', `gzip -6 -n -c '${binary}' > '${binary}.gz'`]);
const files = [binary, `${binary}.gz`];
rmSync(`${binary}.zst`, { force: true });
if (process.env.FLEET_BUILD_COMPRESS !== 'gzip' && spawnSync('sh', ['-c', 'command -v zstd']).status === 0) {
  execFileSync('zstd', ['-q', '-f', '-19', '-T0', '--long', binary, '-o', `${binary}.zst`]);
  files.push(`${binary}.zst`);
}
const sums = files.map((f) => `${createHash('sha256').update(readFileSync(f)).digest('hex')}  ${basename(f)}`).join('\n') + '\n';
writeFileSync(join(out, 'sha256sums.txt'), sums);
rmSync(work, { recursive: true, force: true });
for (const f of files) process.stdout.write(`${basename(f)}  ${(statSync(f).size / 1048576).toFixed(1)} MiB\n`);
process.stdout.write(`fleet-agent ${version} → ${out}\n`);
