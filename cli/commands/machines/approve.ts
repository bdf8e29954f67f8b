// fleet machines approve MACHINE [--name N] [--profile P] [-l k=v]…
import type { Command } from 'commander';
import { parseLabelAssignments } from '../../../common/labels';
import type { CliEnv } from '../../env';
import { UsageError } from '../../errors';
import { machineRef, stateLine } from '../../machine-view';

export const approveMachine = (machines: Command, env: CliEnv) => {
  machines
    .command('approve')
    .description('let a pending (or rejected) machine install and enroll, optionally renaming it, picking its profile, adding labels')
    .argument('<machine>', 'machine name, id or MAC')
    .option('--name <name>', 'the node name it enrolls with')
    .option('--profile <profile>', 'PXE profile to boot (default: the best-matching group in the PXE config)')
    .option('-l, --label <k=v>', 'label for the node it becomes (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .action(async (machine: string, opts: { name?: string; profile?: string; label: string[] }) => {
      const name = (opts.name ?? '').trim();
      if (opts.name !== undefined && !name) throw new UsageError('--name must not be empty');
      const labels = parseLabelAssignments(opts.label);
      const m = await env.client().call('approveMachine', { machine: machineRef(machine), name, profile: opts.profile ?? '', labels });
      env.io.stdout.write(`${stateLine(m)}\n`);
    });
};
