// Journey: agents enroll with a join token and show up in `fleet nodes` with their facts;
// bad tokens and foreign certificates are refused clearly and audited.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentServiceClient } from '../proto/gen/fleet/v1/agent';
import { CLIENT_CHANNEL_OPTIONS } from '../transport';
import { Fleet, waitFor } from './harness';

x509.cryptoProvider.set(webcrypto as never);

describe('enrollment', () => {
  const fleet = new Fleet();

  beforeAll(async () => {
    await fleet.startServer();
  });
  afterAll(() => fleet.stop());

  it('enrolls three agents with one token; nodes lists them with facts and -l filters', async () => {
    const token = await fleet.token(['--uses', '3', '--label', 'role=web', '--ttl', '10m']);
    fleet.startAgent('web-1', token, ['--label', 'zone=a']);
    fleet.startAgent('web-2', token, ['--label', 'zone=b']);
    fleet.startAgent('web-3', token, ['--label', 'zone=b']);
    await fleet.waitOnline(['web-1', 'web-2', 'web-3']);
    // Inventory arrives right after connecting.
    const nodes = await waitFor('facts from all nodes', async () => {
      const list = await fleet.nodes();
      return list.every((n) => n.facts) && list;
    });
    expect(nodes.map((n) => n.name)).toEqual(['web-1', 'web-2', 'web-3']);
    for (const n of nodes) {
      expect(n.labels.role).toBe('web');
      const facts = n.facts as { os: { kernel: string; platform: string }; cpu: { cores: number }; memory: { totalBytes: string | number }; interfaces: { ipv4: string[] }[] };
      expect(facts.os.platform).toBe('linux');
      expect(facts.os.kernel).toMatch(/\d+\.\d+/);
      expect(facts.cpu.cores).toBeGreaterThan(0);
      expect(Number(facts.memory.totalBytes)).toBeGreaterThan(0);
      expect(facts.interfaces.flatMap((i) => i.ipv4)).toContain('127.0.0.1');
    }
    expect((await fleet.nodes('zone=b')).map((n) => n.name)).toEqual(['web-2', 'web-3']);
    expect((await fleet.nodes('zone in (a),role=web')).map((n) => n.name)).toEqual(['web-1']);
    expect((await fleet.nodes('zone!=b')).map((n) => n.name)).toEqual(['web-1']);

    // Labels can be changed afterwards and selectors see it.
    const label = await fleet.cli(['label', 'web-3', 'tier=canary', 'zone-']);
    expect(label.code).toBe(0);
    expect((await fleet.nodes('tier=canary,!zone')).map((n) => n.name)).toEqual(['web-3']);

    // The table view works too.
    const table = await fleet.cli(['nodes', '-l', 'role=web']);
    expect(table.stdout).toMatch(/^NAME\s+STATUS/);
    expect(table.stdout).toMatch(/web-2\s+online/);
  });

  it('enrolls once: a restarted agent reuses its identity without a token', async () => {
    const token = await fleet.token();
    const agent = fleet.startAgent('once-1', token);
    await fleet.waitOnline(['once-1']);
    await agent.kill('SIGTERM');
    await waitFor('once-1 offline', async () => !(await fleet.nodes()).find((n) => n.name === 'once-1')?.online);
    fleet.startAgent('once-1');
    await fleet.waitOnline(['once-1']);
    expect((await fleet.nodes()).filter((n) => n.name.startsWith('once-1'))).toHaveLength(1);
  });

  it('refuses expired, used-up, revoked, unknown and garbage tokens with clear messages, and audits them', async () => {
    const expectRefused = async (name: string, token: string, message: RegExp) => {
      const agent = fleet.startAgent(name, token);
      const code = await agent.exited;
      expect(code, agent.output).not.toBe(0);
      expect(agent.output).toMatch(message);
    };

    const expired = await fleet.token(['--ttl', '1s']);
    await new Promise((r) => setTimeout(r, 1200));
    await expectRefused('bad-expired', expired, /enrollment refused: join token [0-9a-f]+ expired at /);

    const single = await fleet.token(['--uses', '1']);
    fleet.startAgent('single-1', single);
    await fleet.waitOnline(['single-1']);
    await expectRefused('bad-used', single, /enrollment refused: join token [0-9a-f]+ has been used 1 of 1 times/);

    const revoked = await fleet.token(['--uses', '5']);
    const id = revoked.split('_')[1]!;
    expect((await fleet.cli(['tokens', 'revoke', id])).code).toBe(0);
    await expectRefused('bad-revoked', revoked, /enrollment refused: join token [0-9a-f]+ was revoked at /);

    // Well formed, right server, but a secret the server never issued.
    const forged = `fj1_${'a'.repeat(12)}_${'b'.repeat(40)}_${fleet.caHash}`;
    await expectRefused('bad-unknown', forged, /enrollment refused: the join token is not known to this server/);

    // Not a token at all: refused before anything is sent.
    await expectRefused('bad-garbage', 'hello-i-am-a-token', /not a fleet join token/);

    // A token for another server's CA: the agent refuses to talk to this one.
    const otherCa = `fj1_${'a'.repeat(12)}_${'b'.repeat(40)}_${'0'.repeat(64)}`;
    await expectRefused('bad-ca', otherCa, /does not match the pinned fingerprint/);

    // Garbage sent straight to the Enroll RPC (bypassing the agent's own check) is refused and audited.
    const raw = new AgentServiceClient(`127.0.0.1:${fleet.port}`, credentials.createSsl(readFileSync(`${fleet.dataDir}/pki/ca.crt`)), CLIENT_CHANNEL_OPTIONS);
    const rawErr = await new Promise<ServiceError | null>((resolve) =>
      raw.enroll({ token: 'garbage\u0000\u00ff', csrPem: 'nope', identity: undefined, agentVersion: '', requestedName: '', labels: {}, natsPublicKey: '', newIdentity: false }, (e) => resolve(e)),
    );
    raw.close();
    expect(rawErr?.code).toBe(status.INVALID_ARGUMENT);
    expect(rawErr?.details).toMatch(/join token is malformed/);

    const audit = await fleet.json<{ ok: boolean; detail: string }[]>(['audit', '--action', 'node.enroll', '--limit', '100']);
    const refusals = audit.filter((e) => !e.ok).map((e) => e.detail);
    expect(refusals.some((d) => /expired at/.test(d))).toBe(true);
    expect(refusals.some((d) => /has been used 1 of 1 times/.test(d))).toBe(true);
    expect(refusals.some((d) => /was revoked at/.test(d))).toBe(true);
    expect(refusals.some((d) => /not known to this server/.test(d))).toBe(true);
    expect(refusals.some((d) => /join token is malformed/.test(d))).toBe(true);

    const list = await fleet.cli(['tokens', 'list']);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+revoked`));
    expect(list.stdout).not.toContain(revoked.split('_')[2]);
  });

  it('refuses a client certificate that the server CA did not sign', async () => {
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
    const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    // A self-made certificate claiming to be an enrolled node.
    const victim = (await fleet.nodes()).find((n) => n.name === 'web-1') as unknown as { id: string };
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: `CN=${victim.id}`,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
      keys: keys as never,
      signingAlgorithm: alg,
    });
    const keyPem = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
    const caPem = readFileSync(`${fleet.dataDir}/pki/ca.crt`);
    const client = new AgentServiceClient(`127.0.0.1:${fleet.port}`, credentials.createSsl(caPem, Buffer.from(keyPem), Buffer.from(cert.toString('pem'))), CLIENT_CHANNEL_OPTIONS);
    const err = await new Promise<ServiceError>((resolve) => {
      const call = client.connect();
      call.on('error', resolve);
      call.on('data', () => {});
      call.write({ body: { $case: 'hello', value: { agentVersion: 'evil', knownJobIds: [], upgrade: undefined } } });
    });
    client.close();
    expect(err.code).toBe(status.UNAUTHENTICATED);
    expect(err.details).toMatch(/client certificate issued by this server/);
  });

  it('offers gRPC reflection listing the fleet services', async () => {
    const { loadSync } = await import('@grpc/proto-loader');
    const { loadPackageDefinition } = await import('@grpc/grpc-js');
    const { createRequire } = await import('node:module');
    const require = createRequire(import.meta.url);
    const protoPath = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
    const pkg = loadPackageDefinition(loadSync(protoPath)) as never as {
      grpc: { reflection: { v1: { ServerReflection: new (addr: string, creds: unknown, opts: object) => { serverReflectionInfo(): NodeJS.EventEmitter & { write(m: object): void; end(): void }; close(): void } } } };
    };
    const creds = credentials.createSsl(readFileSync(`${fleet.dataDir}/pki/ca.crt`));
    const client = new pkg.grpc.reflection.v1.ServerReflection(`127.0.0.1:${fleet.port}`, creds, CLIENT_CHANNEL_OPTIONS);
    const names = await new Promise<string[]>((resolve, reject) => {
      const call = client.serverReflectionInfo();
      call.on('data', (m: { listServicesResponse?: { service: { name: string }[] } }) => {
        resolve(m.listServicesResponse?.service.map((s) => s.name) ?? []);
        call.end();
      });
      call.on('error', reject);
      call.write({ listServices: '' });
    });
    client.close();
    expect(names).toEqual(expect.arrayContaining(['fleet.v1.AgentService', 'fleet.v1.ControlService']));
  });
});
