// fleet login: pins the server's CA (by --ca-hash or --ca-file), checks the API token, and saves
// a context.
import { Option, type Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { formatHostPort, parseServerAddress } from '../../common/address';
import { ControlClient } from '../client';
import { readConfig, writeConfig } from '../context';
import type { CommandModule } from '../env';
import { UsageError, UserError } from '../errors';
import { certificateHash, derToPem, fetchPinnedCa, readPresentedChain } from '../../transport';
import { envOption } from '../../common/env';

export const login: CommandModule = (parent: Command, env) => {
  parent
    .command('login')
    .description('save a server, an API token and the server CA as a context')
    .requiredOption('-s, --server <url>', 'server address, e.g. https://fleet.example.com:7443')
    .addOption(envOption(new Option('-t, --token <token>', 'API token (fa1_…)'), 'FLEET_TOKEN').makeOptionMandatory())
    .option('--ca-hash <sha256>', 'expected CA fingerprint, as printed by fleet-server (sha256:…)')
    .option('--ca-file <file>', 'the server CA certificate (PEM) instead of a fingerprint')
    .option('--name <context>', 'context name', 'default')
    .addHelpText('after', '\nThe CA fingerprint is printed by fleet-server at every start. Without --ca-hash or --ca-file,\nlogin shows the fingerprint the server presents so you can check it, and stops.')
    .action(async (opts: { server: string; token: string; caHash?: string; caFile?: string; name: string }) => {
      const address = parseServerAddress(opts.server);
      let caPem: string;
      if (opts.caFile) {
        if (!existsSync(opts.caFile)) throw new UserError(`no such file: ${opts.caFile}`);
        caPem = readFileSync(opts.caFile, 'utf8');
      } else if (opts.caHash) {
        const hash = opts.caHash.replace(/^sha256:/i, '').toLowerCase();
        if (!/^[0-9a-f]{64}$/.test(hash)) throw new UsageError('--ca-hash must be sha256: followed by 64 hex digits');
        caPem = await fetchPinnedCa(address, hash);
      } else {
        const chain = await readPresentedChain(address);
        const ca = chain.at(-1);
        const shown = ca ? `sha256:${certificateHash(derToPem(ca.raw))}` : '(none)';
        throw new UserError(`the server presents CA ${shown}; check it against the fingerprint fleet-server printed, then run again with --ca-hash ${shown}`, 'CA_NOT_PINNED');
      }
      const server = `https://${formatHostPort(address)}`;
      const client = new ControlClient({ server, token: opts.token, caPem });
      try {
        const me = await client.call('whoAmI', {});
        const config = readConfig(env.configFile);
        config.contexts[opts.name] = { server, token: opts.token, caPem };
        config.current = opts.name;
        writeConfig(env.configFile, config);
        env.io.stdout.write(`Logged in to ${server} (fleet-server ${me.serverVersion}) as ${me.role}${me.scope ? ` limited to nodes matching "${me.scope}"` : ''}; context "${opts.name}" saved in ${env.configFile}\n`);
      } finally {
        client.close();
      }
    });
};
