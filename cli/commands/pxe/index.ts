// fleet pxe set|show: the PXE configuration (profiles, groups, approval rules).
import type { CommandModule } from '../../env';
import { setPxe } from './set';
import { showPxe } from './show';

export const pxe: CommandModule = (parent, env) => {
  const cmd = parent.command('pxe').description('the PXE configuration: boot profiles, machine groups, approval rules (see docs/pxe.md)');
  setPxe(cmd, env);
  showPxe(cmd, env);
};
