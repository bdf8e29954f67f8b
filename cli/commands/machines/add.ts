// fleet machines add --mac M [--uuid U] [--serial S] --name N [--profile P] [-l k=v]… [-o json]
import type { Command } from 'commander';
import { parseLabelAssignments } from '../../../common/labels';
import type { CliEnv } from '../../env';
import { UsageError } from '../../errors';
import { identityText, machineView, parseMac, parseUuid } from '../../machine-view';
import { parseOutputFormat, printJson } from '../../output';
import { outputOption } from '../../options';

export const addMachine = (machines: Command, env: CliEnv) => {
  machines
    .command('add')
    .description('register a machine so it installs and enrolls when it network-boots')
    .option('--mac <mac>', 'MAC address of the interface it boots from (52:54:00:12:34:56 or 52-54-00-12-34-56)')
    .option('--uuid <uuid>', 'SMBIOS system UUID')
    .option('--serial <serial>', 'SMBIOS system serial number')
    .requiredOption('--name <name>', 'the node name it enrolls with')
    .option('--profile <profile>', 'PXE profile to boot (default: the best-matching group in the PXE config)')
    .option('-l, --label <k=v>', 'label for the node it becomes (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .addOption(outputOption(['text', 'json'], 'text'))
    .addHelpText(
      'after',
      `
At least one of --mac, --uuid and --serial is needed; the server matches a booting machine by any
of them (as hints: the single-use token it is given at boot is the proof).

Example:
  fleet machines add --mac 52:54:00:12:34:56 --name web-3 --profile debian12 -l role=web`,
    )
    .action(async (opts: { mac?: string; uuid?: string; serial?: string; name: string; profile?: string; label: string[]; output: string }) => {
      const format = parseOutputFormat(opts.output === 'text' ? 'table' : opts.output, ['table', 'json']);
      const mac = opts.mac === undefined ? '' : parseMac(opts.mac);
      const uuid = opts.uuid === undefined ? '' : parseUuid(opts.uuid);
      const serial = (opts.serial ?? '').trim();
      if (!mac && !uuid && !serial) throw new UsageError('give at least one of --mac, --uuid and --serial, so the server can recognise the machine when it boots');
      const name = opts.name.trim();
      if (!name) throw new UsageError('--name must not be empty');
      const labels = parseLabelAssignments(opts.label);
      const m = await env.client().call('addMachine', { name, mac, uuid, serial, profile: opts.profile ?? '', labels });
      if (format === 'json') return printJson(env.io, machineView(m));
      const profile = m.profile || opts.profile;
      env.io.stdout.write(`machine ${m.name} added (${identityText(m)}); ${profile ? `it boots profile ${profile}` : 'its profile comes from the groups in the PXE config'}\n`);
    });
};
