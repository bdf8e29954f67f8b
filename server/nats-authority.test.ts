import { createAccount, createUser, decode } from '@nats-io/jwt';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NatsAuthority } from './nats-authority';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('NatsAuthority', () => {
  it("issues an agent's user JWT that verifies, limited to its own subjects, and refuses a non-user key", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nats-authority-'));
    dirs.push(dir);
    const authority = await NatsAuthority.loadOrCreate(dir);
    const user = createUser();
    const jwt = await authority.issueAgent('n1', user.getPublicKey());
    const claims = decode<{ pub: { allow: string[] } }>(jwt); // throws on a bad signature
    expect(claims.iss).toBe(authority.account.kp.getPublicKey());
    expect(claims.sub).toBe(user.getPublicKey());
    const allowed = claims.nats.pub?.allow ?? [];
    expect(allowed.length).toBeGreaterThan(0);
    expect(allowed.filter((s) => !s.startsWith('fleet.v1.node.n1.') && !s.startsWith('_INBOX'))).toEqual([]);
    const [h, b, sig] = jwt.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(b!, 'base64url').toString()), sub: createUser().getPublicKey() })).toString('base64url')}.${sig}`;
    expect(() => decode(tampered)).toThrow(/sig/);
    await expect(authority.issueAgent('n1', createAccount().getPublicKey())).rejects.toThrow(/user nkey/);
  });

  it('keeps the operator and accounts in DATA/nats and loads the same ones again, so nats-config prints one block', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nats-authority-'));
    dirs.push(dir);
    const first = await NatsAuthority.loadOrCreate(dir);
    expect(readdirSync(join(dir, 'nats')).sort()).toEqual(['account.jwt', 'account.nk', 'operator.jwt', 'operator.nk', 'system.jwt', 'system.nk']);
    for (const seed of ['operator.nk', 'account.nk', 'system.nk']) expect(statSync(join(dir, 'nats', seed)).mode & 0o777).toBe(0o600);
    const again = await NatsAuthority.loadOrCreate(dir);
    expect(again.configBlock()).toBe(first.configBlock());
    expect(again.operator.kp.getPublicKey()).toBe(first.operator.kp.getPublicKey());
    // The operator's JWT names the system account it was made with.
    expect(decode<{ system_account: string }>(first.operator.jwt).nats.system_account).toBe(first.system.kp.getPublicKey());
  });
});
