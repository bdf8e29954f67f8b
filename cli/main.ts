// The fleet CLI as a function: main(argv, io) returns the exit code and never exits the process,
// so tests can run it in-process. 0 ok, 1 failure, 2 usage.
import { Command, CommanderError, Option } from 'commander';
import { parseDuration } from '../common/duration';
import { FleetError, SpecError } from '../common/errors';
import { VERSION } from '../common/version';
import { COMMANDS } from './commands';
import { configPath } from './context';
import { CliEnv } from './env';
import { UsageError } from './errors';
import { processIo, type CliIo } from './io';
import { envOption } from '../common/env';

/** `--request-timeout`: a duration, or 0 for no deadline. */
function requestTimeout(text: string): number {
  try {
    return parseDuration(text);
  } catch {
    throw new UsageError(`--request-timeout: "${text}" is not a duration (e.g. 10s, 2m; 0 waits for ever)`);
  }
}

/** Builds the command tree (exported for the help snapshot test). */
export function buildProgram(env: CliEnv): Command {
  const program = new Command('fleet')
    .description('Operate a fleet of machines: nodes, labels, commands, tokens.\n\n`fleet --version` (or -V) prints the version.')
    .option('--context <name>', 'context from the config file (default: the current one; env FLEET_CONTEXT)')
    .addOption(envOption(new Option('--request-timeout <duration>', 'how long each request may take, e.g. 10s or 2m; 0 waits for ever (default: 30s, 90s for plan)'), 'FLEET_REQUEST_TIMEOUT'))
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => env.io.stdout.write(s), writeErr: (s) => env.io.stderr.write(s) })
    .hook('preAction', (cmd) => {
      const opts = cmd.opts<{ context?: string; requestTimeout?: string }>();
      env.setContextName(opts.context);
      if (opts.requestTimeout !== undefined) env.requestTimeoutMs = requestTimeout(opts.requestTimeout);
    })
    .addHelpText('after', `\nConfig: ${configPath()} (override with FLEET_CONFIG).`);
  for (const register of COMMANDS) register(program, env);
  const exitOverride = (cmd: Command) => {
    cmd.exitOverride();
    // A command with options of its own and subcommands (`fleet nodes -o wide` and `fleet nodes
    // show N -o json`) stops reading its options at the subcommand, so the subcommand gets them.
    // (Global options may still come anywhere: main() moves them to the front.)
    if (cmd.commands.length > 0) cmd.enablePositionalOptions();
    cmd.commands.forEach(exitOverride);
  };
  exitOverride(program);
  return program;
}

/** Options of `fleet` itself, which may be written anywhere on the command line. */
const GLOBAL_OPTIONS = ['--context', '--request-timeout'];

/**
 * Moves global options (`--context prod`, `--request-timeout=5s`) to the front, so they work
 * after a subcommand too (`fleet nodes --context prod`) while each command reads only its own
 * options from what follows it.
 */
export function hoistGlobalOptions(argv: string[]): string[] {
  const front: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (GLOBAL_OPTIONS.includes(arg) && i + 1 < argv.length) front.push(arg, argv[++i]!);
    else if (GLOBAL_OPTIONS.some((o) => arg.startsWith(`${o}=`))) front.push(arg);
    else rest.push(arg);
  }
  return [...front, ...rest];
}

/** Runs the CLI; returns the process exit code. */
export async function main(argv: string[], io: CliIo = processIo, configFile = configPath()): Promise<number> {
  // Handled here rather than by commander, so subcommands can have a --version of their own
  // (fleet agents upgrade --version V).
  if (argv[0] === '--version' || argv[0] === '-V') {
    io.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const env = new CliEnv(io, configFile);
  const dashes = argv.indexOf('--');
  if (dashes !== -1) env.trailing = argv.slice(dashes + 1);
  const program = buildProgram(env);
  try {
    await program.parseAsync(hoistGlobalOptions(dashes === -1 ? argv : argv.slice(0, dashes)), { from: 'user' });
    return env.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof UsageError) {
      io.stderr.write(`fleet: ${err.message}\n`);
      return 2;
    }
    if (err instanceof SpecError) {
      // One `file:line:col: field: message` line per problem, as editors and CI annotate them.
      io.stderr.write(`${err.message}\n`);
      return 1;
    }
    if (err instanceof FleetError) {
      io.stderr.write(`fleet: ${err.message}\n`);
      return 1;
    }
    io.stderr.write(`fleet: unexpected error: ${(err as Error)?.stack ?? err}\n`);
    return 1;
  } finally {
    env.close();
  }
}
