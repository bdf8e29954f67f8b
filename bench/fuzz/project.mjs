// Loads fleet's own TypeScript modules the fuzzer needs in-process (the generated protobuf codecs
// and service definitions, the spec and PXE config loaders, token and selector parsers, the NATS
// authority) by bundling them once with esbuild into a temporary ES module.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..', '..');

const ENTRY = `
export { ControlServiceService } from './proto/gen/fleet/v1/control';
export { AgentServiceService, AgentMessage, ServerMessage, SignedCommand, Command, ChannelFrame, EnrollRequest } from './proto/gen/fleet/v1/agent';
export { loadSpec } from './common/spec/index';
export { loadPxeConfig } from './server/pxe/config';
export { parseJoinToken, parseApiToken, formatJoinToken } from './common/join-token';
export { parseSelector, parseLabelAssignments, validateLabels } from './common/labels';
export { FleetError, SpecError, MalformedJoinTokenError, InvalidSelectorError, InvalidLabelError } from './common/errors';
export { NatsAuthority } from './server/nats-authority';
`;

let loaded;

/** The project's modules, bundled on first use (a second or so). */
export function loadProject() {
  loaded ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-fuzz-bundle-'));
    const outfile = join(dir, 'project.mjs');
    try {
      await build({
        stdin: { contents: ENTRY, resolveDir: root, loader: 'ts', sourcefile: 'fuzz-entry.ts' },
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        outfile,
        logLevel: 'error',
        define: { __FLEET_VERSION__: '"fuzz"' },
        banner: { js: "import { createRequire as __fuzzRequire } from 'node:module'; const require = __fuzzRequire(import.meta.url);" },
      });
      return await import(pathToFileURL(outfile).href);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  })();
  return loaded;
}
