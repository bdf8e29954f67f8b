// Web sessions on a real PostgreSQL: the WebSessionStore contract, a session shared by two
// replicas (made on one, ended on the other), and expired sessions swept as new ones are made.
import { describe, expect, it } from 'vitest';
import { webSessionStoreContract } from '../http/test-web-session-store';
import { Role } from '../store';
import { PgWebSessions } from './pg-web-sessions';
import { usePostgres } from './test-databases';

const pg = usePostgres();

webSessionStoreContract('PgWebSessions', async () => new PgWebSessions((await pg.fresh()).pool));

const session = (tokenId: string, createdAt: number, expiresAt: number) => ({
  principal: { tokenId, role: Role.Admin, description: `token ${tokenId}`, scope: 'role=web' },
  csrf: `csrf-${tokenId}`,
  createdAt,
  expiresAt,
});

describe('PgWebSessions', () => {
  it('signs a browser in on every replica, and out on every replica', async () => {
    const { pool, url } = await pg.fresh();
    const a = new PgWebSessions(pool);
    const b = new PgWebSessions(await pg.pool(url));
    await a.create('k1', session('t1', 0, 9000));
    await a.create('k2', session('t1', 0, 9000));
    await a.create('k3', session('t2', 0, 9000));
    expect(await b.get('k1', 100)).toEqual(session('t1', 0, 9000));
    // Sign-out on one replica holds on the next request to the other.
    await b.delete('k1');
    expect(await a.get('k1', 100)).toBeUndefined();
    // Revoking a token on one replica ends its sessions on the other.
    await a.deleteForToken('t1');
    expect(await b.get('k2', 100)).toBeUndefined();
    expect(await b.get('k3', 100)).toMatchObject({ principal: { tokenId: 't2' } });
  });

  it('sweeps expired sessions as new ones are made, so the table does not grow', async () => {
    const { pool } = await pg.fresh();
    const store = new PgWebSessions(pool);
    for (let i = 0; i < 50; i++) await store.create(`old-${i}`, session(`t${i}`, 0, 1000));
    await store.create('new', session('t-new', 2000, 9000));
    const { rows } = await pool.query<{ key: string }>('SELECT key FROM web_sessions');
    expect(rows).toEqual([{ key: 'new' }]);
  });
});
