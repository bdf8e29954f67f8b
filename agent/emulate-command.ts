// `fleet-agent emulate`: runs N emulated agent identities in this process (see emulate.ts).
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { parseDuration } from '../common/duration';
import { FleetError } from '../common/errors';
import { parseLabelAssignments } from '../common/labels';
import { createLogger } from '../common/logger';
import { InvalidOptionError } from './errors';
import { linkOptionsFromFlags } from './transports';
import { Emulator, currentOpenFilesLimit, defaultEmulatorOptions, filesNeeded, type EmulatorProgress } from './emulate';
import { envOption, readEnv } from '../common/env';

interface EmulateFlags {
  server?: string;
  token?: string;
  tokenFile?: string;
  count: string;
  first: string;
  prefix: string;
  stateDir: string;
  labels: string[];
  enrollConcurrency: string;
  synthetic?: boolean;
  startSpread?: string;
  nats?: string;
}

function positiveInt(value: string, flag: string, min = 1): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new InvalidOptionError(`${flag} must be a whole number of at least ${min}`);
  return n;
}

function progressLine(p: EmulatorProgress): string {
  const secs = p.elapsedMs / 1000;
  const rate = p.enrolled && secs > 0 ? `, ${(p.enrolled / secs).toFixed(0)} enrollments/s` : '';
  const refused = p.refused ? `, ${p.refused} refused` : '';
  return `emulator: ${p.started}/${p.total} agents started (${p.enrolled} enrolled, ${p.reused} reused${refused}) after ${secs.toFixed(1)} s${rate}\n`;
}

/** Adds the `emulate` command to fleet-agent. */
export function addEmulateCommand(program: Command): void {
  const defaults = defaultEmulatorOptions();
  program
    .command('emulate')
    .description('run many emulated agents in this process (scale tests): each is a real agent core with its own identity and link')
    .addOption(envOption(new Option('-s, --server <url>', 'server address (for identities not enrolled yet)'), 'FLEET_SERVER'))
    .addOption(envOption(new Option('-t, --token <token>', 'join token with at least --count uses, e.g. `fleet tokens create --uses 10000`'), 'FLEET_TOKEN'))
    .addOption(envOption(new Option('--token-file <file>', 'read the join token from a file'), 'FLEET_TOKEN_FILE'))
    .option('-c, --count <n>', 'how many agents', String(defaults.count))
    .option('--first <n>', 'number of the first identity, so several emulators can share a prefix', String(defaults.first))
    .option('--prefix <prefix>', 'node names are PREFIX-00001, PREFIX-00002, …', defaults.prefix)
    .addOption(new Option('--state-dir <dir>', 'one sub-directory per identity; a restarted emulator reuses them without enrolling').default(defaults.stateDir))
    .option('-l, --labels <k=v>', 'labels for every agent (repeatable or comma-separated); emulated=true is always added', (v: string, all: string[]) => [...all, ...v.split(',')], [] as string[])
    .option('--enroll-concurrency <n>', 'enrollments in flight at once', String(defaults.enrollConcurrency))
    .option('--synthetic', 'exec answers at once (exit 0, one line of output) without starting a process')
    .addOption(envOption(new Option('--nats <urls>', 'link every agent over these NATS brokers (nats://a:4222,nats://b:4222) instead of gRPC'), 'FLEET_AGENT_NATS'))
    .option('--start-spread <duration>', 'spread the start of already enrolled agents over this long (default: 1 ms per agent, at most 5s)')
    .addHelpText(
      'after',
      `
Each agent holds one TLS connection: raise the open-files limit first, e.g.
  ulimit -n 20000 && fleet-agent emulate --count 10000 --server https://fleet:7443 --token fj1_…
Several emulator processes (e.g. 2,500 agents each, with --first 1, 2501, 5001, …) use more cores.
Logs go to stderr at warn level (FLEET_LOG to change); progress too, about once a second.`,
    )
    .action(async (flags: EmulateFlags) => {
      const log = createLogger('fleet-agent-emulator', readEnv('FLEET_LOG') ?? 'warn');
      try {
        const count = positiveInt(flags.count, '--count');
        const enrollConcurrency = positiveInt(flags.enrollConcurrency, '--enroll-concurrency');
        if (!/^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$/.test(flags.prefix)) throw new InvalidOptionError('--prefix must be lower-case letters, digits and "-"');
        const emulator = new Emulator(
          {
            server: flags.server,
            token: flags.token ?? (flags.tokenFile ? readFileSync(flags.tokenFile, 'utf8').trim() : undefined),
            count,
            first: positiveInt(flags.first, '--first'),
            prefix: flags.prefix,
            stateDir: flags.stateDir,
            labels: parseLabelAssignments(flags.labels.filter(Boolean)),
            enrollConcurrency,
            synthetic: flags.synthetic === true,
            startSpreadMs: flags.startSpread === undefined ? Math.min(5000, count) : parseDuration(flags.startSpread),
            link: linkOptionsFromFlags(flags),
          },
          log,
        );
        const limit = currentOpenFilesLimit();
        if (limit !== null && limit < filesNeeded(count, enrollConcurrency)) {
          process.stderr.write(`emulator: warning: the open-files limit is ${limit}; ${count} agents need about ${filesNeeded(count, enrollConcurrency)} (ulimit -n)\n`);
        }
        let stopping = false;
        for (const signal of ['SIGINT', 'SIGTERM'] as const) {
          process.on(signal, () => {
            if (stopping) return;
            stopping = true;
            void emulator.stop().then(() => process.exit(0));
          });
        }
        const progress = (p: EmulatorProgress) => process.stderr.write(progressLine(p));
        const done = await emulator.start(progress);
        const refused = done.refused ? `, ${done.refused} refused: ${done.refusal}` : '';
        process.stdout.write(`emulator: ${done.started} agents running (${done.enrolled} enrolled, ${done.reused} reused${refused}) after ${(done.elapsedMs / 1000).toFixed(1)} s\n`);
        // The agents keep the process alive until a signal stops them.
      } catch (err) {
        if (err instanceof FleetError) {
          process.stderr.write(`fleet-agent emulate: ${err.message}\n`);
          process.exit(1);
        }
        log.fatal({ err }, 'fleet-agent emulate failed');
        process.exit(1);
      }
    });
}
