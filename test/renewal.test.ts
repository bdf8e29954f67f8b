// Agents renew their client certificate (with a new key) before it expires, without losing their
// link; once the new one is used, the old certificate is refused.
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentServiceClient } from '../proto/gen/fleet/v1/agent';
import { CLIENT_CHANNEL_OPTIONS } from '../transport';
import { Fleet, waitFor } from './harness';

const YEAR = 365 * 86_400_000;

describe('certificate renewal', () => {
  const fleet = new Fleet();

  beforeAll(async () => {
    await fleet.startServer();
  });
  afterAll(() => fleet.stop());

  it('renews before expiry, stays usable, and retires the old certificate', async () => {
    const token = await fleet.token();
    // Certificates last a year; "renew when less than a year minus 4 s is left" makes it due 4 s after enrolling.
    fleet.startAgent('renew-1', token, [], { FLEET_AGENT_RENEW_BEFORE_MS: String(YEAR - 4000) });
    await fleet.waitOnline(['renew-1']);
    const dir = fleet.agentDir('renew-1');
    const oldKey = readFileSync(join(dir, 'agent.key'));
    const oldCert = readFileSync(join(dir, 'agent.crt'));

    const audit = await waitFor('a renewal in the audit log', async () => {
      const entries = await fleet.json<{ action: string; target: string; ok: boolean; detail: string }[]>(['audit', '--action', 'node.renew']);
      return entries.find((e) => e.ok && e.target === 'renew-1');
    }, 30_000);
    expect(audit.detail).toMatch(/valid until \d{4}-/);
    const newCert = readFileSync(join(dir, 'agent.crt'));
    expect(new X509Certificate(newCert).fingerprint256).not.toBe(new X509Certificate(oldCert).fingerprint256);
    // A new key too, not only a new certificate.
    expect(readFileSync(join(dir, 'agent.key')).equals(oldKey)).toBe(false);

    // Still reachable (the queue covers the moment it reconnects with the new certificate).
    const r = await fleet.cli(['exec', 'renew-1', '--queue', '30s', '--', 'echo', 'still-here']);
    expect(r.stdout).toBe('renew-1: still-here\n');
    expect(r.code).toBe(0);

    // Once the agent has connected with its new certificate, the old one is refused.
    await fleet.waitOnline(['renew-1']);
    const client = new AgentServiceClient(`127.0.0.1:${fleet.port}`, credentials.createSsl(readFileSync(join(fleet.dataDir, 'pki/ca.crt')), oldKey, oldCert), CLIENT_CHANNEL_OPTIONS);
    const err = await new Promise<ServiceError>((resolve) => {
      const call = client.connect();
      call.on('error', resolve);
      call.on('data', () => {});
      call.write({ body: { $case: 'hello', value: { agentVersion: 'old', knownJobIds: [], upgrade: undefined } } });
    });
    client.close();
    expect(err.code).toBe(status.UNAUTHENTICATED);
    expect(err.details).toMatch(/does not belong to a current node/);
  });
});
