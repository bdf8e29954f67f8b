#!/usr/bin/env node
// fleet-agent: the executable that runs on every machine. See `fleet-agent run --help`.
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { parseDuration } from '../common/duration';
import { FleetError } from '../common/errors';
import { parseLabelAssignments } from '../common/labels';
import { createLogger } from '../common/logger';
import { VERSION } from '../common/version';
import { Agent, backoffDelay, defaultAgentOptions } from './agent';
import { enroll, type Enrolled } from './enroll';
import { createAgentTransport, linkOptionsFromFlags } from './transports';
import { parseServerAddress } from '../common/address';
import { GrpcAgentTransport } from '../transport';
import { addEmulateCommand } from './emulate-command';
import { InvalidOptionError, NotEnrolledError } from './errors';
import { ptySelfCheck } from './pty';
import { UpgradeMarkers } from './upgrade';
import { Spool } from './spool';
import { AgentState } from './state';
import { Program, envHelp, envOption, readEnv } from '../common/env';

interface RunOptions {
  server?: string;
  token?: string;
  tokenFile?: string;
  stateDir: string;
  name?: string;
  label: string[];
  root: string;
  reconcileInterval: string;
  inventoryInterval: string;
  nats?: string;
  newIdentity?: boolean;
}

const NEW_IDENTITY_HELP = 'at enrollment, never take over an offline node of this same machine (a reinstall): always make a new node';

/** "enrolled as NAME (ID)", with what the server said about the node on the same line. */
function enrolledLine(identity: Enrolled): string {
  return `enrolled as ${identity.nodeName} (${identity.nodeId})${identity.notice ? `; ${identity.notice}` : ''}\n`;
}

const program = new Command('fleet-agent').description('The fleet agent: keeps one link to the fleet server and runs what it is asked.').version(VERSION, '-V, --version');

program
  .command('run')
  .description('enroll (first time only) and stay connected')
  .addOption(envOption(new Option('-s, --server <url>', 'server address, e.g. https://fleet.example.com:7443'), 'FLEET_SERVER'))
  .addOption(envOption(new Option('-t, --token <token>', 'join token from `fleet tokens create` (first run only)'), 'FLEET_TOKEN'))
  .addOption(envOption(new Option('--token-file <file>', 'read the join token from a file'), 'FLEET_TOKEN_FILE'))
  .addOption(envOption(new Option('--state-dir <dir>', 'where the identity and result spool live'), 'FLEET_AGENT_DIR'))
  .addOption(envOption(new Option('-n, --name <name>', 'node name to ask for (default: the hostname)'), 'FLEET_NODE_NAME'))
  .option('-l, --label <k=v>', 'label to ask for at enrollment (repeatable; the token\'s labels win)', (v: string, all: string[]) => [...all, v], [] as string[])
  .addOption(envOption(new Option('--root <dir>', 'root prefix for desired-state resources (files, /opt/fleet, packages)'), 'FLEET_AGENT_ROOT'))
  .addOption(envOption(new Option('--reconcile-interval <duration>', 'how often desired state is re-checked for drift'), 'FLEET_AGENT_RECONCILE_INTERVAL'))
  .addOption(envOption(new Option('--inventory-interval <duration>', 'how often memory, addresses, disks and the OS release are re-read (CPU and fqdn hourly)'), 'FLEET_AGENT_INVENTORY_INTERVAL'))
  .addOption(envOption(new Option('--nats <urls>', 'link to the server over these NATS brokers (nats://a:4222,nats://b:4222) instead of gRPC; enrollment and renewal stay on --server'), 'FLEET_AGENT_NATS'))
  .option('--new-identity', NEW_IDENTITY_HELP)
  .addHelpText('after', `\n${envHelp(Program.Agent)}`)
  .action(async (opts: RunOptions) => {
    const log = createLogger('fleet-agent');
    try {
      const state = new AgentState(opts.stateDir);
      state.ensure();
      const link = linkOptionsFromFlags(opts);
      const identity = state.load() ?? (await enrollWithRetry(state, opts, log));
      const transport = createAgentTransport(link, { state, log });
      const options = defaultAgentOptions();
      if (!isAbsolute(opts.root)) throw new InvalidOptionError('--root (FLEET_AGENT_ROOT) must be an absolute path');
      options.root = opts.root;
      options.recheckIntervalMs = parseDuration(opts.reconcileInterval);
      if (options.recheckIntervalMs < 1000) throw new InvalidOptionError('--reconcile-interval (FLEET_AGENT_RECONCILE_INTERVAL) must be at least 1s');
      options.inventoryIntervalMs = parseDuration(opts.inventoryInterval);
      if (options.inventoryIntervalMs < 1000) throw new InvalidOptionError('--inventory-interval (FLEET_AGENT_INVENTORY_INTERVAL) must be at least 1s');
      options.renewBeforeMs = readEnv('FLEET_AGENT_RENEW_BEFORE_MS') ?? options.renewBeforeMs;
      const agent = new Agent({ identity, state, spool: new Spool(state.spoolDir, log), markers: new UpgradeMarkers(state.dir), log, options, transport });
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        process.on(signal, () => {
          log.info({ signal }, 'stopping');
          agent.stop();
        });
      }
      await agent.run();
      process.exit(0);
    } catch (err) {
      if (err instanceof FleetError) {
        process.stderr.write(`fleet-agent: ${err.message}\n`);
        process.exit(err instanceof NotEnrolledError ? 2 : 1);
      }
      log.fatal({ err }, 'fleet-agent failed');
      process.exit(1);
    }
  });

program
  .command('enroll')
  .description('enroll this machine and exit (installers run this before starting the service)')
  .addOption(envOption(new Option('-s, --server <url>', 'server address'), 'FLEET_SERVER').makeOptionMandatory())
  .addOption(envOption(new Option('-t, --token <token>', 'join token'), 'FLEET_TOKEN'))
  .addOption(envOption(new Option('--token-file <file>', 'read the join token from a file'), 'FLEET_TOKEN_FILE'))
  .addOption(envOption(new Option('--state-dir <dir>', 'where the identity lives'), 'FLEET_AGENT_DIR'))
  .addOption(envOption(new Option('-n, --name <name>', 'node name to ask for'), 'FLEET_NODE_NAME'))
  .option('-l, --label <k=v>', 'label to ask for (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--new-identity', NEW_IDENTITY_HELP)
  .addHelpText('after', '\nA machine enrolling again (reinstalled, its disk wiped) takes over its own offline node: same name,\nlabels and history. See docs/security.md, "Re-enrollment".')
  .action(async (opts: RunOptions) => {
    const log = createLogger('fleet-agent');
    try {
      const state = new AgentState(opts.stateDir);
      state.ensure();
      const existing = state.load();
      if (existing) {
        process.stdout.write(`already enrolled as ${existing.nodeName} (${existing.nodeId})\n`);
        return;
      }
      process.stdout.write(enrolledLine(await enrollWithRetry(state, opts, log, 3)));
    } catch (err) {
      process.stderr.write(`fleet-agent: ${err instanceof FleetError ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  });

program
  .command('leave')
  .description('tell the server this machine leaves the fleet: its node is removed and its certificate refused (the uninstaller runs this)')
  .addOption(envOption(new Option('--state-dir <dir>', 'where the identity lives'), 'FLEET_AGENT_DIR'))
  .option('--reason <text>', 'why, for the server\'s audit log', 'left the fleet')
  .action(async (opts: { stateDir: string; reason: string }) => {
    try {
      const identity = new AgentState(opts.stateDir).load();
      if (!identity) throw new NotEnrolledError(opts.stateDir);
      const transport = new GrpcAgentTransport({ address: parseServerAddress(identity.server), caPem: identity.caPem, keyPem: identity.keyPem, certPem: identity.certPem });
      try {
        const name = await transport.leave(opts.reason);
        process.stdout.write(`${name} left the fleet (node ${identity.nodeId} is removed; its certificate is refused from now on)\n`);
      } finally {
        transport.close();
      }
    } catch (err) {
      process.stderr.write(`fleet-agent: ${err instanceof FleetError ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  });

program
  .command('doctor')
  .description('check that this agent can run here (PTYs, state directory)')
  .addOption(envOption(new Option('--state-dir <dir>', 'state directory to check'), 'FLEET_AGENT_DIR'))
  .action(async (opts: { stateDir: string }) => {
    const checks: [string, () => Promise<string>][] = [
      ['version', async () => VERSION],
      ['pty', () => ptySelfCheck()],
      ['state', async () => {
        new AgentState(opts.stateDir).ensure();
        return `${opts.stateDir} is writable`;
      }],
    ];
    for (const [name, check] of checks) {
      try {
        process.stdout.write(`${name}: ${await check()}\n`);
      } catch (err) {
        process.stdout.write(`${name}: FAILED: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    }
  });

/** Enrolls, retrying while the server is unreachable; refusals and bad tokens are final. */
async function enrollWithRetry(state: AgentState, opts: RunOptions, log: ReturnType<typeof createLogger>, attempts = Infinity): Promise<Enrolled> {
  const token = opts.token ?? (opts.tokenFile ? readFileSync(opts.tokenFile, 'utf8').trim() : undefined);
  if (!opts.server || !token) throw new NotEnrolledError(state.dir);
  const labels = parseLabelAssignments(opts.label);
  for (let attempt = 0; ; attempt++) {
    try {
      return await enroll(state, { server: opts.server, token, name: opts.name, labels, newIdentity: opts.newIdentity }, log);
    } catch (err) {
      // Only an unreachable server is worth waiting for; a refusal or a bad token is final.
      if (!(err instanceof FleetError) || err.kind !== 'unavailable' || attempt + 1 >= attempts) throw err;
      const delay = backoffDelay(attempt, 1000, 30_000);
      log.warn({ reason: err.message, retryInMs: delay }, 'cannot reach the server to enroll; retrying');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

addEmulateCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  // Such as a FLEET_LOG the logger cannot take.
  process.stderr.write(`fleet-agent: ${err instanceof FleetError ? err.message : String(err)}\n`);
  process.exit(2);
});
