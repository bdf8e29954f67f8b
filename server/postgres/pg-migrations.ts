// Numbered schema migrations for PostgreSQL. Append only: never edit a migration that has shipped
// (the first one has not yet). The table fleet_schema records how many have run. The schema is the
// SQLite one (server/store/migrations.ts) in PostgreSQL's types: BIGINT for unix-millisecond times
// and counters, BOOLEAN for flags, BYTEA for bytes; JSON stays TEXT so both stores encode alike.
// Migration 1 is written per domain so each store's tables read on their own.

const NODES = `
  CREATE TABLE nodes (
    id                    TEXT PRIMARY KEY,
    name                  TEXT NOT NULL UNIQUE,
    labels                TEXT NOT NULL DEFAULT '{}',
    facts                 TEXT,
    identity              TEXT NOT NULL DEFAULT '{}',
    cert_fingerprint      TEXT NOT NULL,
    prev_cert_fingerprint TEXT,
    cert_not_after        BIGINT NOT NULL,
    agent_version         TEXT NOT NULL DEFAULT '',
    join_token_id         TEXT,
    enrolled_at           BIGINT NOT NULL,
    last_seen_at          BIGINT
  );
  CREATE INDEX nodes_cert ON nodes (cert_fingerprint);
  CREATE INDEX nodes_prev_cert ON nodes (prev_cert_fingerprint);
  CREATE TABLE removed_nodes (
    node_id               TEXT PRIMARY KEY,
    name                  TEXT NOT NULL,
    cert_fingerprint      TEXT NOT NULL,
    prev_cert_fingerprint TEXT,
    removed_at            BIGINT NOT NULL,
    removed_by            TEXT NOT NULL
  );
  CREATE INDEX removed_nodes_cert ON removed_nodes (cert_fingerprint);
  CREATE INDEX removed_nodes_prev_cert ON removed_nodes (prev_cert_fingerprint);
  CREATE TABLE node_macs (
    mac     TEXT NOT NULL,
    node_id TEXT NOT NULL,
    PRIMARY KEY (mac, node_id)
  );
  CREATE INDEX node_macs_node ON node_macs (node_id);
`;

const TOKENS = `
  CREATE TABLE join_tokens (
    id          TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    labels      TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    max_uses    BIGINT NOT NULL,
    used        BIGINT NOT NULL DEFAULT 0,
    revoked_at  BIGINT,
    machine_id  TEXT
  );
  CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    description TEXT NOT NULL DEFAULT '',
    scope       TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
  );
  CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
`;

const JOBS = `
  CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    spec        TEXT NOT NULL,
    finished_at BIGINT
  );
  CREATE INDEX jobs_created ON jobs (created_at);
  CREATE TABLE job_runs (
    job_id           TEXT NOT NULL REFERENCES jobs (id),
    node_id          TEXT NOT NULL,
    node_name        TEXT NOT NULL,
    position         BIGINT NOT NULL,
    state            INTEGER NOT NULL,
    exit_code        INTEGER,
    signal           TEXT,
    error            TEXT,
    queue_expires_at BIGINT,
    dispatched_at    BIGINT,
    started_at       BIGINT,
    finished_at      BIGINT,
    PRIMARY KEY (job_id, node_id)
  );
  CREATE INDEX job_runs_node ON job_runs (node_id, state);
  -- id is a chunk's position in its job's output, drawn under the job's lock (PgJobStore.write):
  -- the identity's default CACHE 1 keeps one job's positions in commit order; do not raise it.
  CREATE TABLE job_output (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id  TEXT NOT NULL,
    node_id TEXT NOT NULL,
    seq     BIGINT NOT NULL,
    stream  INTEGER NOT NULL,
    data    BYTEA NOT NULL,
    at      BIGINT NOT NULL,
    UNIQUE (job_id, node_id, seq)
  );
  CREATE INDEX job_output_job ON job_output (job_id, id);
`;

const AUDIT = `
  CREATE TABLE audit_log (
    id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    ok     BOOLEAN NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
  );
  CREATE INDEX audit_log_at ON audit_log (at);
  CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'the audit log is append-only'; END;
  $$;
  CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
  CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
`;

const SESSIONS = `
  CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    node_id      TEXT NOT NULL,
    node_name    TEXT NOT NULL,
    "user"       TEXT NOT NULL,
    source       TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    ended_at     BIGINT,
    exit_code    INTEGER,
    output_bytes BIGINT NOT NULL DEFAULT 0,
    end_reason   TEXT NOT NULL DEFAULT ''
  );
  CREATE INDEX sessions_started ON sessions (started_at);
`;

const STATE = `
  CREATE TABLE spec_revisions (
    spec       TEXT NOT NULL,
    revision   BIGINT NOT NULL,
    yaml       TEXT NOT NULL,
    spec_json  TEXT NOT NULL,
    digest     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (spec, revision)
  );
  CREATE TABLE rollouts (
    id                TEXT PRIMARY KEY,
    spec              TEXT NOT NULL,
    revision          BIGINT NOT NULL,
    previous_revision BIGINT NOT NULL,
    state             TEXT NOT NULL,
    reason            TEXT NOT NULL DEFAULT '',
    batch_size        BIGINT NOT NULL,
    current_batch     BIGINT NOT NULL DEFAULT 0,
    max_errors        BIGINT NOT NULL,
    health_gate_ms    BIGINT NOT NULL,
    auto_rollback     BOOLEAN NOT NULL,
    rollback_of       TEXT NOT NULL DEFAULT '',
    created_by        TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    -- The order rollouts were stored in (SQLite's rowid): of two created in one millisecond, the later is newer.
    seq               BIGINT GENERATED ALWAYS AS IDENTITY
  );
  CREATE INDEX rollouts_created ON rollouts (created_at);
  CREATE TABLE rollout_nodes (
    rollout_id    TEXT NOT NULL REFERENCES rollouts (id),
    node_id       TEXT NOT NULL,
    node_name     TEXT NOT NULL,
    batch         BIGINT NOT NULL,
    position      BIGINT NOT NULL,
    from_revision BIGINT NOT NULL,
    to_revision   BIGINT NOT NULL,
    state         TEXT NOT NULL,
    resources     TEXT NOT NULL DEFAULT '[]',
    error         TEXT NOT NULL DEFAULT '',
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (rollout_id, node_id)
  );
  CREATE TABLE node_specs (
    node_id          TEXT NOT NULL,
    spec             TEXT NOT NULL,
    desired_revision BIGINT NOT NULL,
    applied_revision BIGINT NOT NULL DEFAULT 0,
    status           TEXT NOT NULL,
    resources        TEXT NOT NULL DEFAULT '[]',
    reported_at      BIGINT NOT NULL DEFAULT 0,
    drift_at         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (node_id, spec)
  );
  CREATE TABLE node_checks (
    node_id    TEXT NOT NULL,
    spec       TEXT NOT NULL,
    name       TEXT NOT NULL,
    passing    BOOLEAN NOT NULL,
    output     TEXT NOT NULL DEFAULT '',
    since_at   BIGINT NOT NULL,
    checked_at BIGINT NOT NULL,
    PRIMARY KEY (node_id, spec, name)
  );
  CREATE TABLE deployments (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    spec       TEXT NOT NULL,
    revision   BIGINT NOT NULL,
    node_id    TEXT NOT NULL,
    node_name  TEXT NOT NULL,
    rollout_id TEXT NOT NULL DEFAULT '',
    actor      TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT ''
  );
  CREATE INDEX deployments_spec ON deployments (spec, at);
  CREATE TABLE hosted_files (
    sha256     TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    size       BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
`;

const MACHINES = `
  CREATE TABLE machines (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    mac               TEXT UNIQUE,
    uuid              TEXT,
    serial            TEXT,
    profile           TEXT NOT NULL DEFAULT '',
    labels            TEXT NOT NULL DEFAULT '{}',
    state             TEXT NOT NULL,
    node_id           TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    last_boot_at      BIGINT,
    last_boot_address TEXT NOT NULL DEFAULT '',
    reported          TEXT NOT NULL DEFAULT '{}',
    approved_by       TEXT NOT NULL DEFAULT ''
  );
  CREATE INDEX machines_uuid ON machines (uuid);
  CREATE INDEX machines_serial ON machines (serial);
`;

// Events between replicas too large for a notification (server/postgres/pg-bus.ts), kept a minute.
const BUS = `
  CREATE TABLE bus_events (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      BIGINT NOT NULL,
    payload TEXT NOT NULL
  );
  CREATE INDEX bus_events_at ON bus_events (at);
`;

// Which replica drives a job or rollout (server/postgres/pg-leases.ts), in the database's clock.
const LEASES = `
  CREATE TABLE driver_leases (
    id         TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    fence      BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
  );
`;

// State the replicas share outside the stores (docs/architecture.md, "State shared by replicas"):
// web sessions, sign-in failures, enrollment answers kept for a retry, shell recordings and the
// bytes of hosted files. Rows that expire carry the time they do, indexed, so each write can sweep
// a few expired ones. Bytes are kept in rows of at most 256 KiB keyed by their byte offset.
const SHARED = `
  CREATE TABLE web_sessions (
    key        TEXT PRIMARY KEY,
    token_id   TEXT NOT NULL,
    principal  TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE INDEX web_sessions_token ON web_sessions (token_id);
  CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
  CREATE TABLE sign_in_failures (
    limiter TEXT NOT NULL,
    address TEXT NOT NULL,
    times   BIGINT[] NOT NULL,
    until   BIGINT NOT NULL,
    PRIMARY KEY (limiter, address)
  );
  CREATE INDEX sign_in_failures_until ON sign_in_failures (until);
  CREATE TABLE replay_answers (
    cache      TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (cache, key)
  );
  CREATE INDEX replay_answers_expires ON replay_answers (expires_at);
  CREATE TABLE recordings (
    id         TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL
  );
  CREATE TABLE recording_chunks (
    recording TEXT NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
    at        BIGINT NOT NULL,
    data      BYTEA NOT NULL,
    PRIMARY KEY (recording, at)
  );
  CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    upload TEXT NOT NULL UNIQUE,
    size   BIGINT NOT NULL
  );
  CREATE TABLE blob_chunks (
    upload TEXT NOT NULL,
    at     BIGINT NOT NULL,
    data   BYTEA NOT NULL,
    PRIMARY KEY (upload, at)
  );
`;

// The key material replicas share (server/key-material.ts), one row per item, each sealed with
// AES-256-GCM under the master key (FLEET_MASTER_KEY_FILE): its own random nonce, the item's name
// as associated data, and the id of the master key that sealed it (pg-key-material.ts).
const KEYS = `
  CREATE TABLE key_material (
    name       TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL,
    nonce      BYTEA NOT NULL,
    sealed     BYTEA NOT NULL,
    updated_at BIGINT NOT NULL
  );
`;

// Which replicas are alive (each one's last heartbeat, in the database's clock) and which replica
// holds each agent's link (server/cluster/cluster-links.ts, server/postgres/pg-link-directory.ts).
const LINKS = `
  CREATE TABLE replicas (
    id         TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL
  );
  CREATE TABLE agent_links (
    node_id TEXT PRIMARY KEY,
    replica TEXT NOT NULL,
    since   BIGINT NOT NULL
  );
  CREATE INDEX agent_links_replica ON agent_links (replica);
`;

/** Migration N+1 is `PG_MIGRATIONS[N]`; each runs in one transaction. */
export const PG_MIGRATIONS: readonly string[] = [
  // 1: the schema SQLite reaches with its migrations 1–7, per domain, and the state replicas share.
  [NODES, TOKENS, JOBS, AUDIT, SESSIONS, STATE, MACHINES, BUS, LEASES, SHARED, KEYS].join('\n'),
  // 2: replicas and the agent links each holds.
  LINKS,
];
