// Every FLEET_* environment variable, declared once: which program reads it, what it means, its
// default and how its text is checked. fleet-server, fleet-agent and fleet read them only through
// readEnv / envOption here; the installer, build scripts and benchmarks (shell and plain .mjs,
// which cannot import this file) read theirs directly, but are declared here all the same.
// common/env.test.ts fails when a FLEET_ name used anywhere is missing here, and when
// docs/configuration.md does not list one declared here.
import type { Option } from 'commander';
import { z } from 'zod';
import { parseDuration } from './duration';
import { InvalidEnvError } from './errors';

/** Who reads a variable (or, for FLEET_ROOT, who sets it). */
export const Program = {
  Server: 'fleet-server',
  Agent: 'fleet-agent',
  Cli: 'fleet',
  Installer: 'install.sh',
  Launcher: 'fleet-agent-launch',
  Scripts: 'scripts in specs',
  Build: 'build scripts',
  Bench: 'benchmarks',
  Tests: 'tests',
} as const;
export type Program = (typeof Program)[keyof typeof Program];

/** One declared variable. */
export interface EnvVar<T> {
  programs: readonly Program[];
  description: string;
  /** The value that applies when the variable is unset, as the program sees it. */
  default?: string;
  /** What applies when unset when that is not one fixed value (docs only). */
  defaultNote?: string;
  /** Checks the text and turns it into the value the program uses. */
  schema: z.ZodType<T, string>;
}

const text = z.string().min(1, 'must not be empty');
const wholeNumber = z
  .string()
  .regex(/^\d+$/, 'expected a whole number')
  .transform(Number);
const onOff = z.enum(['0', '1'], { error: 'expected 1 (on) or 0 (off)' }).transform((v) => v === '1');
const listen = z.string().regex(/^(?:\[[^\]]+\]|[^:\s[\]]*):\d{1,5}$/, 'expected HOST:PORT, e.g. 0.0.0.0:7443 or [::1]:7443');
const commaList = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
const duration = z.string().refine(
  (v) => {
    try {
      parseDuration(v);
      return true;
    } catch {
      return false;
    }
  },
  { error: 'expected a duration such as 500ms, 30s, 10m or 1h30m' },
);
const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { error: 'expected fatal, error, warn, info, debug, trace or silent' });
const compression = z.enum(['gzip', 'zstd'], { error: 'expected gzip or zstd' });

const declare = <T>(v: EnvVar<T>): EnvVar<T> => v;
const { Server, Agent, Cli, Installer, Launcher, Scripts, Build, Bench, Tests } = Program;

/** The declarations, by name. */
export const ENV = {
  // Every program
  FLEET_LOG: declare({ programs: [Server, Agent], description: 'Log level: fatal, error, warn, info, debug, trace or silent (the agent emulator defaults to warn).', default: 'info', schema: logLevel }),

  // fleet-server
  FLEET_DATA: declare({ programs: [Server], description: 'Data directory: database, PKI, keys, recordings (`--data`).', default: './fleet-data', schema: text }),
  FLEET_LISTEN: declare({ programs: [Server], description: 'gRPC address for agents and the CLI (`--listen`); port 0 picks a free one.', default: '0.0.0.0:7443', schema: listen }),
  FLEET_HTTPS_LISTEN: declare({ programs: [Server], description: 'HTTPS address for the web page, install.sh and agent downloads (`--https-listen`).', default: '0.0.0.0:8443', schema: listen }),
  FLEET_RELEASES: declare({ programs: [Server], description: 'Directory of agent releases served for download and upgrades.', defaultNote: 'DATA/releases', schema: text }),
  FLEET_SERVER_NAMES: declare({ programs: [Server], description: 'Extra DNS names or IPs for the server certificate and the printed install line, comma-separated (`--name`).', schema: commaList }),
  FLEET_OFFLINE_AFTER_MS: declare({ programs: [Server], description: 'A node that sends nothing for this many ms is offline (at least 1000, and twice the heartbeat).', default: '12000', schema: wholeNumber }),
  FLEET_HEARTBEAT_MS: declare({ programs: [Server], description: 'How often agents send heartbeats, in ms (at least 100).', default: '5000', schema: wholeNumber }),
  FLEET_SIGNIN_FAILURES: declare({ programs: [Server], description: 'Failed API-token checks one address may make per minute before its wrong tokens are held back (join tokens: twice that).', default: '10', schema: wholeNumber }),
  FLEET_SHELL_MAX_PER_USER: declare({ programs: [Server], description: 'Remote shells one user may have open at once.', default: '5', schema: wholeNumber }),
  FLEET_SHELL_IDLE_MS: declare({ programs: [Server], description: 'A shell with no input or output for this many ms is closed (20 min).', default: '1200000', schema: wholeNumber }),
  FLEET_SHELL_MAX_MS: declare({ programs: [Server], description: 'The longest a shell may stay open, in ms (12 h).', default: '43200000', schema: wholeNumber }),
  FLEET_SHELL_GRACE_MS: declare({ programs: [Server], description: 'How long a web shell whose socket dropped waits for the page to reattach, in ms.', default: '60000', schema: wholeNumber }),
  FLEET_SHELL_RECORD_INPUT: declare({ programs: [Server], description: 'Set to 1 to record keyboard input in shell recordings as well as output.', default: '0', schema: onOff }),
  FLEET_WEBHOOKS: declare({ programs: [Server], description: 'URLs that receive a JSON POST on each health check change and failed rollout, comma-separated (`--webhook` adds more).', schema: commaList }),
  FLEET_PXE_LISTEN: declare({ programs: [Server], description: 'Plain-HTTP address for the PXE endpoints (`--pxe-listen`).', defaultNote: 'off', schema: listen }),
  FLEET_METRICS_LISTEN: declare({ programs: [Server], description: 'Plain-HTTP address serving only /metrics without a token (`--metrics-listen`).', defaultNote: 'off (metrics on the HTTPS port, behind a token)', schema: listen }),
  FLEET_NATS: declare({ programs: [Server], description: 'NATS brokers to serve agents on as well as gRPC, comma-separated nats://host:port (`--nats`).', defaultNote: 'off', schema: text }),
  FLEET_STORE: declare({ programs: [Server], description: 'Where the server keeps its state: a PostgreSQL URL (postgres://user:password@host:port/database) shared by several replicas (`--store`); unset keeps everything in DATA (SQLite).', defaultNote: 'DATA/fleet.db (SQLite)', schema: text }),
  FLEET_MASTER_KEY_FILE: declare({ programs: [Server], description: 'File holding the master key that encrypts the CA, server, command-signing and NATS keys kept in PostgreSQL: 32 random bytes as 64 hex digits (`openssl rand -hex 32`), readable by the server user only (mode 0600 or 0400); every replica is given the same one.', defaultNote: 'none (needed only with PostgreSQL)', schema: text }),

  // fleet-agent (and install.sh, which passes them on)
  FLEET_SERVER: declare({ programs: [Agent, Installer], description: 'Server address the agent enrolls with and connects to (`--server`).', schema: text }),
  FLEET_TOKEN: declare({ programs: [Agent, Cli, Installer], description: 'Join token for enrollment (agent, install.sh), or API token for `fleet login`.', schema: text }),
  FLEET_TOKEN_FILE: declare({ programs: [Agent, Installer], description: 'File to read the join token from (`--token-file`).', schema: text }),
  FLEET_AGENT_DIR: declare({ programs: [Agent, Launcher], description: 'The agent state directory: identity, result spool, upgrade markers (`--state-dir`).', default: '/var/lib/fleet-agent', schema: text }),
  FLEET_NODE_NAME: declare({ programs: [Agent, Installer], description: 'Node name to ask for at enrollment (`--name`).', defaultNote: 'the hostname', schema: text }),
  FLEET_AGENT_ROOT: declare({ programs: [Agent], description: 'Root prefix for desired-state resources: files, /opt/fleet, packages (`--root`); an absolute path.', default: '/', schema: text }),
  FLEET_AGENT_RECONCILE_INTERVAL: declare({ programs: [Agent], description: 'How often desired state is re-checked for drift (`--reconcile-interval`, at least 1s).', default: '5m', schema: duration }),
  FLEET_AGENT_INVENTORY_INTERVAL: declare({ programs: [Agent], description: 'How often memory, addresses, disks and the OS release are re-read (`--inventory-interval`, at least 1s).', default: '1m', schema: duration }),
  FLEET_AGENT_NATS: declare({ programs: [Agent], description: 'Link to the server over these NATS brokers instead of gRPC, comma-separated (`--nats`).', defaultNote: 'gRPC', schema: text }),
  FLEET_AGENT_RENEW_BEFORE_MS: declare({ programs: [Agent], description: 'Renew the client certificate when less than this many ms of it are left.', defaultNote: '30 days', schema: wholeNumber }),
  FLEET_AGENT_SUPERVISED: declare({ programs: [Agent, Launcher], description: 'Set to 1 by fleet-agent-launch: a supervisor restarts the agent and guards upgrades, so it may upgrade itself.', default: '0', schema: onOff }),
  FLEET_BIN: declare({ programs: [Agent, Launcher, Installer], description: 'Path of the agent executable that fleet-agent-launch runs and an upgrade replaces.', default: '/opt/fleet/bin/fleet-agent', schema: text }),
  FLEET_ROOT: declare({ programs: [Scripts], description: 'Set by the agent for `exec` resources, command checks and supervised services: the agent root they run in.', schema: text }),

  // fleet (CLI)
  FLEET_CONFIG: declare({ programs: [Cli], description: 'The CLI contexts file.', defaultNote: '$XDG_CONFIG_HOME/fleet/config.json or ~/.config/fleet/config.json', schema: text }),
  FLEET_CONTEXT: declare({ programs: [Cli], description: 'The context to use when `--context` is not given.', defaultNote: "the file's current context", schema: text }),
  FLEET_REQUEST_TIMEOUT: declare({ programs: [Cli], description: 'How long each request may take, e.g. 10s or 2m; 0 waits for ever (`--request-timeout`).', defaultNote: '30s, 90s for plan', schema: duration }),

  // install.sh
  FLEET_URL: declare({ programs: [Installer], description: "The fleet server's https address install.sh downloads from (`--url`).", defaultNote: 'the server that served install.sh', schema: text }),
  FLEET_CA_PIN: declare({ programs: [Installer], description: 'Fingerprint of the fleet CA to expect, sha256:HEX (`--ca-pin`).', schema: text }),
  FLEET_LABELS: declare({ programs: [Installer], description: 'Labels to ask for, k1=v1,k2=v2 (`--label`).', schema: text }),

  // Build scripts and benchmarks
  FLEET_BUILD_VERSION: declare({ programs: [Build], description: 'Version stamped into a standalone agent build (scripts/build-agent.mjs).', defaultNote: 'package.json version', schema: text }),
  FLEET_BUILD_COMPRESS: declare({ programs: [Build], description: 'Set to gzip to skip the slow zstd copy of the standalone agent (test builds).', defaultNote: 'zstd when installed', schema: compression }),
  FLEET_DISCOVERY_COMPRESS: declare({ programs: [Build], description: 'gzip or zstd for the PXE discovery image (scripts/build-discovery.mjs).', defaultNote: 'zstd when installed', schema: compression }),
  FLEET_BENCH_DIST: declare({ programs: [Bench], description: "A copy of dist/ for benchmarks to run instead of the tree's own build.", defaultNote: 'dist/', schema: text }),
  FLEET_TEST_HA_FULL: declare({ programs: [Tests], description: 'Set to 1 for the full high-availability tests (`npm run test:ha`): the database crash under a 200-node job instead of 50.', defaultNote: 'off (50 nodes)', schema: onOff }),
} as const satisfies Record<string, EnvVar<unknown>>;

/** A declared variable's name. */
export type EnvName = keyof typeof ENV;
type EnvValue<N extends EnvName> = (typeof ENV)[N] extends EnvVar<infer T> ? T : never;

function parse<N extends EnvName>(name: N, value: string): EnvValue<N> {
  const result = (ENV[name].schema as z.ZodType<EnvValue<N>, string>).safeParse(value);
  if (!result.success) throw new InvalidEnvError(name, value, result.error.issues[0]!.message);
  return result.data;
}

/**
 * The variable's value, checked and converted; undefined when it is unset or empty.
 * @throws InvalidEnvError naming the variable when its text is not valid.
 * @example const level = readEnv('FLEET_LOG') ?? 'info';
 */
export function readEnv<N extends EnvName>(name: N, env: NodeJS.ProcessEnv = process.env): EnvValue<N> | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : parse(name, value);
}

/**
 * The declared default, converted as a set value would be. Only for variables declared with one.
 * @example offlineAfterMs: envDefault('FLEET_OFFLINE_AFTER_MS') // 12000
 */
export function envDefault<N extends EnvName>(name: N): EnvValue<N> {
  const fallback = (ENV[name] as EnvVar<unknown>).default;
  if (fallback === undefined) throw new TypeError(`${name} is declared without a default`);
  return parse(name, fallback);
}

/**
 * The variable's value, or its declared default when unset.
 * @throws InvalidEnvError naming the variable when its text is not valid.
 */
export function readEnvOrDefault<N extends EnvName>(name: N, env: NodeJS.ProcessEnv = process.env): EnvValue<N> {
  return readEnv(name, env) ?? envDefault(name);
}

/**
 * Lets a command-line option be given by its variable too (commander reads it; its help shows
 * the variable), with the variable's declared default.
 * @example cmd.addOption(envOption(new Option('--state-dir <dir>', 'where the identity lives'), 'FLEET_AGENT_DIR'))
 */
export function envOption(option: Option, name: EnvName): Option {
  option.env(name);
  const fallback = (ENV[name] as EnvVar<unknown>).default;
  return fallback === undefined ? option : option.default(fallback);
}

/** The names `program` reads, in declaration order. */
export function envNames(program: Program): EnvName[] {
  return (Object.keys(ENV) as EnvName[]).filter((name) => (ENV[name].programs as readonly Program[]).includes(program));
}

/** "Environment: FLEET_LOG, FLEET_DATA, …" for a program's --help, wrapped, pointing at the docs. */
export function envHelp(program: Program): string {
  const lines: string[] = [];
  let line = 'Environment (see docs/configuration.md):';
  for (const name of envNames(program)) {
    if (line.length + name.length + 2 > 110) {
      lines.push(`${line},`);
      line = name;
    } else line += line.endsWith(':') ? ` ${name}` : `, ${name}`;
  }
  lines.push(`${line}.`);
  return lines.join('\n');
}
