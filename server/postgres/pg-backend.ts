// Everything a replica keeps in PostgreSQL, built in one place: the stores, the shared state
// (sessions, limits, answers, recordings, files, key material), the bus and the driver leases.
// server/server.ts calls this instead of the embedded set when it is given a store URL.
import type { Logger } from 'pino';
import type { Infrastructure } from '../embedded';
import type { Stores } from '../store';
import { PgBus } from './pg-bus';
import { openPgPool, redactUrl } from './pg-database';
import { postgresInfrastructure } from './pg-infrastructure';
import { PgJobStore } from './pg-job-store';
import { readMasterKey } from './pg-key-material';
import { PgLeases } from './pg-leases';
import { PgLinkDirectory } from './pg-link-directory';
import { PgMachineStore } from './pg-machine-store';
import { PgNodeStore } from './pg-node-store';
import { PgAuditLog } from './pg-audit-log';
import { PgSessionStore } from './pg-session-store';
import { PgStateStore } from './pg-state-store';
import { PgTokenStore } from './pg-token-store';

/**
 * Connects to the database at `url` (migrating it if needed) and builds a replica's state on it.
 * `stores.close()` closes everything built here.
 * @throws StartupError when the master key file or the database is not usable
 */
export async function openPostgres(url: string, options: { signInFailures: number; masterKeyFile: string | undefined }, log: Logger): Promise<{ stores: Stores; infra: Infrastructure }> {
  // The key first: a replica without it must not touch the database at all.
  const masterKey = readMasterKey(options.masterKeyFile);
  const pool = await openPgPool(url);
  const bus = await PgBus.open(pool, url, log.child({ part: 'bus' }));
  const leases = new PgLeases(pool, log.child({ part: 'leases' }));
  log.info({ store: redactUrl(url), replica: leases.holder }, 'state kept in PostgreSQL');
  const stores: Stores = {
    nodes: new PgNodeStore(pool),
    tokens: new PgTokenStore(pool),
    jobs: new PgJobStore(pool),
    audit: new PgAuditLog(pool),
    sessions: new PgSessionStore(pool),
    machines: new PgMachineStore(pool),
    state: new PgStateStore(pool),
    close: async () => {
      await leases.close();
      await bus.close();
      await pool.end();
    },
  };
  const cluster = { replica: leases.holder, directory: new PgLinkDirectory(pool) };
  const infra: Infrastructure = { ...postgresInfrastructure(pool, { signInFailures: options.signInFailures, masterKey, log }), bus, leases, cluster };
  return { stores, infra };
}
