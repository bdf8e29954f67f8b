// fleet machines reject MACHINE
import type { Command } from 'commander';
import type { CliEnv } from '../../env';
import { machineRef, stateLine } from '../../machine-view';

export const rejectMachine = (machines: Command, env: CliEnv) => {
  machines
    .command('reject')
    .description('refuse a machine: it is offered no profile and cannot enroll')
    .argument('<machine>', 'machine name, id or MAC')
    .action(async (machine: string) => {
      const m = await env.client().call('rejectMachine', { machine: machineRef(machine) });
      env.io.stdout.write(`${stateLine(m)}\n`);
    });
};
