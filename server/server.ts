// Wires the server together: database, PKI, stores, enrollment, agent hub, dispatcher, the gRPC
// port (agent transport + Control service + reflection).
import { Server } from '@grpc/grpc-js';
import { X509Certificate, createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { ControlServiceService } from '../proto/gen/fleet/v1/control';
import { descriptorSetBase64 } from '../proto/gen/descriptor-set';
import { createServerCredentials, malformedRequestInterceptor, tolerantDecoding, tolerantServer, type AgentTransportHandlers } from '../transport';
import { VERSION } from '../common/version';
import { AgentHub } from './agent-hub';
import { CommandSender } from './commands';
import { addMetricsRoute, createWebApp, findInstallScript, startInstallServer, startMetricsServer, startPxeServer } from './http';
import { addReflection } from './reflection';
import { Releases } from './releases';
import { AgentUpgrades } from './upgrades';
import { ChannelRelay, ShellSessions } from './shells';
import { openSqliteStores, type Stores } from './store';
import { ApiAuth } from './auth';
import type { ServerOptions } from './config';
import { createControlService } from './control-service';
import { createServices } from './services';
import { Access } from './access';
import { Enrollment } from './enrollment';
import { StartupError } from './errors';
import { JobDispatcher } from './jobs';
import { ClusterLinks } from './cluster';
import { loadOrCreatePki } from './pki';
import { Machines } from './pxe';
import { DesiredStateService, HostedFiles, RolloutEngine, Webhooks } from './state';
import { embeddedInfrastructure, type Infrastructure } from './embedded';
import { openPostgres } from './postgres';
import { readEnv } from '../common/env';
import { NatsAuthority } from './nats-authority';
import { createServerTransports } from './agent-transports';
import { Metrics } from './metrics';
import { controlRequestInterceptor, logHttpRequest } from './request-log';

export interface RunningServer {
  /** The port actually bound (useful with port 0). */
  port: number;
  /** The HTTPS (install) port actually bound. */
  httpsPort: number;
  /** curl --pinnedpubkey value for the HTTPS port. */
  installPin: string;
  /** The PXE port actually bound (0: PXE off). */
  pxePort: number;
  /** The plain-HTTP metrics port actually bound (0: --metrics-listen off). */
  metricsPort: number;
  caHash: string;
  /** The first admin API token, only on the very first start. */
  firstAdminToken: string | null;
  close(): Promise<void>;
}

/** curl's --pinnedpubkey form of a certificate's key: "sha256//" + base64 SHA-256 of its SPKI. */
export function pubkeyPin(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256//${createHash('sha256').update(spki).digest('base64')}`;
}

/** Starts fleet-server with validated options. */
export async function startServer(options: ServerOptions, log: Logger): Promise<RunningServer> {
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  // The stores, and the sessions, limits, enrollment replay cache, recordings, hosted files' bytes,
  // keys, bus and leases: in DATA (SQLite, memory, files), or shared in PostgreSQL.
  const { stores, infra } = options.store
    ? await openPostgres(options.store, { signInFailures: options.signInFailures, masterKeyFile: readEnv('FLEET_MASTER_KEY_FILE') }, log)
    : openEmbedded(options, log);
  const pki = await loadOrCreatePki(infra.keys, options.serverNames);
  const { nodes, tokens, jobs, audit, state: stateStore } = stores;
  const auth = new ApiAuth(tokens, infra.apiSignIns);
  const access = new Access(nodes);
  const firstAdminToken = await auth.bootstrapAdmin();
  if (firstAdminToken) await audit.record({ actor: 'server', action: 'token.api.create', target: 'first admin', ok: true });

  const metrics = new Metrics(
    { nodes: async () => ({ enrolled: await nodes.count(), online: links.onlineCount() }), openShells: () => shells.openCount, links: () => hub.onlineCount() },
    { replica: infra.cluster?.replica },
  );
  const hub = new AgentHub({ nodes, audit, log: log.child({ part: 'agents' }), offlineAfterMs: options.offlineAfterMs, heartbeatMs: options.heartbeatMs });
  // With replicas: every replica's links, and messages routed to the replica holding a node's link.
  const cluster = infra.cluster && new ClusterLinks({ hub, bus: infra.bus, ...infra.cluster, log: log.child({ part: 'cluster' }) });
  const links = cluster ?? hub;
  const commands = new CommandSender({ link: links, signer: pki.commandSigner, log: log.child({ part: 'commands' }) });
  const dispatcher = new JobDispatcher({
    jobs,
    nodes,
    hub: links,
    audit,
    log: log.child({ part: 'jobs' }),
    commands,
    defaultTimeoutMs: options.defaultJobTimeoutMs,
    metrics,
    bus: infra.bus,
    leases: infra.leases,
    replicated: cluster && { scanMs: 5000 },
  });
  if (cluster) {
    hub.addListener({ onExecEvent: (n, e) => dispatcher.onExecEvent(n, e), onCommandRejected: (n, r) => dispatcher.onCommandRejected(n, r) });
    cluster.addListener(dispatcher);
  } else {
    hub.addListener(dispatcher);
  }
  const pxeInfo = { port: 0 };
  const installInfo = { port: 0, pin: pubkeyPin(pki.serverCertChainPem) };
  const grpcInfo = { port: 0 };
  const machines = new Machines({
    machines: stores.machines,
    tokens,
    audit,
    log: log.child({ part: 'pxe' }),
    caHash: pki.caHash,
    grpcPort: () => grpcInfo.port,
    install: () => installInfo,
    discoveryDirs: [join(options.dataDir, 'discovery'), join(dirname(fileURLToPath(import.meta.url)), 'discovery')],
    pxePort: () => pxeInfo.port,
  });
  await machines.load();
  const natsAuthority = await NatsAuthority.loadOrCreate(infra.keys);
  const enrollment = new Enrollment({ pki, tokens, nodes, audit, state: stateStore, log: log.child({ part: 'enroll' }), links: hub, machines, nats: natsAuthority, metrics, guesses: infra.joinTokenGuesses, replies: infra.enrollmentReplies });

  // Undecodable requests, and requests with a text field over its limit (common/limits.ts), are
  // answered INVALID_ARGUMENT before any handler, on every service (transport/grpc/request-decoding.ts);
  // every Control call is logged with its request id.
  const grpcServer = new Server({
    'grpc.max_receive_message_length': 16 << 20,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5000,
    interceptors: [controlRequestInterceptor(log.child({ part: 'control' }), metrics), malformedRequestInterceptor],
  });
  const shells = new ShellSessions({
    nodes,
    hub: links,
    commands,
    store: stores.sessions,
    audit,
    log: log.child({ part: 'shells' }),
    recordings: infra.recordings,
    limits: options.shell,
    relay: cluster && new ChannelRelay(infra.bus, log.child({ part: 'shells' })),
  });
  const agentHandlers: AgentTransportHandlers = { enroll: (req, peer) => enrollment.enroll(req, peer), connect: (conn) => hub.connect(conn), channel: (conn) => shells.channel(conn), renew: (peer, csr) => enrollment.renew(peer, csr), leave: (peer, reason) => enrollment.leave(peer, reason) };
  // Every configured transport (gRPC always, NATS beside it) serves the same hub and shells.
  const transports = await createServerTransports(options, { grpcServer, caPem: pki.caPem, natsCredentials: () => natsAuthority.serverCredentials(), log });
  for (const transport of transports) transport.start(agentHandlers);
  const releases = new Releases(options.releasesDir);
  const webhooks = new Webhooks(options.webhooks, log.child({ part: 'webhooks' }));
  const desired = new DesiredStateService({ store: stateStore, nodes, hub, cluster: cluster && { links: cluster, bus: infra.bus }, audit, webhooks, commands, httpsPort: () => installInfo.port, log: log.child({ part: 'state' }) });
  const rollouts = new RolloutEngine({ replicated: cluster && { scanMs: 5000 }, store: stateStore, nodes, hub: links, state: desired, audit, webhooks, log: log.child({ part: 'rollouts' }), bus: infra.bus, leases: infra.leases });
  const files = new HostedFiles(infra.blobs, stateStore);
  const upgrades = new AgentUpgrades({ nodes, hub, releases, commands, audit, log: log.child({ part: 'upgrades' }), httpsPort: () => installInfo.port });
  const services = createServices({ auth, access, audit, nodes, tokens, stateStore, hub: links, dispatcher, upgrades, shells, desired, rollouts, files, machines, pxePort: () => pxeInfo.port, caHash: pki.caHash, install: installInfo });
  grpcServer.addService(
    tolerantDecoding(ControlServiceService),
    createControlService({ services, log: log.child({ part: 'control' }) }),
  );
  addReflection(tolerantServer(grpcServer));

  const creds = createServerCredentials({ caPem: pki.caPem, certChainPem: pki.serverCertChainPem, keyPem: pki.serverKeyPem });
  const bindHost = options.listenHost.includes(':') ? `[${options.listenHost}]` : options.listenHost;
  const port = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync(`${bindHost}:${options.listenPort}`, creds, (err, p) =>
      err ? reject(new StartupError(`cannot listen on ${options.listenHost}:${options.listenPort}: ${err.message}${inUseHint(err, '--listen', 'FLEET_LISTEN')}`, err)) : resolve(p),
    ),
  );
  // A standalone agent built next to this server (dist/) is offered as this server's version.
  releases.importBuild(dirname(fileURLToPath(import.meta.url)), VERSION, log);
  const scriptPath = findInstallScript();
  const httpLog = log.child({ part: 'http' });
  // The web sign-in counts failures per address against the same FLEET_SIGNIN_FAILURES as the gRPC side.
  const web = createWebApp({ services, signInLimits: infra.webSignIns, webSessions: infra.webSessions, log: log.child({ part: 'web' }) });
  const install = await startInstallServer(options.httpsHost, options.httpsPort, {
    scriptPath,
    certChainPem: pki.serverCertChainPem,
    keyPem: pki.serverKeyPem,
    caPem: pki.caPem,
    grpcPort: port,
    releases,
    defaultVersion: () => (releases.files(VERSION).length ? VERSION : releases.versions()[0]),
    log: log.child({ part: 'install' }),
    web,
    hostedFile: (sha256) => files.open(sha256),
    isAgentCertificate: (fingerprint) => nodes.hasCertificate(fingerprint),
    metrics: (app) => addMetricsRoute(app, { gate: services.gate, metrics, log: log.child({ part: 'metrics' }) }),
    onRequest: (req, res) => logHttpRequest(httpLog, metrics, req, res),
  }).catch((err: Error) => {
    web.close();
    grpcServer.forceShutdown();
    throw new StartupError(`cannot listen on ${options.httpsHost}:${options.httpsPort} (HTTPS): ${err.message}${inUseHint(err, '--https-listen', 'FLEET_HTTPS_LISTEN')}`, err);
  });
  installInfo.port = install.port;
  grpcInfo.port = port;
  const pxe = options.pxe
    ? await startPxeServer(options.pxe.host, options.pxe.port, machines, log.child({ part: 'pxe' })).catch(async (err: Error) => {
        await install.app.close();
        web.close();
        grpcServer.forceShutdown();
        throw new StartupError(`cannot listen on ${options.pxe!.host}:${options.pxe!.port} (PXE): ${err.message}${inUseHint(err, '--pxe-listen', 'FLEET_PXE_LISTEN')}`, err);
      })
    : undefined;
  pxeInfo.port = pxe?.port ?? 0;
  const metricsServer = options.metrics
    ? await startMetricsServer(options.metrics.host, options.metrics.port, metrics, log.child({ part: 'metrics' })).catch(async (err: Error) => {
        await pxe?.app.close();
        await install.app.close();
        web.close();
        grpcServer.forceShutdown();
        throw new StartupError(`cannot listen on ${options.metrics!.host}:${options.metrics!.port} (metrics): ${err.message}${inUseHint(err, '--metrics-listen', 'FLEET_METRICS_LISTEN')}`, err);
      })
    : undefined;
  hub.start();
  await cluster?.start();
  await dispatcher.start();
  await shells.start();
  await rollouts.resumeUnfinished();
  log.info({ port, data: options.dataDir, ca: `sha256:${pki.caHash}` }, 'fleet-server listening');

  return {
    port,
    httpsPort: install.port,
    installPin: installInfo.pin,
    pxePort: pxeInfo.port,
    metricsPort: metricsServer?.port ?? 0,
    caHash: pki.caHash,
    firstAdminToken,
    async close() {
      // Terminal sockets first: a server's close waits for every socket it accepted, upgraded ones
      // included; open HTTP connections are closed at once (forceCloseConnections), as before.
      web.close();
      await Promise.all([pxe?.app.close(), metricsServer?.app.close(), install.app.close()]);
      shells.stop();
      rollouts.stop();
      await webhooks.drain();
      await dispatcher.stop();
      await hub.stop();
      await cluster?.stop();
      for (const transport of transports) await transport.stop();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          grpcServer.forceShutdown();
          resolve();
        }, 3000);
        grpcServer.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await stores.close();
    },
  };
}

/** The embedded set: SQLite in DATA/fleet.db, the rest in memory and under DATA. */
function openEmbedded(options: ServerOptions, log: Logger): { stores: Stores; infra: Infrastructure } {
  let stores: Stores;
  try {
    stores = openSqliteStores(join(options.dataDir, 'fleet.db'));
  } catch (err) {
    if (err instanceof StartupError) throw err;
    throw new StartupError(`cannot open the database in ${options.dataDir}: ${(err as Error).message}`, err);
  }
  return { stores, infra: embeddedInfrastructure(options, log.child({ part: 'bus' })) };
}

/** When a port is taken, says how to choose another. */
function inUseHint(err: Error, flag: string, env: string): string {
  return /EADDRINUSE|address already in use/i.test(err.message) ? ` (another program holds the port; choose another with ${flag} HOST:PORT or ${env})` : '';
}
