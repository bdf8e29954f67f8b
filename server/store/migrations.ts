// Numbered schema migrations. Append only: never edit a migration that has shipped.
// The database's PRAGMA user_version records how many have run.

export const MIGRATIONS: readonly string[] = [
  // 1: nodes, tokens, jobs, results and the audit log.
  `
  CREATE TABLE nodes (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    labels           TEXT NOT NULL DEFAULT '{}',
    facts            TEXT,
    identity         TEXT NOT NULL DEFAULT '{}',
    cert_fingerprint TEXT NOT NULL,
    cert_not_after   INTEGER NOT NULL,
    agent_version    TEXT NOT NULL DEFAULT '',
    join_token_id    TEXT,
    enrolled_at      INTEGER NOT NULL,
    last_seen_at     INTEGER
  );

  CREATE TABLE join_tokens (
    id          TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    labels      TEXT NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    max_uses    INTEGER NOT NULL,
    used        INTEGER NOT NULL DEFAULT 0,
    revoked_at  INTEGER
  );

  CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
  );

  CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    spec        TEXT NOT NULL,
    finished_at INTEGER
  );
  CREATE INDEX jobs_created ON jobs (created_at);

  CREATE TABLE job_runs (
    job_id           TEXT NOT NULL REFERENCES jobs (id),
    node_id          TEXT NOT NULL,
    node_name        TEXT NOT NULL,
    position         INTEGER NOT NULL,
    state            INTEGER NOT NULL,
    exit_code        INTEGER,
    signal           TEXT,
    error            TEXT,
    queue_expires_at INTEGER,
    dispatched_at    INTEGER,
    started_at       INTEGER,
    finished_at      INTEGER,
    PRIMARY KEY (job_id, node_id)
  );
  CREATE INDEX job_runs_node ON job_runs (node_id, state);

  CREATE TABLE job_output (
    job_id  TEXT NOT NULL,
    node_id TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    stream  INTEGER NOT NULL,
    data    BLOB NOT NULL,
    at      INTEGER NOT NULL,
    UNIQUE (job_id, node_id, seq)
  );

  CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    ok     INTEGER NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
  );
  CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  `,
  // 2: remote shell sessions and where their recordings are.
  `
  CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    node_id      TEXT NOT NULL,
    node_name    TEXT NOT NULL,
    user         TEXT NOT NULL,
    source       TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    ended_at     INTEGER,
    exit_code    INTEGER,
    output_bytes INTEGER NOT NULL DEFAULT 0,
    end_reason   TEXT NOT NULL DEFAULT ''
  );
  CREATE INDEX sessions_started ON sessions (started_at);
  `,
  // 3: the certificate a node renewed from, accepted until it connects with the new one.
  `
  ALTER TABLE nodes ADD COLUMN prev_cert_fingerprint TEXT;
  `,
  // 4: desired state: spec revisions, rollouts, where each node stands, health checks, the
  // deployment history, and files the server hosts for specs.
  `
  CREATE TABLE spec_revisions (
    spec       TEXT NOT NULL,
    revision   INTEGER NOT NULL,
    yaml       TEXT NOT NULL,
    spec_json  TEXT NOT NULL,
    digest     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (spec, revision)
  );

  CREATE TABLE rollouts (
    id                TEXT PRIMARY KEY,
    spec              TEXT NOT NULL,
    revision          INTEGER NOT NULL,
    previous_revision INTEGER NOT NULL,
    state             TEXT NOT NULL,
    reason            TEXT NOT NULL DEFAULT '',
    batch_size        INTEGER NOT NULL,
    current_batch     INTEGER NOT NULL DEFAULT 0,
    max_errors        INTEGER NOT NULL,
    health_gate_ms    INTEGER NOT NULL,
    auto_rollback     INTEGER NOT NULL,
    rollback_of       TEXT NOT NULL DEFAULT '',
    created_by        TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
  );
  CREATE INDEX rollouts_created ON rollouts (created_at);

  CREATE TABLE rollout_nodes (
    rollout_id TEXT NOT NULL REFERENCES rollouts (id),
    node_id    TEXT NOT NULL,
    node_name  TEXT NOT NULL,
    batch      INTEGER NOT NULL,
    position   INTEGER NOT NULL,
    -- The revision the node had before (a rollback returns it there) and the one it is sent.
    from_revision INTEGER NOT NULL,
    to_revision   INTEGER NOT NULL,
    state      TEXT NOT NULL,
    resources  TEXT NOT NULL DEFAULT '[]',
    error      TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (rollout_id, node_id)
  );

  CREATE TABLE node_specs (
    node_id          TEXT NOT NULL,
    spec             TEXT NOT NULL,
    desired_revision INTEGER NOT NULL,
    applied_revision INTEGER NOT NULL DEFAULT 0,
    status           TEXT NOT NULL,
    resources        TEXT NOT NULL DEFAULT '[]',
    reported_at      INTEGER NOT NULL DEFAULT 0,
    drift_at         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (node_id, spec)
  );

  CREATE TABLE node_checks (
    node_id    TEXT NOT NULL,
    spec       TEXT NOT NULL,
    name       TEXT NOT NULL,
    passing    INTEGER NOT NULL,
    output     TEXT NOT NULL DEFAULT '',
    since_at   INTEGER NOT NULL,
    checked_at INTEGER NOT NULL,
    PRIMARY KEY (node_id, spec, name)
  );

  CREATE TABLE deployments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    spec       TEXT NOT NULL,
    revision   INTEGER NOT NULL,
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
    size       INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  `,
  // 5: PXE: machines that may network-boot, machine-bound join tokens, and settings (the PXE config).
  `
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
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    last_boot_at      INTEGER,
    last_boot_address TEXT NOT NULL DEFAULT '',
    reported          TEXT NOT NULL DEFAULT '{}',
    approved_by       TEXT NOT NULL DEFAULT ''
  );
  CREATE INDEX machines_uuid ON machines (uuid);
  CREATE INDEX machines_serial ON machines (serial);
  ALTER TABLE join_tokens ADD COLUMN machine_id TEXT;
  CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  `,
  // 6: API tokens limited to a label selector; removed nodes (their certificates stay refused).
  `
  ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT '';
  CREATE TABLE removed_nodes (
    node_id               TEXT PRIMARY KEY,
    name                  TEXT NOT NULL,
    cert_fingerprint      TEXT NOT NULL,
    prev_cert_fingerprint TEXT,
    removed_at            INTEGER NOT NULL,
    removed_by            TEXT NOT NULL
  );
  CREATE INDEX removed_nodes_cert ON removed_nodes (cert_fingerprint);
  `,
  // 7: the hardware addresses each node enrolled with, so that a reinstalled machine is recognised
  // (server/node-identity.ts); filled in for the nodes enrolled so far.
  `
  CREATE TABLE node_macs (
    mac     TEXT NOT NULL,
    node_id TEXT NOT NULL,
    PRIMARY KEY (mac, node_id)
  );
  CREATE INDEX node_macs_node ON node_macs (node_id);
  INSERT OR IGNORE INTO node_macs (mac, node_id)
    SELECT lower(m.value), n.id FROM nodes n, json_each(n.identity, '$.macs') m WHERE m.type = 'text' AND m.value <> '';
  `,
];
