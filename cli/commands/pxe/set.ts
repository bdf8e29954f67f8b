// fleet pxe set -f pxe.yaml: replaces the PXE configuration. The server validates it; its answer
// lists every problem as `file:line:col: field: message`, printed as it is.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ErrorKind } from '../../../common/errors';
import { RemoteError } from '../../../transport';
import type { CliEnv } from '../../env';
import { PxeConfigUnreadableError } from '../../errors';
import type { CliIo } from '../../io';
import { describeFsError } from '../../spec-files';
import { pxeSummary } from './show';

/** Reads `-f FILE`, or standard input for `-`. */
async function readPxeFile(file: string, io: CliIo): Promise<{ text: string; fileName: string }> {
  if (file === '-') {
    if (!io.stdin) throw new PxeConfigUnreadableError('-', 'no standard input');
    const chunks: Buffer[] = [];
    for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    return { text: Buffer.concat(chunks).toString('utf8'), fileName: '<stdin>' };
  }
  try {
    return { text: await readFile(file, 'utf8'), fileName: file };
  } catch (err) {
    throw new PxeConfigUnreadableError(file, describeFsError(err), err);
  }
}

export const setPxe = (pxe: Command, env: CliEnv) => {
  pxe
    .command('set')
    .description('replace the PXE configuration with a YAML file (validated by the server)')
    .requiredOption('-f, --file <file>', 'PXE config (YAML); - reads standard input')
    .addHelpText(
      'after',
      `
The file has three lists: profiles (kernel, initrd, args, optional userData), groups (which
machines boot which profile) and rules (which unknown machines are approved automatically).
The whole configuration is replaced; nothing changes when any part of it is invalid, and every
problem is reported as file:line:col. See docs/pxe.md for the format.

Example:
  fleet pxe set -f pxe.yaml
  PXE config: 2 profiles (debian12, ubuntu24), 1 group, 1 rule`,
    )
    .action(async (opts: { file: string }) => {
      const { text, fileName } = await readPxeFile(opts.file, env.io);
      try {
        const config = await env.client().call('setPxeConfig', { yaml: text, fileName });
        env.io.stdout.write(`${pxeSummary(config)}\n`);
      } catch (err) {
        // An invalid config: the server's message is one `file:line:col: …` line per problem.
        if (!(err instanceof RemoteError && err.kind === ErrorKind.Invalid)) throw err;
        env.io.stderr.write(`${err.message}\n`);
        env.exitCode = Math.max(env.exitCode, 1);
      }
    });
};
