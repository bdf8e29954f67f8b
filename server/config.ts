// fleet-server options: defaults, environment variables (declared in common/env.ts) and validation.
import { z } from 'zod';
import { DEFAULT_GRPC_PORT } from '../common/address';
import { envDefault, readEnv } from '../common/env';
import { StartupError } from './errors';
import { parseNatsServers } from '../transport';
import { type ShellLimits, defaultShellLimits } from './shells';

/** The HTTPS port (installs, downloads) fleet-server listens on unless told otherwise. */
export const DEFAULT_HTTPS_PORT = 8443;

export interface ServerOptions {
  /** Where the database, PKI and keys live. FLEET_DATA, default ./fleet-data. */
  dataDir: string;
  /** Address for the gRPC port (agents and CLI). FLEET_LISTEN, default 0.0.0.0:7443. Port 0 picks a free one. */
  listenHost: string;
  listenPort: number;
  /** Address for the HTTPS port (install.sh, agent downloads). FLEET_HTTPS_LISTEN, default 0.0.0.0:8443. */
  httpsHost: string;
  httpsPort: number;
  /** Where agent releases live. FLEET_RELEASES, default DATA/releases. */
  releasesDir: string;
  /** Extra DNS names or IPs for the server certificate. FLEET_SERVER_NAMES, comma-separated. */
  serverNames: string[];
  /**
   * A node that sends nothing for this long is offline. FLEET_OFFLINE_AFTER_MS, default 12000:
   * with heartbeats every 5 s, a node whose network is cut shows offline within 15 s of the cut.
   */
  offlineAfterMs: number;
  /** How often agents send heartbeats. FLEET_HEARTBEAT_MS, default 5000. */
  heartbeatMs: number;
  /**
   * Failed API-token checks one address may make in a minute before its wrong tokens are held
   * back (its valid ones never are; join-token guesses at enrollment: twice that).
   * FLEET_SIGNIN_FAILURES, default 10.
   */
  signInFailures: number;
  /** Per-node job timeout when a job names none. Default 30 s. */
  defaultJobTimeoutMs: number;
  /**
   * Remote shell limits. FLEET_SHELL_MAX_PER_USER (5), FLEET_SHELL_IDLE_MS (20 min),
   * FLEET_SHELL_MAX_MS (12 h), FLEET_SHELL_GRACE_MS (web reattach, 60 s), FLEET_SHELL_RECORD_INPUT (0).
   */
  shell: ShellLimits;
  /** URLs that receive a JSON POST on each health check transition and failed rollout. FLEET_WEBHOOKS, comma-separated. */
  webhooks: string[];
  /** The plain-HTTP PXE port (FLEET_PXE_LISTEN, --pxe-listen); null keeps PXE off (the default). */
  pxe: { host: string; port: number } | null;
  /**
   * NATS brokers to serve agents on as well as gRPC (FLEET_NATS, --nats, comma-separated
   * nats://host:port); null (the default) serves gRPC only. See docs/scale-out.md.
   */
  nats: { servers: string[] } | null;
  /**
   * A plain-HTTP address serving only /metrics without a token (FLEET_METRICS_LISTEN,
   * --metrics-listen); null (the default) serves metrics on the HTTPS port only, behind a token.
   */
  metrics: { host: string; port: number } | null;
  /**
   * A PostgreSQL URL (FLEET_STORE, --store) where several replicas share the fleet's state; null
   * (the default) keeps it in the data directory (SQLite). docs/high-availability.md.
   */
  store: string | null;
}

/** The options fleet-server runs with when nothing is configured. */
export function defaultOptions(): ServerOptions {
  return {
    dataDir: envDefault('FLEET_DATA'),
    listenHost: '0.0.0.0',
    listenPort: DEFAULT_GRPC_PORT,
    httpsHost: '0.0.0.0',
    httpsPort: DEFAULT_HTTPS_PORT,
    releasesDir: '',
    serverNames: [],
    offlineAfterMs: envDefault('FLEET_OFFLINE_AFTER_MS'),
    signInFailures: envDefault('FLEET_SIGNIN_FAILURES'),
    heartbeatMs: envDefault('FLEET_HEARTBEAT_MS'),
    defaultJobTimeoutMs: 30_000,
    shell: defaultShellLimits(),
    webhooks: [],
    pxe: null,
    nats: null,
    metrics: null,
    store: null,
  };
}

const STORE_URL = /^postgres(ql)?:\/\/\S+$/;
const STORE_URL_HINT = 'the store must be a PostgreSQL URL, postgres://user@host:port/database';

const schema = z.object({
  dataDir: z.string().min(1),
  listenHost: z.string().min(1),
  listenPort: z.number().int().min(0).max(65535),
  httpsHost: z.string().min(1),
  httpsPort: z.number().int().min(0).max(65535),
  releasesDir: z.string(),
  serverNames: z.array(z.string().min(1)),
  offlineAfterMs: z.number().int().min(1000),
  heartbeatMs: z.number().int().min(100),
  signInFailures: z.number().int().min(1),
  defaultJobTimeoutMs: z.number().int().min(1),
  shell: z.object({
    maxPerUser: z.number().int().min(1),
    idleMs: z.number().int().min(1000),
    maxMs: z.number().int().min(1000),
    reattachGraceMs: z.number().int().min(0),
    recordInput: z.boolean(),
  }),
  webhooks: z.array(z.string().regex(/^https?:\/\/\S+$/, 'webhooks must be http:// or https:// URLs')),
  pxe: z.object({ host: z.string().min(1), port: z.number().int().min(0).max(65535) }).nullable(),
  nats: z.object({ servers: z.array(z.string().min(1)).min(1) }).nullable(),
  metrics: z.object({ host: z.string().min(1), port: z.number().int().min(0).max(65535) }).nullable(),
  store: z.string().regex(STORE_URL, STORE_URL_HINT).nullable(),
});

/** Checks a --store / FLEET_STORE value for the commands that take one; throws StartupError. */
export function checkStoreUrl(url: string): string {
  if (!STORE_URL.test(url)) throw new StartupError(`--store (FLEET_STORE): ${STORE_URL_HINT}`);
  return url;
}

/** Splits "host:port" / "[v6]:port" / ":port". */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text.trim());
  if (!m) throw new StartupError(`invalid listen address "${text}" (expected HOST:PORT, e.g. 0.0.0.0:${DEFAULT_GRPC_PORT})`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}

/**
 * Reads FLEET_* variables (declared in common/env.ts) over the defaults.
 * @throws InvalidEnvError naming a variable whose value does not parse.
 */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<ServerOptions> {
  const out: Partial<ServerOptions> = {};
  const dataDir = readEnv('FLEET_DATA', env);
  if (dataDir !== undefined) out.dataDir = dataDir;
  const grpc = readEnv('FLEET_LISTEN', env);
  if (grpc !== undefined) Object.assign(out, toListen(grpc));
  const https = readEnv('FLEET_HTTPS_LISTEN', env);
  if (https !== undefined) {
    const { host, port } = parseListen(https);
    out.httpsHost = host;
    out.httpsPort = port;
  }
  const releasesDir = readEnv('FLEET_RELEASES', env);
  if (releasesDir !== undefined) out.releasesDir = releasesDir;
  const serverNames = readEnv('FLEET_SERVER_NAMES', env);
  if (serverNames !== undefined) out.serverNames = serverNames;
  out.offlineAfterMs = readEnv('FLEET_OFFLINE_AFTER_MS', env) ?? defaultOptions().offlineAfterMs;
  out.heartbeatMs = readEnv('FLEET_HEARTBEAT_MS', env) ?? defaultOptions().heartbeatMs;
  out.signInFailures = readEnv('FLEET_SIGNIN_FAILURES', env) ?? defaultOptions().signInFailures;
  const shell = defaultShellLimits();
  shell.maxPerUser = readEnv('FLEET_SHELL_MAX_PER_USER', env) ?? shell.maxPerUser;
  shell.idleMs = readEnv('FLEET_SHELL_IDLE_MS', env) ?? shell.idleMs;
  shell.maxMs = readEnv('FLEET_SHELL_MAX_MS', env) ?? shell.maxMs;
  shell.reattachGraceMs = readEnv('FLEET_SHELL_GRACE_MS', env) ?? shell.reattachGraceMs;
  shell.recordInput = readEnv('FLEET_SHELL_RECORD_INPUT', env) ?? shell.recordInput;
  out.shell = shell;
  const pxe = readEnv('FLEET_PXE_LISTEN', env);
  if (pxe !== undefined) out.pxe = parseListen(pxe);
  const metrics = readEnv('FLEET_METRICS_LISTEN', env);
  if (metrics !== undefined) out.metrics = parseListen(metrics);
  const nats = readEnv('FLEET_NATS', env);
  if (nats !== undefined) out.nats = { servers: parseNats(nats) };
  const store = readEnv('FLEET_STORE', env);
  if (store !== undefined) out.store = store;
  const webhooks = readEnv('FLEET_WEBHOOKS', env);
  if (webhooks !== undefined) out.webhooks = webhooks;
  return out;
}

/** Splits FLEET_NATS / --nats ("nats://a:4222,nats://b:4222"); throws StartupError when malformed. */
export function parseNats(text: string): string[] {
  try {
    return parseNatsServers(text);
  } catch (err) {
    throw new StartupError(`--nats (FLEET_NATS): ${(err as Error).message}`, err);
  }
}

function toListen(text: string): Pick<ServerOptions, 'listenHost' | 'listenPort'> {
  const { host, port } = parseListen(text);
  return { listenHost: host, listenPort: port };
}

/** Merges and validates options; throws StartupError naming the bad field. */
export function parseOptions(partial: Partial<ServerOptions>): ServerOptions {
  const merged = { ...defaultOptions(), ...partial };
  const result = schema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new StartupError(`invalid server option ${issue.path.join('.')}: ${issue.message}`);
  }
  if (merged.heartbeatMs * 2 > merged.offlineAfterMs) {
    throw new StartupError('the heartbeat interval must be at most half of the offline timeout');
  }
  return { ...result.data, releasesDir: result.data.releasesDir || `${result.data.dataDir}/releases` };
}
