// fleet api-tokens create --role R | revoke ID : tokens for operators (CLI and web page).
import { Option } from 'commander';
import type { CommandModule } from '../../env';

export const apiTokens: CommandModule = (parent, env) => {
  const cmd = parent.command('api-tokens').description('API tokens for people and scripts (admin)');
  cmd
    .command('create')
    .description('create an API token (printed once)')
    .addOption(new Option('--role <role>', 'what it may do').choices(['viewer', 'operator', 'admin']).makeOptionMandatory())
    .option('-d, --description <text>', 'who or what it is for', '')
    .action(async (opts: { role: string; description: string }) => {
      const res = await env.client().call('createApiToken', { role: opts.role, description: opts.description });
      env.io.stdout.write(`${res.token}\n`);
      env.io.stderr.write(`API token ${res.id} (${opts.role}); it is shown only once\n`);
    });
  cmd
    .command('revoke')
    .description('revoke an API token at once')
    .argument('<id>', 'token id (the part after fa1_)')
    .action(async (id: string) => {
      await env.client().call('revokeApiToken', { id });
      env.io.stdout.write(`API token ${id} revoked\n`);
    });
};
