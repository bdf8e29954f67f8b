#!/usr/bin/env node
// fleet-server: the executable. Starts with zero configuration; see `fleet-server --help`.
import { Command, Option } from 'commander';
import { hostname } from 'node:os';
import { createLogger } from '../common/logger';
import { VERSION } from '../common/version';
import { FleetError } from '../common/errors';
import { optionsFromEnv, parseListen, parseNats, parseOptions, type ServerOptions } from './config';
import { NatsAuthority } from './nats-authority';
import { startServer } from './server';

const program = new Command('fleet-server')
  .description('The fleet server: stores inventory and jobs, and drives agents over one TLS port.')
  .version(VERSION, '-V, --version')
  .addOption(new Option('-d, --data <dir>', 'data directory (database, PKI)').env('FLEET_DATA').default('./fleet-data'))
  .addOption(new Option('-l, --listen <host:port>', 'gRPC address for agents and the CLI').env('FLEET_LISTEN').default('0.0.0.0:7443'))
  .addOption(new Option('--https-listen <host:port>', 'HTTPS address for install.sh and agent downloads').env('FLEET_HTTPS_LISTEN').default('0.0.0.0:8443'))
  .addOption(new Option('--name <name...>', 'extra DNS name or IP for the server certificate').env('FLEET_SERVER_NAMES'))
  .addOption(new Option('--pxe-listen <host:port>', 'serve PXE boot answers (plain HTTP, for iPXE) on this address; off by default').env('FLEET_PXE_LISTEN'))
  .addOption(new Option('--webhook <url...>', 'POST a JSON alert here on each health check change and failed rollout (repeatable)'))
  .addOption(new Option('--nats <urls>', 'also serve agents over these NATS brokers (nats://a:4222,nats://b:4222); see `fleet-server nats-config`').env('FLEET_NATS'))
  .enablePositionalOptions()
  .addHelpText(
    'after',
    `
Environment: FLEET_DATA, FLEET_LISTEN, FLEET_HTTPS_LISTEN, FLEET_RELEASES, FLEET_SERVER_NAMES (comma-separated), FLEET_LOG (log level),
FLEET_OFFLINE_AFTER_MS, FLEET_HEARTBEAT_MS, FLEET_WEBHOOKS (comma-separated URLs), FLEET_PXE_LISTEN, FLEET_NATS.

On first start the server creates its CA and prints an admin API token once.`,
  )
  .action(async (opts: { data: string; listen: string; httpsListen: string; name?: string[] | string; webhook?: string[]; pxeListen?: string; nats?: string }) => {
    const log = createLogger('fleet-server');
    let options: ServerOptions;
    try {
      const { host, port } = parseListen(opts.listen);
      const https = parseListen(opts.httpsListen);
      const names = typeof opts.name === 'string' ? opts.name.split(',') : (opts.name ?? []);
      const fromEnv = optionsFromEnv();
      options = parseOptions({
        ...fromEnv,
        webhooks: [...(fromEnv.webhooks ?? []), ...(opts.webhook ?? [])],
        pxe: opts.pxeListen ? parseListen(opts.pxeListen) : null,
        nats: opts.nats ? { servers: parseNats(opts.nats) } : (fromEnv.nats ?? null),
        dataDir: opts.data,
        listenHost: host,
        listenPort: port,
        httpsHost: https.host,
        httpsPort: https.port,
        serverNames: names.map((n) => n.trim()).filter(Boolean),
      });
    } catch (err) {
      process.stderr.write(`fleet-server: ${(err as Error).message}\n`);
      process.exit(2);
    }
    try {
      const server = await startServer(options, log);
      const where = `https://${hostname()}:${server.port}`;
      process.stdout.write(
        `fleet-server ${VERSION} listening on ${options.listenHost}:${server.port}\nCA fingerprint: sha256:${server.caHash}\n` +
          `installs on https://${options.httpsHost}:${server.httpsPort} (pin ${server.installPin})\n` +
          (server.pxePort ? `PXE on http://${options.pxe!.host}:${server.pxePort}/pxe/boot.ipxe\n` : '') +
          `install an agent: curl -fsSL -k --pinnedpubkey '${server.installPin}' https://${hostname()}:${server.httpsPort}/install.sh | sudo sh -s -- --token TOKEN\n`,
      );
      if (server.firstAdminToken) {
        process.stdout.write(
          `\nFirst start: an admin API token was created. It is shown only this once; keep it safe:\n\n` +
            `  ${server.firstAdminToken}\n\n` +
            `Log in from any machine with:\n\n  fleet login --server ${where} --token ${server.firstAdminToken} --ca-hash sha256:${server.caHash}\n\n`,
        );
      }
      let closing = false;
      const shutdown = (signal: string) => {
        if (closing) return;
        closing = true;
        log.info({ signal }, 'shutting down');
        server.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on('SIGINT', () => shutdown('SIGINT'));
      process.on('SIGTERM', () => shutdown('SIGTERM'));
    } catch (err) {
      if (err instanceof FleetError) process.stderr.write(`fleet-server: ${err.message}\n`);
      else log.fatal({ err }, 'fleet-server failed to start');
      process.exit(1);
    }
  });

program
  .command('nats-config')
  .description('print the nats-server configuration block (operator, accounts) that makes brokers trust this fleet')
  .addOption(new Option('-d, --data <dir>', 'the fleet-server data directory').env('FLEET_DATA').default('./fleet-data'))
  .addHelpText('after', '\nDeploy the block on every broker (include it in nats-server.conf); see docs/scale-out.md.')
  .action(async (opts: { data: string }) => {
    try {
      const authority = await NatsAuthority.loadOrCreate(opts.data);
      process.stdout.write(authority.configBlock());
    } catch (err) {
      process.stderr.write(`fleet-server: cannot read or create the NATS keys in ${opts.data}: ${(err as Error).message}\n`);
      process.exit(1);
    }
  });

program.parseAsync(process.argv);
