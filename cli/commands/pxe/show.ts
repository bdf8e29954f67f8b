// fleet pxe show [-o json|yaml]: the stored PXE configuration, whether the PXE port is on and
// whether the discovery image is there. The YAML goes to stdout (so `fleet pxe show > pxe.yaml`
// gives a file to edit and set again); the status lines go to stderr.
import type { Command } from 'commander';
import type { PxeConfig } from '../../../proto/gen/fleet/v1/control';
import type { CliEnv } from '../../env';
import { parseOutputFormat, printStructured } from '../../output';
import { plural } from '../../rollout-view';
import { outputOption } from '../../options';

/** "PXE config: 2 profiles (a, b), 1 group, 1 rule". */
export function pxeSummary(c: PxeConfig): string {
  const profiles = plural(c.profiles.length, 'profile') + (c.profiles.length ? ` (${c.profiles.join(', ')})` : '');
  return `PXE config: ${profiles}, ${plural(c.groups.length, 'group')}, ${plural(c.rules.length, 'rule')}`;
}

/** Whether iPXE gets answers, and whether unknown machines can boot the discovery image. */
export function pxeStatusLines(c: PxeConfig): string[] {
  return [
    c.pxePort ? `PXE answers on port ${c.pxePort}` : 'PXE is off: start fleet-server with --pxe-listen 0.0.0.0:8080',
    c.discoveryImage
      ? 'discovery image: available (unknown machines boot it and wait as pending)'
      : 'discovery image: missing (unknown machines cannot be discovered): build it with `npm run build:discovery`, or put vmlinuz and initrd.img in DATA/discovery',
  ];
}

export const showPxe = (pxe: Command, env: CliEnv) => {
  pxe
    .command('show')
    .description('print the PXE configuration as last set, and whether PXE and the discovery image are available')
    .addOption(outputOption(['text', 'json', 'yaml'], 'text'))
    .addHelpText(
      'after',
      `
The YAML as last set goes to stdout, the PXE port and discovery image status to stderr, so
\`fleet pxe show > pxe.yaml\` gives back a file to edit and \`fleet pxe set -f pxe.yaml\`.`,
    )
    .action(async (opts: { output: string }) => {
      const format = parseOutputFormat(opts.output === 'text' ? 'table' : opts.output, ['table', 'json', 'yaml']);
      const c = await env.client().call('getPxeConfig', {});
      if (printStructured(env.io, format, { yaml: c.yaml, profiles: c.profiles, groups: c.groups, rules: c.rules, pxePort: c.pxePort, discoveryImage: c.discoveryImage })) return;
      if (c.yaml) env.io.stdout.write(c.yaml.endsWith('\n') ? c.yaml : `${c.yaml}\n`);
      else env.io.stderr.write('no PXE config set\n');
      env.io.stderr.write(`${c.yaml ? `${pxeSummary(c)}\n` : ''}${pxeStatusLines(c).join('\n')}\n`);
    });
};
