// The state replicas share, built on PostgreSQL: what `embeddedInfrastructure` (server/embedded.ts)
// builds in memory and under DATA, for several fleet-servers on one database. The bus and the
// leases are built beside it (PgBus, PgLeases).
import type { Logger } from 'pino';
import { EnrollResponse } from '../../proto/gen/fleet/v1/agent';
import { signInLimits, type Infrastructure } from '../embedded';
import { PgBlobs } from './pg-blobs';
import { PgKeyMaterial, type MasterKey } from './pg-key-material';
import type { PgPool } from './pg-database';
import { PgRecordings } from './pg-recordings';
import { PgReplayCache } from './pg-replay-cache';
import { PgSignInLimits } from './pg-sign-in-limits';
import { PgWebSessions } from './pg-web-sessions';

/** What postgresInfrastructure builds: the Infrastructure but its bus and leases. */
export type SharedInfrastructure = Omit<Infrastructure, 'bus' | 'leases'>;

/**
 * Web sessions, sign-in limits, enrollment answers, recordings, hosted files' bytes and the key
 * material in the database behind `pool`, shared with every replica on it.
 * @param options.signInFailures failed sign-ins a minute per address (FLEET_SIGNIN_FAILURES)
 * @param options.masterKey what seals the key material (FLEET_MASTER_KEY_FILE)
 * @param options.log where a recording lost midway is reported
 */
export function postgresInfrastructure(pool: PgPool, options: { signInFailures: number; masterKey: MasterKey; log?: Logger }): SharedInfrastructure {
  return {
    webSessions: new PgWebSessions(pool),
    ...signInLimits(options.signInFailures, (name, max) => new PgSignInLimits(pool, name, { max })),
    enrollmentReplies: new PgReplayCache<EnrollResponse>(pool, 'enrollment', { codec: EnrollResponse }),
    recordings: new PgRecordings(pool, { log: options.log }),
    blobs: new PgBlobs(pool),
    keys: new PgKeyMaterial(pool, options.masterKey),
  };
}
