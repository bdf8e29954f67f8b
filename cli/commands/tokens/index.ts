// fleet tokens create|list|revoke
import type { CommandModule } from '../../env';
import { createToken } from './create';
import { listTokens } from './list';
import { revokeToken } from './revoke';

export const tokens: CommandModule = (parent, env) => {
  const cmd = parent.command('tokens').description('join tokens that let agents enroll');
  createToken(cmd, env);
  listTokens(cmd, env);
  revokeToken(cmd, env);
};
