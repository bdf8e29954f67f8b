#!/usr/bin/env node
// fleet-server: the executable. Starts with zero configuration; see `fleet-server --help`.
import { Command, Option } from 'commander';
import { networkInterfaces } from 'node:os';
import { createLogger } from '../common/logger';
import { VERSION } from '../common/version';
import { FleetError } from '../common/errors';
import { checkStoreUrl, optionsFromEnv, parseListen, parseNats, parseOptions, type ServerOptions } from './config';
import { NatsAuthority } from './nats-authority';
import { bannerText } from './banner';
import { startServer } from './server';
import { backup, restore, runDoctor, type DoctorCheck } from './ops';
import { PgKeyMaterial, migratePg, openPgPool, readMasterKey, redactUrl, runClusterDoctor } from './postgres';
import { readEnv } from '../common/env';
import { Program, envHelp, envOption } from '../common/env';

const program = new Command('fleet-server')
  .description('The fleet server: stores inventory and jobs, and drives agents over one TLS port.')
  .version(VERSION, '-V, --version')
  .addOption(envOption(new Option('-d, --data <dir>', 'data directory (database, PKI)'), 'FLEET_DATA'))
  .addOption(envOption(new Option('-l, --listen <host:port>', 'gRPC address for agents and the CLI'), 'FLEET_LISTEN'))
  .addOption(envOption(new Option('--https-listen <host:port>', 'HTTPS address for install.sh and agent downloads'), 'FLEET_HTTPS_LISTEN'))
  .addOption(envOption(new Option('--name <name...>', 'DNS name or IP machines reach the server by: added to its certificate, and printed in the install and login lines when listening on all addresses'), 'FLEET_SERVER_NAMES'))
  .addOption(envOption(new Option('--pxe-listen <host:port>', 'serve PXE boot answers (plain HTTP, for iPXE) on this address; off by default'), 'FLEET_PXE_LISTEN'))
  .addOption(new Option('--webhook <url...>', 'POST a JSON alert here on each health check change and failed rollout (repeatable)'))
  .addOption(envOption(new Option('--metrics-listen <host:port>', 'also serve /metrics without a token on this plain-HTTP address (for a local scraper); off by default'), 'FLEET_METRICS_LISTEN'))
  .addOption(envOption(new Option('--nats <urls>', 'also serve agents over these NATS brokers (nats://a:4222,nats://b:4222); see `fleet-server nats-config`'), 'FLEET_NATS'))
  .addOption(envOption(new Option('--store <url>', 'keep the fleet\'s state in this PostgreSQL database (postgres://user@host:port/db), shared by several replicas; needs FLEET_MASTER_KEY_FILE'), 'FLEET_STORE'))
  .enablePositionalOptions()
  .addHelpText(
    'after',
    `
${envHelp(Program.Server)}

On first start the server creates its CA and prints an admin API token once.
Prometheus metrics: GET https://SERVER:8443/metrics with Authorization: Bearer fa1_… (any role).
Operations (see docs/operations.md): fleet-server backup, fleet-server restore, fleet-server doctor.`,
  )
  .action(async (opts: { data: string; listen: string; httpsListen: string; name?: string[] | string; webhook?: string[]; pxeListen?: string; metricsListen?: string; nats?: string; store?: string }) => {
    const log = createLogger('fleet-server');
    let options: ServerOptions;
    try {
      // The variables first, so that a bad one is named as such.
      const fromEnv = optionsFromEnv();
      const { host, port } = parseListen(opts.listen);
      const https = parseListen(opts.httpsListen);
      const names = typeof opts.name === 'string' ? opts.name.split(',') : (opts.name ?? []);
      options = parseOptions({
        ...fromEnv,
        webhooks: [...(fromEnv.webhooks ?? []), ...(opts.webhook ?? [])],
        pxe: opts.pxeListen ? parseListen(opts.pxeListen) : null,
        metrics: opts.metricsListen ? parseListen(opts.metricsListen) : null,
        nats: opts.nats ? { servers: parseNats(opts.nats) } : (fromEnv.nats ?? null),
        store: opts.store ?? fromEnv.store ?? null,
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
      process.stdout.write(
        bannerText({
          version: VERSION,
          caHash: server.caHash,
          installPin: server.installPin,
          names: options.serverNames,
          interfaces: networkInterfaces(),
          grpc: { host: options.listenHost, port: server.port },
          https: { host: options.httpsHost, port: server.httpsPort },
          metrics: server.metricsPort ? { host: options.metrics!.host, port: server.metricsPort } : undefined,
          pxe: server.pxePort ? { host: options.pxe!.host, port: server.pxePort } : undefined,
          firstAdminToken: server.firstAdminToken || undefined,
        }),
      );
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
  .addOption(envOption(new Option('-d, --data <dir>', 'the fleet-server data directory'), 'FLEET_DATA'))
  .addOption(envOption(new Option('--store <url>', 'the PostgreSQL database the replicas keep their keys in (with FLEET_MASTER_KEY_FILE)'), 'FLEET_STORE'))
  .addHelpText('after', '\nDeploy the block on every broker (include it in nats-server.conf); see docs/scale-out.md.')
  .action(async (opts: { data: string; store?: string }) => {
    try {
      if (opts.store) {
        const masterKey = readMasterKey(readEnv('FLEET_MASTER_KEY_FILE'));
        const pool = await openPgPool(checkStoreUrl(opts.store), { max: 1 });
        try {
          process.stdout.write((await NatsAuthority.loadOrCreate(new PgKeyMaterial(pool, masterKey))).configBlock());
        } finally {
          await pool.end();
        }
        return;
      }
      const authority = await NatsAuthority.loadOrCreate(opts.data);
      process.stdout.write(authority.configBlock());
    } catch (err) {
      process.stderr.write(`fleet-server: cannot read or create the NATS keys in ${opts.store ? redactUrl(opts.store) : opts.data}: ${(err as Error).message}\n`);
      process.exit(1);
    }
  });

/**
 * Backup, restore and doctor work on the data directory of an embedded server; a server whose
 * state is in PostgreSQL (FLEET_STORE) is backed up with PostgreSQL's tools. Says so and exits 1.
 */
function refuseOnPostgres(what: string): void {
  if (!readEnv('FLEET_STORE')) return;
  process.stderr.write(
    `fleet-server: ${what} works on the data directory of a server on SQLite; FLEET_STORE says this fleet's state is in PostgreSQL: use pg_dump or base backups, and keep a copy of the master key file apart from them (docs/high-availability.md)\n`,
  );
  process.exit(1);
}

/** Prints a failed operation's message and exits 1 (2 for usage), as every subcommand does. */
function failOp(err: unknown): never {
  process.stderr.write(`fleet-server: ${err instanceof FleetError ? err.message : `unexpected error: ${(err as Error)?.stack ?? String(err)}`}\n`);
  process.exit(1);
}

program
  .command('backup')
  .description('write an online backup of the data directory (database, CA and keys, hosted files) to one file; safe while the server runs')
  .requiredOption('--to <file>', 'the backup file to write (.tar.gz; replaced atomically, mode 0600)')
  .addOption(envOption(new Option('-d, --data <dir>', 'the fleet-server data directory'), 'FLEET_DATA'))
  .option('--with-recordings', 'also include shell session recordings (DATA/recordings)')
  .addHelpText(
    'after',
    `
The file holds the CA private key: keep it as safe as the server itself. Agent releases are not
included (re-import them). Restore with: fleet-server restore --from FILE --data DIR`,
  )
  .action(async (opts: { to: string; data: string; withRecordings?: boolean }) => {
    refuseOnPostgres('backup');
    try {
      const r = await backup(opts.data, opts.to, { recordings: opts.withRecordings });
      process.stdout.write(`backup written: ${r.file} (${r.bytes} bytes, ${r.files} files): ${r.nodes} nodes, ${r.jobs} jobs, schema ${r.schemaVersion}, CA sha256:${r.caHash}; integrity ok\n`);
    } catch (err) {
      failOp(err);
    }
  });

program
  .command('restore')
  .description('restore a backup made by `fleet-server backup` into a data directory (the server must not be running on it)')
  .requiredOption('--from <file>', 'the backup file')
  .requiredOption('-d, --data <dir>', 'the data directory to restore into (new or empty)')
  .option('--force', 'restore into a non-empty directory: its content is moved aside to DIR.before-restore-TIME, not deleted')
  .addHelpText('after', '\nThe restored server keeps its CA, so enrolled agents reconnect without enrolling again; see docs/operations.md.')
  .action(async (opts: { from: string; data: string; force?: boolean }) => {
    refuseOnPostgres('restore');
    try {
      const r = await restore(opts.from, opts.data, { force: opts.force });
      process.stdout.write(
        `restored ${r.file} into ${opts.data}: ${r.nodes} nodes, ${r.jobs} jobs, schema ${r.schemaVersion}, CA sha256:${r.caHash}\n` +
          (r.movedAside ? `the previous content of ${opts.data} was moved to ${r.movedAside}\n` : ''),
      );
    } catch (err) {
      failOp(err);
    }
  });

program
  .command('doctor')
  .description('check a data directory (disk, database, schema, CA and certificates, NATS keys), or with --store a fleet on PostgreSQL (database, clock, schema, master key, replicas, drivers); read-only, safe while servers run')
  .addOption(envOption(new Option('-d, --data <dir>', 'the fleet-server data directory'), 'FLEET_DATA'))
  .addOption(envOption(new Option('--store <url>', 'check the fleet in this PostgreSQL database instead (postgres://user@host:port/db)'), 'FLEET_STORE'))
  .addOption(envOption(new Option('--nats <urls>', 'NATS is configured (missing NATS keys are then a failure)'), 'FLEET_NATS'))
  .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
  .addHelpText('after', '\nWith --store, FLEET_MASTER_KEY_FILE names the master key to check. Exit code 0 when no check fails (warnings allowed), 1 otherwise.')
  .action(async (opts: { data: string; store?: string; nats?: string; output: string }) => {
    try {
      let checks: DoctorCheck[];
      if (opts.store) {
        const pool = await openPgPool(checkStoreUrl(opts.store), { migrate: false, max: 1 });
        try {
          checks = await runClusterDoctor(pool, { masterKeyFile: readEnv('FLEET_MASTER_KEY_FILE') });
        } finally {
          await pool.end();
        }
      } else {
        checks = runDoctor(opts.data, { natsConfigured: Boolean(opts.nats) });
      }
      const failed = checks.some((c) => c.status === 'fail');
      if (opts.output === 'json') process.stdout.write(JSON.stringify({ ok: !failed, checks }, null, 2) + '\n');
      else for (const c of checks) process.stdout.write(`${c.status.padEnd(4)}  ${c.name.padEnd(26)} ${c.detail}\n`);
      process.exitCode = failed ? 1 : 0;
    } catch (err) {
      failOp(err);
    }
  });

program
  .command('migrate')
  .description("bring a PostgreSQL store's schema up to date and exit (every replica also does this at start, under a lock)")
  .addOption(envOption(new Option('--store <url>', 'the PostgreSQL database (postgres://user@host:port/db)'), 'FLEET_STORE').makeOptionMandatory())
  .action(async (opts: { store: string }) => {
    try {
      const pool = await openPgPool(checkStoreUrl(opts.store), { migrate: false, max: 1 });
      try {
        const { from, to } = await migratePg(pool);
        process.stdout.write(from === to ? `${redactUrl(opts.store)}: schema ${to}, up to date\n` : `${redactUrl(opts.store)}: schema ${from} → ${to}\n`);
      } finally {
        await pool.end();
      }
    } catch (err) {
      failOp(err);
    }
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  // Such as a FLEET_LOG the logger cannot take.
  process.stderr.write(`fleet-server: ${err instanceof FleetError ? err.message : String(err)}\n`);
  process.exit(2);
});
