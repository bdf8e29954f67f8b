import { createAccount, createUser, decode } from '@nats-io/jwt';
import { mkdtempSync, rmSync } from 'node:fs';
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
});
