// fleet machines list [--pending] [-o table|wide|json|yaml]
import type { Command } from 'commander';
import type { Machine } from '../../../proto/gen/fleet/v1/control';
import type { CliEnv } from '../../env';
import { machineName, machineView, profileText, reportedText } from '../../machine-view';
import { ago, formatLabels, parseOutputFormat, printStructured, printTable } from '../../output';
import { outputOption } from '../../options';

function lastBoot(m: Machine, wide: boolean): string {
  if (!m.lastBootUnixMs) return '-';
  return wide && m.lastBootAddress ? `${ago(m.lastBootUnixMs)} from ${m.lastBootAddress}` : ago(m.lastBootUnixMs);
}

export const listMachines = (machines: Command, env: CliEnv) => {
  machines
    .command('list')
    .description('list machines: state, boot profile, node and last network boot')
    .option('--pending', 'only machines waiting for approval')
    .addOption(outputOption(['table', 'wide', 'json', 'yaml'], 'table'))
    .addHelpText(
      'after',
      `
A machine's MAC, UUID and serial are those it was added with, completed from what it reports
when it network-boots and when it enrolls.
-o wide adds the UUID and serial, where the profile comes from (the machine itself, a group or a
rule), the address of the last boot, and what its agent last reported (hostname, MACs, serial),
kept after it is provisioned.`,
    )
    .action(async (opts: { pending?: boolean; output: string }) => {
      const format = parseOutputFormat(opts.output);
      const { machines: list } = await env.client().call('listMachines', { pendingOnly: opts.pending === true });
      if (printStructured(env.io, format, list.map(machineView))) return;
      const dash = (s: string) => s || '-';
      if (format === 'wide') {
        printTable(
          env.io,
          ['NAME', 'STATE', 'MAC', 'UUID', 'SERIAL', 'PROFILE', 'NODE', 'LAST BOOT', 'LABELS', 'REPORTED'],
          list.map((m) => [
            machineName(m),
            dash(m.state),
            dash(m.mac),
            dash(m.uuid),
            dash(m.serial),
            profileText(m),
            dash(m.nodeId),
            lastBoot(m, true),
            formatLabels(m.labels),
            reportedText(m),
          ]),
        );
      } else {
        printTable(
          env.io,
          ['NAME', 'STATE', 'MAC', 'PROFILE', 'NODE', 'LAST BOOT', 'LABELS'],
          list.map((m) => [machineName(m), dash(m.state), dash(m.mac), dash(m.bootProfile), dash(m.nodeId), lastBoot(m, false), formatLabels(m.labels)]),
        );
      }
      if (list.length === 0) {
        env.io.stderr.write(
          opts.pending
            ? 'no machine waits for approval\n'
            : 'no machines yet: add one with `fleet machines add --mac MAC --name NAME`, or network-boot an unknown one into the discovery image\n',
        );
      }
    });
};
