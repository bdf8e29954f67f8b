// fleet tokens revoke ID
import type { Command } from 'commander';
import type { CliEnv } from '../../env';

export const revokeToken = (tokens: Command, env: CliEnv) => {
  tokens
    .command('revoke')
    .description('revoke a join token so no more agents can enroll with it')
    .argument('<id>', 'token id (from `fleet tokens list`)')
    .action(async (id: string) => {
      const t = await env.client().call('revokeJoinToken', { id });
      env.io.stdout.write(`join token ${t.id} revoked (${t.used} of ${t.maxUses} uses were taken)\n`);
    });
};
