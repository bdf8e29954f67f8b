import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { formatJoinToken, hashSecret, newTokenSecret } from '../common/join-token';
import { silentLogger } from '../common/logger';
import { Enrollment } from './enrollment';
import { loadOrCreatePki } from './pki';
import { openSqliteStores } from './store';

x509.cryptoProvider.set(webcrypto as never);
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A CSR for `keys` (each call signs anew, so two CSRs for one key differ byte for byte). */
async function csrFor(keys: webcrypto.CryptoKeyPair): Promise<string> {
  return (await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=host', keys: keys as never, signingAlgorithm: EC })).toString('pem');
}

describe('Enrollment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-enroll-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives an agent that retries with the same key the same node, without using the token again', async () => {
    const db = openSqliteStores(':memory:');
    const pki = await loadOrCreatePki(dir, []);
    const { tokens, nodes } = db;
    const enrollment = new Enrollment({ pki, tokens, nodes, audit: db.audit, state: db.state, log: silentLogger(), links: { isOnline: () => false, disconnect: () => {} } });
    const { id, secret } = newTokenSecret();
    await tokens.insertJoin({ id, secretHash: hashSecret(secret), description: '', labels: {}, createdAt: Date.now(), createdBy: 'test', expiresAt: Date.now() + 60_000, maxUses: 2, used: 0, revokedAt: null });
    const token = formatJoinToken({ id, secret, caHash: pki.caHash });
    const request = async (keys: webcrypto.CryptoKeyPair, name: string) => ({
      token,
      csrPem: await csrFor(keys),
      identity: { hostname: name, macs: [], dmiUuid: '', serial: '' },
      agentVersion: '1',
      requestedName: name,
      labels: {},
      natsPublicKey: '',
      newIdentity: false,
    });
    const key = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const first = await enrollment.enroll(await request(key, 'web-1'), '127.0.0.1:1');
    // The answer was lost; the agent asks again with the same key (a fresh CSR).
    const retry = await enrollment.enroll(await request(key, 'web-1'), '127.0.0.1:1');
    expect(retry.nodeId).toBe(first.nodeId);
    expect(retry.certificatePem).toBe(first.certificatePem);
    expect((await nodes.list()).map((n) => n.name)).toEqual(['web-1']);
    expect((await tokens.getJoin(id))?.used).toBe(1);
    // Another machine (another key) is another node and uses the token.
    const other = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const second = await enrollment.enroll(await request(other, 'web-1'), '127.0.0.1:2');
    expect(second.nodeId).not.toBe(first.nodeId);
    expect(second.nodeName).toBe('web-1-2');
    expect((await tokens.getJoin(id))?.used).toBe(2);
    // Used up: a new key is refused, a retry of an earlier one still gets its node.
    const third = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    await expect(enrollment.enroll(await request(third, 'web-3'), '127.0.0.1:3')).rejects.toThrow(/has been used 2 of 2 times/);
    expect((await enrollment.enroll(await request(other, 'web-1'), '127.0.0.1:2')).nodeId).toBe(second.nodeId);
    await db.close();
  });

  it('holds back join-token guesses from an address, but still enrolls a valid token from it', async () => {
    const db = openSqliteStores(':memory:');
    const pki = await loadOrCreatePki(dir, []);
    const { tokens } = db;
    const enrollment = new Enrollment({ pki, tokens, nodes: db.nodes, audit: db.audit, state: db.state, log: silentLogger(), links: { isOnline: () => false, disconnect: () => {} }, guessesPerMinute: 2 });
    const { id, secret } = newTokenSecret();
    await tokens.insertJoin({ id, secretHash: hashSecret(secret), description: '', labels: {}, createdAt: Date.now(), createdBy: 'test', expiresAt: Date.now() + 60_000, maxUses: 1, used: 0, revokedAt: null });
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const request = async (token: string) => ({ token, csrPem: await csrFor(keys), identity: { hostname: 'ci-1', macs: [], dmiUuid: '', serial: '' }, agentVersion: '1', requestedName: 'ci-1', labels: {}, natsPublicKey: '', newIdentity: false });
    const guess = formatJoinToken({ id: newTokenSecret().id, secret: newTokenSecret().secret, caHash: pki.caHash });
    for (let i = 0; i < 2; i++) await expect(enrollment.enroll(await request(guess), '10.0.0.9:1')).rejects.toMatchObject({ code: 'TOKEN_UNKNOWN' });
    await expect(enrollment.enroll(await request(guess), '10.0.0.9:2')).rejects.toMatchObject({ code: 'TOO_MANY_SIGN_INS' });
    // A CI runner behind the same NAT, with the real token.
    expect((await enrollment.enroll(await request(formatJoinToken({ id, secret, caHash: pki.caHash })), '10.0.0.9:3')).nodeName).toBe('ci-1');
    await db.close();
  });

  it('gives the token use back when the node cannot be taken over after all (it came back online meanwhile)', async () => {
    const db = openSqliteStores(':memory:');
    const pki = await loadOrCreatePki(dir, []);
    const { tokens } = db;
    // The first look finds the machine's old node offline; by the time it would be taken over, it is online.
    let looks = 0;
    const enrollment = new Enrollment({ pki, tokens, nodes: db.nodes, audit: db.audit, state: db.state, log: silentLogger(), links: { isOnline: () => looks++ > 0, disconnect: () => {} } });
    const { id, secret } = newTokenSecret();
    await tokens.insertJoin({ id, secretHash: hashSecret(secret), description: '', labels: {}, createdAt: Date.now(), createdBy: 'test', expiresAt: Date.now() + 60_000, maxUses: 1, used: 0, revokedAt: null });
    const identity = { hostname: 'db-1', macs: ['52:54:00:00:00:01'], dmiUuid: '', serial: '' };
    await db.nodes.insert({ id: 'n-old', name: 'db-1', labels: {}, facts: undefined, identity, certFingerprint: 'fp-old', prevCertFingerprint: null, certNotAfter: 0, agentVersion: '1', joinTokenId: null, enrolledAt: 1, lastSeenAt: null });
    const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const request = { token: formatJoinToken({ id, secret, caHash: pki.caHash }), csrPem: await csrFor(keys), identity, agentVersion: '1', requestedName: '', labels: {}, natsPublicKey: '', newIdentity: false };
    await expect(enrollment.enroll(request, '127.0.0.1:1')).rejects.toMatchObject({ code: 'ENROLLMENT_CONFLICT' });
    expect((await tokens.getJoin(id))?.used).toBe(0);
    expect(await db.nodes.get('n-old')).toMatchObject({ certFingerprint: 'fp-old' });
    await db.close();
  });
});
