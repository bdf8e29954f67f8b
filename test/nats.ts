// Starts Debian's nats-server for integration tests: one broker, or a cluster of brokers joined
// by routes, each on free ports in its own temporary directory, trusting the fleet's operator
// through the block `fleet-server nats-config` prints (the same block an operator deploys).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, credsAuthenticator, type NatsConnection, type Status } from 'nats';
import { Proc, waitFor } from './harness';

const DIST = fileURLToPath(new URL('../dist', import.meta.url));

/** The nats-server executable (Debian installs it in /usr/bin; scripts/test-deps.mjs installs it). */
export function natsServerBinary(): string {
  const found = spawnSync('sh', ['-c', 'PATH="$PATH:/usr/sbin:/sbin" command -v nats-server'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || !path) throw new Error('nats-server is not installed (run node scripts/test-deps.mjs, or apt-get install nats-server)');
  return path;
}

/** Runs `fleet-server nats-config` for a data directory and returns the block it prints. */
export function natsTrust(dataDir: string): string {
  const r = spawnSync(process.execPath, [join(DIST, 'fleet-server.js'), 'nats-config', '--data', dataDir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`fleet-server nats-config failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** A free TCP port on 127.0.0.1 (closed again before returning). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A NATS client with the given creds that records the broker's asynchronous errors. */
export async function natsClient(url: string, creds: string): Promise<{ nc: NatsConnection; errors: Status[] }> {
  const nc = await connect({ servers: url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), maxReconnectAttempts: 0 });
  const errors: Status[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(s);
  })();
  return { nc, errors };
}

export interface Broker {
  name: string;
  /** nats://127.0.0.1:PORT */
  url: string;
  monitorUrl: string;
  /** Its configuration file (a restart reads it again: same ports, same trust). */
  config: string;
  proc: Proc;
}

/** Connections as the broker's /connz reports them. */
export interface BrokerConnection {
  name?: string;
  subscriptions_list?: string[];
}

/** One broker or a cluster, all stopped by `stop()`. */
export class NatsBrokers {
  readonly brokers: Broker[] = [];

  private constructor(readonly dir: string) {}

  /**
   * Starts `count` brokers (routes between them when more than one) trusting `trust`, and waits
   * until each is ready and, in a cluster, routed to every other.
   */
  static async start(dir: string, trust: string, count = 1): Promise<NatsBrokers> {
    const binary = natsServerBinary();
    const set = new NatsBrokers(dir);
    mkdirSync(dir, { recursive: true });
    const ports = [];
    for (let i = 0; i < count; i++) ports.push({ client: await freePort(), cluster: await freePort(), monitor: await freePort() });
    for (const [i, p] of ports.entries()) {
      const name = `broker-${i + 1}`;
      const routes = ports.filter((_, j) => j !== i).map((q) => `nats-route://127.0.0.1:${q.cluster}`);
      const config = [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${p.client}`,
        `http: 127.0.0.1:${p.monitor}`,
        // Apply commands and output chunks stay far below this; the default is 1 MB.
        'max_payload: 8MB',
        trust,
        count > 1 ? `cluster {\n  name: fleet-test\n  listen: 127.0.0.1:${p.cluster}\n  routes: [\n    ${routes.join('\n    ')}\n  ]\n}` : '',
      ].join('\n');
      const file = join(dir, `${name}.conf`);
      writeFileSync(file, config);
      set.brokers.push({ name, url: `nats://127.0.0.1:${p.client}`, monitorUrl: `http://127.0.0.1:${p.monitor}`, config: file, proc: launch(binary, file) });
    }
    try {
      for (const b of set.brokers) await b.proc.waitForOutput(/Server is ready/, 15_000);
      if (count > 1) {
        await waitFor('every broker routed to every other', async () => {
          for (const b of set.brokers) {
            const routez = (await (await fetch(`${b.monitorUrl}/routez`)).json()) as { num_routes: number };
            if (routez.num_routes < count - 1) return false;
          }
          return true;
        }, 20_000);
      }
    } catch (err) {
      await set.stop();
      throw err;
    }
    return set;
  }

  /** The brokers' URLs, comma-separated (what --nats and FLEET_NATS take). */
  get urls(): string {
    return this.brokers.map((b) => b.url).join(',');
  }

  /** The client connections of one broker (its /connz), with their subscriptions. */
  async connections(broker: Broker): Promise<BrokerConnection[]> {
    const connz = (await (await fetch(`${broker.monitorUrl}/connz?subs=1&limit=10000`)).json()) as { connections?: BrokerConnection[] };
    return connz.connections ?? [];
  }

  /** The running broker that holds a client connection with this name, if any. */
  async brokerOf(connectionName: string): Promise<Broker | undefined> {
    for (const b of this.brokers) {
      if (!b.proc.running) continue;
      if ((await this.connections(b)).some((c) => c.name === connectionName)) return b;
    }
    return undefined;
  }

  /** Kills a broker (SIGKILL: every connection drops at once) and starts it again on the same ports. */
  async restart(broker: Broker): Promise<void> {
    await broker.proc.kill('SIGKILL');
    broker.proc = launch(natsServerBinary(), broker.config);
    await broker.proc.waitForOutput(/Server is ready/, 15_000);
  }

  async stop(): Promise<void> {
    await Promise.all(this.brokers.map((b) => b.proc.kill('SIGKILL')));
  }
}

function launch(binary: string, config: string): Proc {
  return new Proc(spawn(binary, ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] }));
}
