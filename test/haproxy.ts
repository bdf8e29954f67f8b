// A real HAProxy in front of fleet-server replicas for the tests: TCP passthrough (TLS ends at the
// replicas), round robin, a replica taken out as soon as its port stops answering. The gRPC port
// and the HTTPS port each get a front of their own.
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Proc, waitFor } from './harness';

/** A free loopback port (closed again at once: HAProxy binds it). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  await new Promise((ok) => server.close(ok));
  return port;
}

export class HaProxy {
  private constructor(
    readonly proc: Proc,
    /** Front ports: the replicas' gRPC ports, and their HTTPS ports. */
    readonly grpcPort: number,
    readonly httpsPort: number,
    readonly dir: string,
  ) {}

  /** Starts HAProxy with one front for the replicas' gRPC ports and one for their HTTPS ports. */
  static async start(replicas: { port: number; httpsPort: number }[]): Promise<HaProxy> {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-haproxy-'));
    const [grpcPort, httpsPort] = [await freePort(), await freePort()];
    const backend = (name: string, ports: number[]) =>
      [`backend ${name}`, '  balance roundrobin', ...ports.map((p, i) => `  server r${i} 127.0.0.1:${p} check inter 500ms fall 1 rise 1 on-marked-down shutdown-sessions`)].join('\n');
    const config = [
      'global',
      '  maxconn 4096',
      'defaults',
      '  mode tcp',
      '  timeout connect 2s',
      '  timeout client 1h',
      '  timeout server 1h',
      '  option redispatch',
      '  retries 2',
      `frontend grpc`,
      `  bind 127.0.0.1:${grpcPort}`,
      '  default_backend grpc_replicas',
      `frontend https`,
      `  bind 127.0.0.1:${httpsPort}`,
      '  default_backend https_replicas',
      backend('grpc_replicas', replicas.map((r) => r.port)),
      backend('https_replicas', replicas.map((r) => r.httpsPort)),
      '',
    ].join('\n');
    writeFileSync(join(dir, 'haproxy.cfg'), config);
    const proc = new Proc(spawn('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'pipe', 'pipe'] }));
    const ha = new HaProxy(proc, grpcPort, httpsPort, dir);
    await waitFor('HAProxy listening', async () => {
      if (!proc.running) throw new Error(`haproxy exited: ${proc.output}`);
      return await new Promise<boolean>((ok) => {
        const s = createServer();
        // The port is taken once HAProxy has bound it.
        s.once('error', () => ok(true));
        s.listen(grpcPort, '127.0.0.1', () => s.close(() => ok(false)));
      });
    }, 10_000, 100);
    return ha;
  }

  async stop(): Promise<void> {
    await this.proc.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
