//! The run store's schema: the ordered list of migrations and the code that applies them.
//!
//! The schema version lives in SQLite's `PRAGMA user_version`; `PRAGMA application_id` marks the
//! file as a loadgate store so that another program's database is never migrated by mistake.
//! Migration `i` (0-based) takes a store from version `i` to `i + 1`. Migrations are append-only:
//! never edit one that has shipped, add a new one.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::{retry_busy, StoreError};

/// `PRAGMA application_id` of a loadgate run store: "LGST".
pub const APPLICATION_ID: i32 = 0x4C47_5354;

/// The ordered migrations. The schema version of a store is the number applied.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: runs, their histograms and their per-interval series.
    r#"
    CREATE TABLE runs (
        id                     INTEGER PRIMARY KEY AUTOINCREMENT,
        set_id                 TEXT,
        started_at_ms          INTEGER NOT NULL,
        ended_at_ms            INTEGER,
        status                 TEXT NOT NULL,
        status_reason          TEXT,
        workload               TEXT NOT NULL,
        workload_hash          TEXT NOT NULL,
        settings_json          TEXT NOT NULL,
        target                 TEXT NOT NULL,
        server_flavor          TEXT NOT NULL,
        server_version         TEXT NOT NULL,
        server_version_comment TEXT NOT NULL,
        testbed_json           TEXT NOT NULL,
        testbed_fingerprint    TEXT NOT NULL,
        git_commit             TEXT,
        tool_version           TEXT NOT NULL,
        record_version         INTEGER NOT NULL,
        summary_json           TEXT,
        tps                    REAL,
        qps                    REAL,
        p99_corrected_ms       REAL,
        p99_service_ms         REAL,
        error_count            INTEGER
    );
    CREATE INDEX runs_started ON runs (started_at_ms);
    CREATE INDEX runs_workload ON runs (workload, started_at_ms);
    CREATE INDEX runs_status ON runs (status, started_at_ms);
    CREATE INDEX runs_set ON runs (set_id) WHERE set_id IS NOT NULL;
    CREATE INDEX runs_testbed ON runs (testbed_fingerprint, workload, started_at_ms);
    CREATE INDEX runs_tps ON runs (workload, tps);
    CREATE INDEX runs_p99_corrected ON runs (workload, p99_corrected_ms);

    CREATE TABLE run_histograms (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        idx    INTEGER NOT NULL,
        scope  TEXT NOT NULL,
        kind   TEXT NOT NULL,
        data   BLOB NOT NULL,
        PRIMARY KEY (run_id, idx),
        UNIQUE (run_id, scope, kind)
    ) WITHOUT ROWID;

    CREATE TABLE run_intervals (
        run_id            INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        idx               INTEGER NOT NULL,
        t                 REAL,
        warmup            INTEGER NOT NULL,
        transactions      INTEGER NOT NULL,
        reads             INTEGER NOT NULL,
        writes            INTEGER NOT NULL,
        others            INTEGER NOT NULL,
        errors            INTEGER NOT NULL,
        retries           INTEGER NOT NULL,
        reconnects        INTEGER NOT NULL,
        tps               REAL,
        qps               REAL,
        corrected_p50_ms  REAL,
        corrected_p95_ms  REAL,
        corrected_p99_ms  REAL,
        corrected_max_ms  REAL,
        service_p99_ms    REAL,
        queue_depth       INTEGER NOT NULL,
        PRIMARY KEY (run_id, idx)
    ) WITHOUT ROWID;
    "#,
    // 2: the embedded monitor. The pool's per-interval gauges join the run's series; monitor
    // sessions (one per run, or standalone from `loadgate monitor`) hold server samples,
    // per-statement server numbers and alerts.
    r#"
    ALTER TABLE run_intervals ADD COLUMN conn_open INTEGER;
    ALTER TABLE run_intervals ADD COLUMN conn_in_use REAL;
    ALTER TABLE run_intervals ADD COLUMN connects INTEGER;
    ALTER TABLE run_intervals ADD COLUMN connect_max_ms REAL;
    ALTER TABLE run_intervals ADD COLUMN conn_discarded INTEGER;
    ALTER TABLE run_intervals ADD COLUMN wait_avg_ms REAL;
    ALTER TABLE run_intervals ADD COLUMN wait_max_ms REAL;

    CREATE TABLE monitor_sessions (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id         INTEGER UNIQUE REFERENCES runs (id) ON DELETE CASCADE,
        started_at_ms  INTEGER NOT NULL,
        ended_at_ms    INTEGER,
        target         TEXT NOT NULL,
        server_version TEXT NOT NULL,
        interval_s     REAL,
        worst_alert    TEXT,
        report_json    TEXT NOT NULL
    );
    CREATE INDEX monitor_sessions_started ON monitor_sessions (started_at_ms);

    CREATE TABLE monitor_samples (
        session_id        INTEGER NOT NULL REFERENCES monitor_sessions (id) ON DELETE CASCADE,
        idx               INTEGER NOT NULL,
        t                 REAL,
        at_ms             INTEGER NOT NULL,
        threads_connected INTEGER NOT NULL,
        threads_running   INTEGER NOT NULL,
        qps               REAL,
        buffer_pool_hit_pct REAL,
        avg_statement_ms  REAL,
        sample_json       TEXT NOT NULL,
        PRIMARY KEY (session_id, idx)
    ) WITHOUT ROWID;

    CREATE TABLE monitor_statements (
        session_id      INTEGER NOT NULL REFERENCES monitor_sessions (id) ON DELETE CASCADE,
        idx             INTEGER NOT NULL,
        name            TEXT NOT NULL,
        sql             TEXT NOT NULL,
        source          TEXT NOT NULL,
        digest          TEXT,
        count           INTEGER NOT NULL,
        total_ms        REAL,
        avg_ms          REAL,
        max_ms          REAL,
        rows_examined   INTEGER,
        rows_sent       INTEGER,
        lock_ms         REAL,
        no_index_used   INTEGER,
        tmp_disk_tables INTEGER,
        errors          INTEGER,
        PRIMARY KEY (session_id, idx)
    ) WITHOUT ROWID;

    CREATE TABLE monitor_alerts (
        session_id INTEGER NOT NULL REFERENCES monitor_sessions (id) ON DELETE CASCADE,
        idx        INTEGER NOT NULL,
        metric     TEXT NOT NULL,
        level      TEXT NOT NULL,
        value      REAL,
        threshold  REAL,
        message    TEXT NOT NULL,
        PRIMARY KEY (session_id, idx)
    ) WITHOUT ROWID;
    "#,
    // 3: regression tracking (self-contained): run sets (the trials of one job), named
    // baselines with a snapshot of their runs' metrics, and A/A calibrations per testbed.
    r#"
    CREATE TABLE run_sets (
        set_id         TEXT PRIMARY KEY,
        kind           TEXT NOT NULL,
        created_at_ms  INTEGER NOT NULL,
        workload       TEXT NOT NULL,
        trials         INTEGER NOT NULL,
        label          TEXT
    );
    CREATE INDEX run_sets_created ON run_sets (created_at_ms);

    CREATE TABLE baselines (
        name                 TEXT PRIMARY KEY,
        created_at_ms        INTEGER NOT NULL,
        set_id               TEXT NOT NULL,
        workload             TEXT NOT NULL,
        workload_hash        TEXT NOT NULL,
        testbed_fingerprint  TEXT NOT NULL,
        testbed_json         TEXT NOT NULL,
        settings_json        TEXT NOT NULL,
        target               TEXT NOT NULL,
        server_version       TEXT NOT NULL,
        git_commit           TEXT
    );

    CREATE TABLE baseline_runs (
        baseline          TEXT NOT NULL REFERENCES baselines (name) ON DELETE CASCADE,
        idx               INTEGER NOT NULL,
        run_id            INTEGER NOT NULL,
        started_at_ms     INTEGER NOT NULL,
        tps               REAL NOT NULL,
        p99_corrected_ms  REAL NOT NULL,
        transactions      INTEGER NOT NULL,
        errors            INTEGER NOT NULL,
        PRIMARY KEY (baseline, idx)
    ) WITHOUT ROWID;

    CREATE TABLE calibrations (
        id                   INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at_ms        INTEGER NOT NULL,
        testbed_fingerprint  TEXT NOT NULL,
        workload             TEXT NOT NULL,
        workload_hash        TEXT NOT NULL,
        settings_json        TEXT NOT NULL,
        set_id               TEXT NOT NULL,
        trials               INTEGER NOT NULL,
        noise_tps            REAL NOT NULL,
        noise_p99            REAL NOT NULL,
        noise_error_rate     REAL
    );
    CREATE INDEX calibrations_key ON calibrations (testbed_fingerprint, workload, created_at_ms);
    "#,
    // 4: evidence attached to a run (bulk sync results, EXPLAIN output, index reports) and
    // links between runs (an index workload's before run and its after run).
    r#"
    CREATE TABLE run_evidence (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        kind   TEXT NOT NULL,
        name   TEXT NOT NULL,
        json   TEXT NOT NULL,
        PRIMARY KEY (run_id, kind, name)
    ) WITHOUT ROWID;

    CREATE TABLE run_links (
        from_run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        to_run   INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        relation TEXT NOT NULL,
        PRIMARY KEY (from_run, to_run, relation)
    ) WITHOUT ROWID;
    CREATE INDEX run_links_to ON run_links (to_run);
    "#,
    // 5: what a run found out while running (the driver and scheduling policy that ran, and
    // why they differ from what was asked) moves out of the settings into its own column.
    // Runs stored before kept those facts inside `settings_json` (`driver` as it ran,
    // `driver_fallback`, `client_sched` as it ran, `client_sched_refused`): they move to
    // `facts_json`, and the settings get back what was asked for (`lean`, `batch`).
    // `json_patch('{}', …)` drops the members that are null.
    r#"
    ALTER TABLE runs ADD COLUMN facts_json TEXT;
    ALTER TABLE baselines ADD COLUMN facts_json TEXT;

    UPDATE runs SET facts_json = json_patch('{}', json_object(
        'driver', json_extract(settings_json, '$.driver'),
        'driver_fallback', json_extract(settings_json, '$.driver_fallback'),
        'client_sched', json_extract(settings_json, '$.client_sched'),
        'client_sched_refused', json_extract(settings_json, '$.client_sched_refused')))
    WHERE json_valid(settings_json) AND json_type(settings_json, '$.driver') IS NOT NULL;
    UPDATE runs SET settings_json =
        json_set(json_remove(settings_json, '$.driver_fallback'), '$.driver', 'lean')
    WHERE json_valid(settings_json) AND json_type(settings_json, '$.driver_fallback') IS NOT NULL;
    UPDATE runs SET settings_json =
        json_set(json_remove(settings_json, '$.client_sched_refused'), '$.client_sched', 'batch')
    WHERE json_valid(settings_json)
      AND json_type(settings_json, '$.client_sched_refused') IS NOT NULL;

    UPDATE baselines SET facts_json = json_patch('{}', json_object(
        'driver', json_extract(settings_json, '$.driver'),
        'driver_fallback', json_extract(settings_json, '$.driver_fallback'),
        'client_sched', json_extract(settings_json, '$.client_sched'),
        'client_sched_refused', json_extract(settings_json, '$.client_sched_refused')))
    WHERE json_valid(settings_json) AND json_type(settings_json, '$.driver') IS NOT NULL;
    UPDATE baselines SET settings_json =
        json_set(json_remove(settings_json, '$.driver_fallback'), '$.driver', 'lean')
    WHERE json_valid(settings_json) AND json_type(settings_json, '$.driver_fallback') IS NOT NULL;
    UPDATE baselines SET settings_json =
        json_set(json_remove(settings_json, '$.client_sched_refused'), '$.client_sched', 'batch')
    WHERE json_valid(settings_json)
      AND json_type(settings_json, '$.client_sched_refused') IS NOT NULL;
    "#,
    // 6: the process that began a `running` run (host, boot id, pid and its start time), so
    // that an open finds the runs whose process is gone and marks them `interrupted`. A run
    // left `running` before this had no owner to look at: its process is taken to be gone
    // (should it still be going, its own finish overwrites the status).
    r#"
    ALTER TABLE runs ADD COLUMN owner_host TEXT;
    ALTER TABLE runs ADD COLUMN owner_boot_id TEXT;
    ALTER TABLE runs ADD COLUMN owner_pid INTEGER;
    ALTER TABLE runs ADD COLUMN owner_start INTEGER;

    UPDATE runs SET status = 'interrupted',
        status_reason = 'its loadgate process ended before the run finished (killed, or the machine restarted); it was begun by a loadgate that did not record its process'
    WHERE status = 'running';
    "#,
    // 7: the work per transaction of a run (counters over its measured window), and its copy
    // in a baseline. Older runs have none: their work metrics are "not measured".
    r#"
    ALTER TABLE runs ADD COLUMN work_json TEXT;
    ALTER TABLE baseline_runs ADD COLUMN work_json TEXT;
    "#,
    // 8: the run-to-run noise of the work metrics in a calibration (NULL: not measured on
    // every trial, or a calibration from before).
    r#"
    ALTER TABLE calibrations ADD COLUMN noise_rows REAL;
    ALTER TABLE calibrations ADD COLUMN noise_pages REAL;
    ALTER TABLE calibrations ADD COLUMN noise_client_cpu REAL;
    ALTER TABLE calibrations ADD COLUMN noise_server_cpu REAL;
    "#,
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Why a migration attempt stopped, before it is turned into a [`StoreError`].
enum Stop {
    Sql(rusqlite::Error),
    Newer(i64),
    NotAStore(String),
}

impl From<rusqlite::Error> for Stop {
    fn from(e: rusqlite::Error) -> Self {
        Stop::Sql(e)
    }
}

/// Brings the store at `path` up to `SCHEMA_VERSION`.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    migrate_with(conn, path, MIGRATIONS)
}

/// Applies `migrations` (the full ordered list) to the store. Reads the version without a lock
/// first, so opening an up-to-date store never takes the write lock; otherwise re-reads it under
/// `BEGIN IMMEDIATE`, so of two processes opening a fresh file at once exactly one migrates.
pub(super) fn migrate_with(
    conn: &mut Connection,
    path: &Path,
    migrations: &[&str],
) -> Result<(), StoreError> {
    let latest = migrations.len() as i64;
    let mut from = 0;
    let outcome = retry_busy(|| {
        let (version, app_id) = header(conn)?;
        from = version;
        check(version, app_id, latest)?;
        if version == latest {
            return Ok(());
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (version, app_id) = header(&tx)?;
        from = version;
        check(version, app_id, latest)?;
        if version == latest {
            return Ok(());
        }
        if version == 0 {
            let objects: i64 = tx.query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'",
                [],
                |r| r.get(0),
            )?;
            if objects > 0 {
                return Err(Stop::NotAStore(format!(
                    "it already holds {objects} tables or indexes of another program"
                )));
            }
        }
        let pending = usize::try_from(version)
            .ok()
            .and_then(|v| migrations.get(v..))
            .ok_or_else(|| Stop::NotAStore(format!("its user_version is {version}")))?;
        for sql in pending {
            tx.execute_batch(sql)?;
        }
        tx.pragma_update(None, "user_version", latest)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.commit()?;
        Ok(())
    });
    outcome.map_err(|(stop, attempts)| match stop {
        Stop::Newer(found) => StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: latest,
        },
        Stop::NotAStore(detail) => StoreError::NotAStore {
            path: path.to_path_buf(),
            detail,
        },
        Stop::Sql(e) if super::is_busy(&e) => StoreError::Busy {
            path: path.to_path_buf(),
            what: "migrate the schema",
            attempts,
        },
        Stop::Sql(e) if super::is_not_a_database(&e) => StoreError::NotADatabase {
            path: path.to_path_buf(),
        },
        Stop::Sql(source) => StoreError::Migrate {
            path: path.to_path_buf(),
            from,
            to: latest,
            source,
        },
    })
}

/// `(user_version, application_id)` of the open database.
fn header(conn: &Connection) -> rusqlite::Result<(i64, i32)> {
    let version = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let app_id = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    Ok((version, app_id))
}

/// Refuses another program's database and a store from a newer loadgate.
fn check(version: i64, app_id: i32, latest: i64) -> Result<(), Stop> {
    if app_id != APPLICATION_ID && (app_id != 0 || version != 0) {
        return Err(Stop::NotAStore(format!(
            "its application_id is {app_id:#x} and its user_version {version}"
        )));
    }
    if version < 0 {
        return Err(Stop::NotAStore(format!("its user_version is {version}")));
    }
    if version > latest {
        return Err(Stop::Newer(version));
    }
    Ok(())
}

impl super::Busy for Stop {
    fn is_busy(&self) -> bool {
        matches!(self, Stop::Sql(e) if super::is_busy(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut st = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .unwrap();
        let names = st.query_map([], |r| r.get(0)).unwrap();
        names.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn applies_only_the_missing_migrations_in_order() {
        let path = Path::new(":memory:");
        let mut conn = Connection::open_in_memory().unwrap();
        let v1 = ["CREATE TABLE a (x)"];
        migrate_with(&mut conn, path, &v1).unwrap();
        assert_eq!(header(&conn).unwrap(), (1, APPLICATION_ID));

        // Version 2 depends on version 1 having run, and 1 must not run twice.
        let v2 = [
            "CREATE TABLE a (x)",
            "CREATE TABLE b (y); INSERT INTO a VALUES (1)",
        ];
        migrate_with(&mut conn, path, &v2).unwrap();
        assert_eq!(header(&conn).unwrap(), (2, APPLICATION_ID));
        assert_eq!(tables(&conn), ["a", "b"]);

        // Up to date: nothing runs.
        migrate_with(&mut conn, path, &v2).unwrap();
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM a", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);

        // An older build refuses the newer store.
        let err = migrate_with(&mut conn, path, &v1).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::NewerSchema {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_failing_migration_leaves_the_previous_version() {
        let path = Path::new(":memory:");
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_with(&mut conn, path, &["CREATE TABLE a (x)"]).unwrap();
        let bad = ["CREATE TABLE a (x)", "CREATE TABLE b (y); THIS IS NOT SQL"];
        let err = migrate_with(&mut conn, path, &bad).unwrap_err();
        assert!(
            matches!(err, StoreError::Migrate { from: 1, to: 2, .. }),
            "{err}"
        );
        assert_eq!(header(&conn).unwrap().0, 1);
        assert_eq!(tables(&conn), ["a"]);
    }

    #[test]
    fn refuses_another_programs_database() {
        let path = Path::new(":memory:");
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE theirs (x)").unwrap();
        let err = migrate_with(&mut conn, path, MIGRATIONS).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
        assert_eq!(tables(&conn), ["theirs"]);

        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "application_id", 7).unwrap();
        let err = migrate_with(&mut conn, path, MIGRATIONS).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");

        // Even with loadgate's application_id, a negative version is not ours.
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.pragma_update(None, "user_version", -1).unwrap();
        let err = migrate_with(&mut conn, path, MIGRATIONS).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    }
}
