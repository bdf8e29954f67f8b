// fleet bootstrap ssh
import type { CommandModule } from '../../env';
import { bootstrapSsh } from './ssh';

export const bootstrap: CommandModule = (parent, env) => {
  const cmd = parent.command('bootstrap').description('put agents on machines that are already running');
  bootstrapSsh(cmd, env);
};
