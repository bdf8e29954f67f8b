// fleet machines remove MACHINE
import type { Command } from 'commander';
import type { CliEnv } from '../../env';
import { machineName, machineRef } from '../../machine-view';

export const removeMachine = (machines: Command, env: CliEnv) => {
  machines
    .command('remove')
    .description('forget a machine; if it network-boots again, the server treats it as unknown')
    .argument('<machine>', 'machine name, id or MAC')
    .action(async (machine: string) => {
      const m = await env.client().call('removeMachine', { machine: machineRef(machine) });
      env.io.stdout.write(`machine ${machineName(m)} removed (it was ${m.state || 'in an unknown state'})\n`);
    });
};
