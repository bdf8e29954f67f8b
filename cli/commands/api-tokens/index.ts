// fleet api-tokens (alias: users) create --role R [--scope SELECTOR] | list | revoke ID:
// tokens for the people and scripts that drive the fleet (CLI and web page).
import { Option } from 'commander';
import type { CommandModule } from '../../env';
import { parseOutputFormat, printStructured, printTable } from '../../output';
import { outputOption } from '../../options';

export const apiTokens: CommandModule = (parent, env) => {
  const cmd = parent
    .command('api-tokens')
    .alias('users')
    .description('API tokens for people and scripts, each with a role and optionally limited to a selector (admin)')
    .addHelpText(
      'after',
      `
Roles: viewer (read), operator (exec, shell, apply), admin (tokens, machines, upgrades, audit).
A token with --scope sees and acts only on the nodes matching the selector; anything reaching
another node is refused and audited.

Example: fleet users create --role operator --scope env=dev -d "dev team CI"`,
    );
  cmd
    .command('create')
    .description('create an API token (printed once)')
    .addOption(new Option('--role <role>', 'what it may do').choices(['viewer', 'operator', 'admin']).makeOptionMandatory())
    .option('--scope <selector>', 'limit it to the nodes matching this selector, e.g. env=dev (viewer and operator only)', '')
    .option('-d, --description <text>', 'who or what it is for', '')
    .action(async (opts: { role: string; description: string; scope: string }) => {
      const res = await env.client().call('createApiToken', { role: opts.role, description: opts.description, scope: opts.scope });
      env.io.stdout.write(`${res.token}\n`);
      env.io.stderr.write(`API token ${res.id} (${opts.role}${opts.scope ? `, limited to ${opts.scope}` : ''}); it is shown only once\n`);
    });
  cmd
    .command('list')
    .description('list API tokens (never their secrets)')
    .addOption(outputOption(['table', 'json', 'yaml'], 'table'))
    .option('--all', 'include revoked tokens')
    .action(async (opts: { output: string; all?: boolean }) => {
      const format = parseOutputFormat(opts.output, ['table', 'json', 'yaml']);
      const { tokens } = await env.client().call('listApiTokens', {});
      const shown = tokens
        .filter((t) => opts.all || !t.revoked)
        .map((t) => ({ id: t.id, role: t.role, scope: t.scope, description: t.description, created: new Date(t.createdUnixMs).toISOString(), revoked: t.revoked ? new Date(t.revokedUnixMs).toISOString() : null }));
      if (printStructured(env.io, format, shown)) return;
      printTable(env.io, ['ID', 'ROLE', 'SCOPE', 'CREATED', 'REVOKED', 'DESCRIPTION'], shown.map((t) => [t.id, t.role, t.scope || '(all nodes)', t.created, t.revoked ?? '-', t.description]));
    });
  cmd
    .command('revoke')
    .description('revoke an API token at once (its web sessions end too)')
    .argument('<id>', 'token id (the part after fa1_)')
    .action(async (id: string) => {
      await env.client().call('revokeApiToken', { id });
      env.io.stdout.write(`API token ${id} revoked\n`);
    });
};
