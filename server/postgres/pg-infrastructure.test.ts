// The shared state built on a real PostgreSQL as a replica's server would build it: the three
// sign-in limits with their own maxima and counts, and what one replica's set keeps seen through
// another's (a sign-in, an enrollment answer with its bytes, a recording, a hosted file's bytes).
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EnrollResponse } from '../../proto/gen/fleet/v1/agent';
import { TooManySignInsError } from '../errors';
import { Role } from '../store';
import { readAll } from '../shells/test-recording-store';
import { postgresInfrastructure } from './pg-infrastructure';
import { MasterKey } from './pg-key-material';
import { usePostgres } from './test-databases';

const pg = usePostgres();
const masterKey = new MasterKey(randomBytes(32), 'test');

describe('postgresInfrastructure', () => {
  it('holds an address back after FLEET_SIGNIN_FAILURES wrong API or page tokens, and twice as many join tokens, each counted apart', async () => {
    const infra = postgresInfrastructure((await pg.fresh()).pool, { signInFailures: 2, masterKey });
    const allowed = async (limits: typeof infra.apiSignIns) => {
      let n = 0;
      while (n < 10 && (await limits.failed('10.0.0.1').then(() => true, (err) => (expect(err).toBeInstanceOf(TooManySignInsError), false)))) n++;
      return n;
    };
    expect(await allowed(infra.apiSignIns)).toBe(2);
    expect(await allowed(infra.webSignIns)).toBe(2);
    expect(await allowed(infra.joinTokenGuesses)).toBe(4);
  });

  it('shares what one replica keeps with another', async () => {
    const { pool, url } = await pg.fresh();
    const a = postgresInfrastructure(pool, { signInFailures: 10, masterKey });
    const b = postgresInfrastructure(await pg.pool(url), { signInFailures: 10, masterKey });
    const session = { principal: { tokenId: 't1', role: Role.Viewer, description: '', scope: '' }, csrf: 'c', createdAt: Date.now(), expiresAt: Date.now() + 60_000 };
    await a.webSessions.create('k', session);
    expect(await b.webSessions.get('k', Date.now())).toEqual(session);
    const answer = { ...EnrollResponse.fromPartial({ nodeId: 'n1' }), commandSigningKey: Buffer.from('key') };
    await a.enrollmentReplies.remember('tok:csr', answer, 60_000);
    const recalled = await b.enrollmentReplies.recall('tok:csr');
    expect(recalled).toEqual(answer);
    expect(Buffer.isBuffer(recalled?.commandSigningKey)).toBe(true);
    const out = a.recordings.create('s1');
    out.write('hello\n');
    await out.close();
    expect(await readAll((await b.recordings.open('s1'))!)).toBe('hello\n');
    const data = Buffer.from('#!/bin/sh\necho hi\n');
    const digest = createHash('sha256').update(data).digest('hex');
    await a.blobs.put(digest, data.length, (async function* () {
      yield data;
    })());
    expect(await readAll((await b.blobs.get(digest))!.stream)).toBe(data.toString());
  });
});
