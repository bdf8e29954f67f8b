// fleet machines add|list|approve|reject|remove|reinstall: machines that network-boot (PXE) from the server.
import type { CommandModule } from '../../env';
import { addMachine } from './add';
import { approveMachine } from './approve';
import { listMachines } from './list';
import { reinstallMachine } from './reinstall';
import { rejectMachine } from './reject';
import { removeMachine } from './remove';

export const machines: CommandModule = (parent, env) => {
  const cmd = parent
    .command('machines')
    .description('bare machines that network-boot, install and enroll themselves (see docs/pxe.md)')
    .addHelpText(
      'after',
      `
A machine is known by its MAC, SMBIOS UUID or serial. When it network-boots, the server answers
with its profile (from --profile, or the best-matching group of \`fleet pxe set\`); it installs,
enrolls with a single-use token bound to it, and appears in \`fleet nodes\` with its name and
labels. Machines the server does not know boot the discovery image and wait as "pending" until
\`fleet machines approve\` (or an approval rule) lets them in.

States: registered (added by hand), pending, approved, rejected, provisioned (a node; boots from disk).`,
    );
  addMachine(cmd, env);
  listMachines(cmd, env);
  approveMachine(cmd, env);
  rejectMachine(cmd, env);
  removeMachine(cmd, env);
  reinstallMachine(cmd, env);
};
