// fleet machines reinstall MACHINE
import type { Command } from 'commander';
import type { CliEnv } from '../../env';
import { machineRef, reinstallLine } from '../../machine-view';

export const reinstallMachine = (machines: Command, env: CliEnv) => {
  machines
    .command('reinstall')
    .description('install a provisioned machine again at its next network boot (it boots from disk until then)')
    .argument('<machine>', 'machine name, id or MAC')
    .action(async (machine: string) => {
      const m = await env.client().call('reinstallMachine', { machine: machineRef(machine) });
      env.io.stdout.write(`${reinstallLine(m)}\n`);
    });
};
