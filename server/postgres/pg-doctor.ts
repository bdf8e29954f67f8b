// `fleet-server doctor --store URL`: read-only checks of a fleet whose state is in PostgreSQL — the
// database (reachable, how fast, its clock against this machine's), the schema, the master key
// (it opens the sealed key material), the CA's expiry, the replicas (alive, and the agent links
// each holds) and jobs or rollouts left without a driver. Safe while the replicas run.
import { X509Certificate } from 'node:crypto';
import type { DoctorCheck } from '../ops';
import { PG_MIGRATIONS } from './pg-migrations';
import { PgKeyMaterial, readMasterKey } from './pg-key-material';
import type { PgPool } from './pg-database';

const ok = (name: string, detail: string): DoctorCheck => ({ name, status: 'ok', detail });
const warn = (name: string, detail: string): DoctorCheck => ({ name, status: 'warn', detail });
const fail = (name: string, detail: string): DoctorCheck => ({ name, status: 'fail', detail });

/** A replica silent this long is counted dead (as the replicas themselves count it). */
const DEAD_AFTER_MS = 10_000;
/** A lease lapsed this long on an unfinished job or rollout means nobody took it over. */
const ORPHAN_AFTER_MS = 30_000;
const DAY = 86_400_000;

/** The checks, in order; a check that cannot run says why instead of throwing. */
export async function runClusterDoctor(pool: PgPool, options: { masterKeyFile: string | undefined }): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const started = Date.now();
  let dbNow: number;
  try {
    const { rows } = await pool.query<{ now: string; version: string }>("SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint AS now, current_setting('server_version') AS version");
    const rtt = Date.now() - started;
    dbNow = Number(rows[0]!.now);
    checks.push(rtt > 500 ? warn('database', `PostgreSQL ${rows[0]!.version} answered in ${rtt} ms (slow)`) : ok('database', `PostgreSQL ${rows[0]!.version}, answered in ${rtt} ms`));
    const skew = Math.abs(dbNow - (started + rtt / 2));
    const said = `this machine's clock is ${(skew / 1000).toFixed(1)} s off the database's`;
    checks.push(skew > 30_000 ? fail('clock', `${said}: certificates and expiries will be misjudged; fix NTP`) : skew > 2000 ? warn('clock', said) : ok('clock', said));
  } catch (err) {
    checks.push(fail('database', `cannot query it: ${(err as Error).message}`));
    return checks;
  }

  const { rows: schema } = await pool.query<{ version: number }>('SELECT version FROM fleet_schema').catch(() => ({ rows: [] as { version: number }[] }));
  const version = schema[0]?.version ?? 0;
  if (version === PG_MIGRATIONS.length) checks.push(ok('schema', `version ${version}, up to date`));
  else if (version > PG_MIGRATIONS.length) checks.push(fail('schema', `version ${version} is newer than this fleet-server knows (${PG_MIGRATIONS.length}): upgrade fleet-server`));
  else {
    checks.push(fail('schema', `version ${version}, this fleet-server needs ${PG_MIGRATIONS.length}: run fleet-server migrate --store URL`));
    return checks;
  }

  checks.push(await keyCheck(pool, options.masterKeyFile, dbNow));

  const { rows: replicas } = await pool.query<{ id: string; seen_at: string; started_at: string; links: number }>(
    'SELECT r.id, r.seen_at, r.started_at, (SELECT count(*)::int FROM agent_links l WHERE l.replica = r.id) AS links FROM replicas r ORDER BY r.started_at',
  );
  const alive = replicas.filter((r) => dbNow - Number(r.seen_at) < DEAD_AFTER_MS);
  const silent = replicas.filter((r) => dbNow - Number(r.seen_at) >= DEAD_AFTER_MS);
  const describe = (r: (typeof replicas)[number]) => `${r.id} (${r.links} agent${r.links === 1 ? '' : 's'})`;
  checks.push(alive.length ? ok('replicas', `${alive.length} alive: ${alive.map(describe).join(', ')}`) : warn('replicas', 'none alive: no fleet-server is running on this database'));
  if (silent.length) {
    const ago = (r: (typeof replicas)[number]) => `${r.id} (silent ${Math.round((dbNow - Number(r.seen_at)) / 1000)} s)`;
    checks.push(warn('silent replicas', `${silent.map(ago).join(', ')}: stopped or cut off; their agents reconnect to the others`));
  }

  const { rows: orphans } = await pool.query<{ id: string; holder: string }>(
    `SELECT l.id, l.holder FROM driver_leases l
     WHERE l.expires_at < $1 AND (EXISTS (SELECT 1 FROM jobs j WHERE j.id = l.id AND j.finished_at IS NULL)
       OR EXISTS (SELECT 1 FROM rollouts r WHERE r.id = l.id AND r.state IN ('running', 'rolling-back')))`,
    [dbNow - ORPHAN_AFTER_MS],
  );
  checks.push(
    orphans.length === 0
      ? ok('drivers', 'every unfinished job and rollout has a live driver')
      : warn('drivers', `${orphans.length} unfinished job(s) or rollout(s) without a driver for over ${ORPHAN_AFTER_MS / 1000} s (${orphans.slice(0, 5).map((o) => o.id).join(', ')}): start a replica to take them over`),
  );
  return checks;
}

/** Opens the sealed CA certificate with the master key, and says how long the CA has left. */
async function keyCheck(pool: PgPool, file: string | undefined, now: number): Promise<DoctorCheck> {
  let keys: PgKeyMaterial;
  try {
    keys = new PgKeyMaterial(pool, readMasterKey(file));
  } catch (err) {
    return fail('master key', (err as Error).message);
  }
  let pem: string | undefined;
  try {
    pem = await keys.get('pki/ca.crt');
  } catch (err) {
    return fail('master key', `cannot open the key material with ${file}: ${(err as Error).message}`);
  }
  if (!pem) return warn('master key', 'no key material yet (no replica has started on this database)');
  const days = Math.floor((Date.parse(new X509Certificate(pem).validTo) - now) / DAY);
  return days < 30 ? warn('master key', `opens the key material; the CA expires in ${days} days`) : ok('master key', `opens the key material; the CA is valid for ${days} more days`);
}
