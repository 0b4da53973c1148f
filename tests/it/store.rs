//! The run store, through its public API, on `:memory:` and on files: round trips, migrations,
//! refusals, concurrent writers in separate processes, list filters and password redaction.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use loadgate::record::{
    Alert, ErrorCount, HistKey, HistKind, HistScope, IdleCheck, IntervalSample, LatencyStats,
    Level, MonitorReport, NamedLatency, PoolSummary, Qps, QueryCounts, RunRecord, RunSettings,
    RunStatus, RunStatusField, Schedule, ServerInfo, ServerSample, StatementStat, StoredHistogram,
    Summary, Testbed, Thresholds, Unfinished,
};
use loadgate::store::{default_path, RunFilter, RunListItem, Store, StoreError, SCHEMA_VERSION};

/// Set when this test binary runs as a child process; names what the child does.
const ROLE_ENV: &str = "LOADGATE_TEST_STORE_ROLE";
const ARG_ENV: &str = "LOADGATE_TEST_STORE_ARG";
const RUNS_PER_WRITER: usize = 50;

fn latency(base: f64) -> LatencyStats {
    LatencyStats {
        count: 123_456,
        min: base * 0.1,
        avg: base * 0.5,
        p50: base * 0.45,
        p90: base * 0.9,
        p95: base * 0.95,
        p99: base,
        p999: base * 1.7,
        max: base * 3.3,
    }
}

/// A run with every field set, deterministic in `seed`. Floats have 17 significant digits so
/// that a lossy JSON round trip would show.
fn sample(seed: u64) -> RunRecord {
    let f = 1.0 + seed as f64 / 7.0;
    RunRecord {
        id: None,
        set_id: Some(format!("set-{}", seed % 3)),
        started_at_ms: 1_700_000_000_000 + seed as i64 * 1000,
        ended_at_ms: Some(1_700_000_070_000 + seed as i64 * 1000),
        status: RunStatusField(RunStatus::Complete),
        status_reason: Some("ran to the end".into()),
        workload: "oltp_read_write".into(),
        workload_hash: "0123456789abcdef".into(),
        settings: RunSettings::Other(serde_json::json!({
            "workers": 4, "duration_s": 60, "distribution": "uniform",
            "nested": {"rate": null, "tables": [1, 2, 3]},
        })),
        facts: loadgate::record::RunFacts {
            driver: Some(loadgate::settings::Driver::MysqlAsync),
            driver_fallback: Some("the server wants TLS".into()),
            client_sched: Some(loadgate::settings::ClientSched::Batch),
            client_sched_refused: None,
            foreign_tables: vec!["sbtest1".into()],
            foreign_writes: true,
        },
        target: "mysql://bench@127.0.0.1:3306/sbtest".into(),
        server: ServerInfo {
            flavor: "mariadb".into(),
            version: "10.11.19-MariaDB-0+deb12u1".into(),
            version_comment: "Debian 12".into(),
        },
        testbed: Testbed {
            cpu_model: "AMD EPYC".into(),
            cores: 2,
            memory_bytes: 4 << 30,
            kernel: "6.1.0".into(),
            server_version: "10.11.19".into(),
            server_config_hash: "aaaabbbbccccdddd".into(),
            fingerprint: "feedfacecafebeef".into(),
        },
        git_commit: Some("bdc1c7a".into()),
        tool_version: "0.1.0".into(),
        summary: Some(Summary {
            duration_s: 60.000000000000014,
            transactions: 98_765,
            failed_transactions: 3,
            queries: QueryCounts {
                read: 1_382_710,
                write: 395_060,
                other: 197_530,
            },
            tps: 1646.0833333333333 * f,
            qps: Qps {
                total: 32921.666666666664 * f,
                read: 23045.166666666668,
                write: 6584.333333333333,
                other: 3292.1666666666665,
            },
            latency_corrected: latency(12.345678901234567 * f),
            latency_service: latency(9.876543210987654),
            errors: vec![
                ErrorCount {
                    code: 1213,
                    kind: "deadlock".into(),
                    count: 7,
                    retried: 7,
                    example: "Deadlock found when trying to get lock".into(),
                },
                ErrorCount {
                    code: 2013,
                    kind: "server_gone".into(),
                    count: 1,
                    retried: 0,
                    example: "Lost connection".into(),
                },
            ],
            retries: 7,
            reconnects: 1,
            schedule: Some(Schedule {
                rate: 2000.0,
                scheduled: 120_000,
                started: 119_990,
                completed: 119_950,
                failed: 30,
                in_flight: 10,
                not_started: 10,
                max_start_lag_ms: 1234.5678901234567,
                max_queue_depth: 42,
                achieved_rate: 1999.8333333333333,
                fell_behind: true,
            }),
            transactions_by_type: vec![NamedLatency {
                name: "oltp_read_write".into(),
                count: 98_765,
                errors: 3,
                corrected: Some(latency(12.3)),
                service: latency(9.8),
            }],
            statements: vec![NamedLatency {
                name: "point_select".into(),
                count: 987_650,
                errors: 0,
                corrected: None,
                service: latency(0.2),
            }],
            unfinished: Some(Unfinished {
                in_flight: 4,
                not_started: 4213,
                lower_bound_from_ms: 3.3320960000000004,
                oldest_in_flight_sent_s: Some(3.0000000000000004),
                last_completed_s: None,
                grace_s: 2.0,
            }),
        }),
        histograms: vec![
            StoredHistogram {
                key: HistKey::new(HistScope::parse("txn"), HistKind::parse("corrected")),
                bytes: (0..=255u8).cycle().take(3000).collect(),
            },
            StoredHistogram {
                key: HistKey::new(HistScope::parse("txn"), HistKind::parse("service")),
                bytes: vec![0, 0, 1, 0xff, 0],
            },
            StoredHistogram {
                key: HistKey::new(
                    HistScope::parse("stmt:point_select"),
                    HistKind::parse("service"),
                ),
                bytes: Vec::new(),
            },
        ],
        intervals: (0..70)
            .map(|i| IntervalSample {
                t: (i + 1) as f64 * 1.0000000000000002,
                warmup: i < 10,
                transactions: 1600 + i,
                queries: QueryCounts {
                    read: 22_400 + i,
                    write: 6_400,
                    other: 3_200,
                },
                errors: i % 3,
                retries: i % 2,
                reconnects: u64::from(i == 40),
                tps: 1600.1234567890123 + i as f64,
                qps: 32002.469135780246,
                corrected_p50_ms: 2.0000000000000004,
                corrected_p95_ms: 8.1,
                corrected_p99_ms: 12.345678901234567,
                corrected_max_ms: 40.7,
                service_p99_ms: 9.9,
                queue_depth: i * 2,
                conn_open: 4,
                conn_in_use: 3.9000000000000004,
                connects: u64::from(i == 0) * 4,
                connect_max_ms: 1.2345678901234567,
                conn_discarded: u64::from(i == 40),
                wait_avg_ms: 0.30000000000000004,
                wait_max_ms: 7.7,
            })
            .collect(),
        monitor: Some(monitor_report(seed)),
        work: Some(loadgate::record::work::Work {
            window_s: 60.000000000000014 * f,
            transactions: 1000 + seed,
            counters: loadgate::record::work::WorkCounters {
                rows_read: 400_000 + seed,
                handler_reads: 600_000,
                buffer_pool_read_requests: 90_000,
                buffer_pool_reads: 12,
                tmp_tables: 1000,
                tmp_disk_tables: 1,
                sort_merge_passes: 2,
                sort_rows: 200_000,
                bytes_sent: 39_000_000,
                bytes_received: 800_000,
            },
            monitor_own: loadgate::record::work::WorkCounters {
                handler_reads: 5000,
                tmp_tables: 31,
                ..Default::default()
            },
            monitor_samples: 30,
            client_cpu_s: Some(0.6333333333333333 * f),
            server_cpu_s: None,
            ps_rows_examined: Some(590_000 + seed),
            ps_rows_examined_by_side: [("A".to_string(), 290_000), ("B".to_string(), 300_000)]
                .into_iter()
                .collect(),
            notes: vec!["a note".into()],
        }),
    }
}

/// A monitor report with every field set.
fn monitor_report(seed: u64) -> MonitorReport {
    let sample = |i: u64| ServerSample {
        t: i as f64 * 1.0000000000000002,
        at_ms: 1_700_000_000_000 + i as i64 * 1000,
        interval_s: 1.0000000000000002,
        threads_connected: 5,
        threads_running: 2 + i % 3,
        max_used_connections: 9,
        max_connections: 151,
        connection_usage_pct: Some(3.3112582781456954),
        max_used_connections_pct: None,
        questions: 30_000 + i,
        monitor_queries: 2,
        qps: 29_998.000000000004,
        commands: [
            ("select".to_string(), 20_000 + i),
            ("stmt_execute".into(), 29_000),
        ]
        .into_iter()
        .collect(),
        slow_queries: i % 2,
        slow_query_ratio_pct: Some(0.0033333333333333335),
        avg_statement_ms: if i % 2 == 0 { Some(0.123456789) } else { None },
        statements_timed: Some(29_000),
        buffer_pool_read_requests: 100_000,
        buffer_pool_reads: 17,
        buffer_pool_hit_pct: Some(99.983),
        row_lock_waits: 3,
        row_lock_time_ms: 12,
        tmp_tables: 700,
        tmp_disk_tables: 1,
        rows_read: 70_000,
        rows_inserted: 700,
        rows_updated: 1400,
        rows_deleted: 700,
        data_written_bytes: 12 << 20,
        redo_written_bytes: 7 << 20,
        connections: 5,
        aborted_connects: 1,
        threads_created: 4,
    };
    MonitorReport {
        started_at_ms: 1_700_000_000_000 + seed as i64,
        ended_at_ms: Some(1_700_000_070_000),
        target: "mysql://bench@127.0.0.1:3306/sbtest".into(),
        server: ServerInfo {
            flavor: "mariadb".into(),
            version: "10.11.19-MariaDB".into(),
            version_comment: "Debian 12".into(),
        },
        interval_s: 0.5,
        performance_schema: "on".into(),
        notes: vec!["a note".into()],
        warnings: vec!["a warning".into()],
        thresholds: Thresholds::default(),
        window: Some(sample(99)),
        pool: Some(PoolSummary {
            size: 4,
            peak_open: 4,
            avg_in_use: 3.9000000000000004,
            avg_idle: 0.09999999999999964,
            max_waiting: 2,
            connects: 5,
            connect_avg_ms: 1.1,
            connect_max_ms: 2.2,
            discarded: 1,
            wait_avg_ms: 0.5,
            wait_max_ms: 9.0,
        }),
        idle_connections: Some(IdleCheck {
            user: "bench".into(),
            idle: 4,
            total: 4,
            pool_size: 4,
        }),
        statements_source: "performance_schema".into(),
        statements: vec![
            StatementStat {
                name: "point_select".into(),
                sql: "SELECT c FROM sbtest1 WHERE id=?".into(),
                source: "prepared_statements_instances".into(),
                digest: None,
                count: 1000 + seed,
                total_ms: 123.45678901234567,
                avg_ms: 0.12345678901234567,
                max_ms: 4.5,
                rows_examined: Some(1000),
                rows_sent: Some(1000),
                lock_ms: None,
                no_index_used: Some(0),
                tmp_disk_tables: Some(0),
                errors: Some(0),
            },
            StatementStat {
                name: "COMMIT".into(),
                sql: "COMMIT".into(),
                source: "events_statements_summary_by_digest".into(),
                digest: Some("06dbaf4a605324ce11a8d3efe7b6d5c5".into()),
                count: 10,
                lock_ms: Some(0.5),
                ..StatementStat::default()
            },
        ],
        alerts: vec![Alert {
            metric: "connection_usage".into(),
            level: Level::Critical,
            value: 93.33333333333333,
            threshold: 90.0,
            message: "connection usage peaked".into(),
        }],
        monitor_queries: 140,
        samples: (0..5).map(sample).collect(),
        work: None,
    }
}

fn with_id(mut rec: RunRecord, id: i64) -> RunRecord {
    rec.id = Some(id);
    rec
}

fn all(store: &Store) -> Vec<RunListItem> {
    store.list_runs(&RunFilter::default()).unwrap()
}

fn user_version(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

/// Runs this test binary again as a child acting out `role`.
fn child(role: &str, arg: &str) -> Command {
    crate::common::beside_others();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["store::child_process", "--exact", "--nocapture"])
        .env(ROLE_ENV, role)
        .env(ARG_ENV, arg);
    cmd
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "child failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The child side of the multi-process tests; a no-op in a normal test run.
#[test]
fn child_process() {
    let (Ok(role), Ok(arg)) = (std::env::var(ROLE_ENV), std::env::var(ARG_ENV)) else {
        return;
    };
    match role.as_str() {
        // arg = "<path>|<writer number>|<go file>": once the go file exists, insert
        // RUNS_PER_WRITER runs, half in one go and half begun then finished.
        "writer" => {
            let mut parts = arg.split('|');
            let (path, writer, go) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            let writer: u64 = writer.parse().unwrap();
            while !Path::new(go).exists() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            let mut store = Store::open(Path::new(path)).unwrap();
            for i in 0..RUNS_PER_WRITER as u64 {
                let mut rec = sample(writer * 1000 + i);
                rec.workload = format!("writer-{writer}");
                if i % 2 == 0 {
                    store.insert_run(&rec).unwrap();
                } else {
                    let id = store.begin_run(&rec).unwrap();
                    store.finish_run(id, &rec).unwrap();
                }
            }
        }
        // arg = the path default_path() should return.
        "default-path" => assert_eq!(default_path(), PathBuf::from(arg)),
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn round_trips_a_full_record_in_memory() {
    let mut store = Store::open_in_memory().unwrap();
    let rec = sample(1);
    let id = store.insert_run(&rec).unwrap();
    assert_eq!(store.get_run(id).unwrap(), with_id(rec.clone(), id));

    let id2 = store.begin_run(&rec).unwrap();
    assert_ne!(id, id2);
    store.finish_run(id2, &rec).unwrap();
    assert_eq!(store.get_run(id2).unwrap(), with_id(rec, id2));
}

#[test]
fn round_trips_a_full_record_on_a_file_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let rec = sample(2);
    let id = {
        let mut store = Store::open(&path).unwrap();
        let id = store.insert_run(&rec).unwrap();
        assert_eq!(store.get_run(id).unwrap(), with_id(rec.clone(), id));
        id
    };
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.path(), path);
    assert_eq!(store.get_run(id).unwrap(), with_id(rec.clone(), id));
    let id2 = store.insert_run(&sample(3)).unwrap();
    assert!(id2 > id);
    drop(store);
    assert_eq!(user_version(&path), SCHEMA_VERSION);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_failed_run_with_non_finite_numbers_round_trips() {
    let mut store = Store::open_in_memory().unwrap();
    let mut rec = sample(4);
    rec.status = RunStatusField(RunStatus::Failed);
    let summary = rec.summary.as_mut().unwrap();
    summary.duration_s = 0.0;
    summary.tps = f64::NAN;
    summary.latency_corrected = LatencyStats {
        count: 0,
        p99: f64::NAN,
        max: f64::INFINITY,
        ..LatencyStats::default()
    };
    rec.intervals[0].tps = f64::NAN;
    rec.intervals[1].corrected_max_ms = f64::INFINITY;
    let id = store.insert_run(&rec).unwrap();
    let got = store.get_run(id).unwrap();
    let s = got.summary.as_ref().unwrap();
    assert!(s.tps.is_nan());
    assert!(s.latency_corrected.p99.is_nan());
    // JSON has no infinity: it is read back as NaN ("not a number we measured").
    assert!(s.latency_corrected.max.is_nan());
    assert!(got.intervals[0].tps.is_nan());
    assert_eq!(got.intervals[1].corrected_max_ms, f64::INFINITY);
    assert_eq!(got.intervals[2..], rec.intervals[2..]);
    let item = &all(&store)[0];
    assert_eq!(item.tps, None);
    assert_eq!(item.status, RunStatus::Failed);
}

#[test]
fn migrates_an_empty_file_and_a_fresh_path() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let mut store = Store::open(&empty).unwrap();
    store.insert_run(&sample(5)).unwrap();
    drop(store);
    assert_eq!(user_version(&empty), SCHEMA_VERSION);

    let fresh = dir.path().join("a/b/c/loadgate.db");
    let store = Store::open(&fresh).unwrap();
    assert!(fresh.exists());
    assert_eq!(store.last_run_id().unwrap(), None);
}

#[test]
fn refuses_a_store_from_a_newer_loadgate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.db");
    Store::open(&path).unwrap();
    let newer = SCHEMA_VERSION + 98;
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", newer)
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    match &err {
        StoreError::NewerSchema {
            path: p,
            found,
            supported,
        } => {
            assert_eq!(p, &path);
            assert_eq!((*found, *supported), (newer, SCHEMA_VERSION));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains(&format!("schema version {newer}")), "{msg}");
    assert!(msg.contains(&format!("up to {SCHEMA_VERSION}")), "{msg}");
    // Refusing did not touch it.
    assert_eq!(user_version(&path), newer);
}

#[test]
fn refuses_a_file_that_is_not_a_sqlite_database_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    let content = "these are my notes, not a database\n".repeat(200);
    std::fs::write(&path, &content).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(&err, StoreError::NotADatabase { path: p } if p == &path),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("not a SQLite database"), "{msg}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
}

#[test]
fn refuses_another_programs_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(&err, StoreError::NotAStore { .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()));
    assert_eq!(user_version(&path), 0);
}

#[test]
fn a_begun_run_is_visible_until_finished() {
    let mut store = Store::open_in_memory().unwrap();
    let mut rec = sample(6);
    let id = store.begin_run(&rec).unwrap();
    assert_eq!(store.last_run_id().unwrap(), Some(id));
    let got = store.get_run(id).unwrap();
    assert_eq!(got.status.0, RunStatus::Running);
    assert_eq!((got.ended_at_ms, got.summary.as_ref()), (None, None));
    assert!(got.histograms.is_empty() && got.intervals.is_empty());
    assert_eq!(got.workload, rec.workload);
    assert_eq!(got.settings, rec.settings);
    let item = &all(&store)[0];
    assert_eq!(
        (item.status, item.duration_ms, item.tps),
        (RunStatus::Running, None, None)
    );

    // Finishing twice replaces, it does not append.
    rec.status = RunStatusField(RunStatus::Partial);
    store.finish_run(id, &rec).unwrap();
    rec.intervals.truncate(5);
    rec.histograms.truncate(1);
    store.finish_run(id, &rec).unwrap();
    assert_eq!(store.get_run(id).unwrap(), with_id(rec.clone(), id));
    let item = &all(&store)[0];
    assert_eq!(item.status, RunStatus::Partial);
    assert_eq!(item.duration_ms, Some(70_000));
    assert_eq!(item.tps, rec.summary.as_ref().map(|s| s.tps));
    assert_eq!(
        item.p99_corrected_ms,
        rec.summary.as_ref().map(|s| s.latency_corrected.p99)
    );
}

#[test]
fn unknown_runs_are_reported_as_not_found() {
    let mut store = Store::open_in_memory().unwrap();
    assert!(matches!(
        store.get_run(42),
        Err(StoreError::RunNotFound(42))
    ));
    assert!(matches!(
        store.finish_run(42, &sample(1)),
        Err(StoreError::RunNotFound(42))
    ));
    assert!(matches!(
        store.delete_run(42),
        Err(StoreError::RunNotFound(42))
    ));
    assert_eq!(store.last_run_id().unwrap(), None);
    assert!(all(&store).is_empty());
}

#[test]
fn delete_removes_histograms_and_intervals_and_ids_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("delete.db");
    let mut store = Store::open(&path).unwrap();
    let a = store.insert_run(&sample(1)).unwrap();
    let b = store.insert_run(&sample(2)).unwrap();
    store.delete_run(b).unwrap();
    assert!(matches!(store.get_run(b), Err(StoreError::RunNotFound(_))));
    let count = |table: &str| -> i64 {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.query_row(
            &format!("SELECT count(*) FROM {table} WHERE run_id = ?1"),
            [b],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!((count("run_histograms"), count("run_intervals")), (0, 0));
    assert_eq!(store.last_run_id().unwrap(), Some(a));
    let c = store.insert_run(&sample(3)).unwrap();
    assert!(c > b, "run id {b} was reused");
    assert_eq!(store.get_run(a).unwrap(), with_id(sample(1), a));
}

#[test]
fn lists_newest_first_with_filters_and_a_limit() {
    let mut store = Store::open_in_memory().unwrap();
    let mut ids = BTreeMap::new();
    // Inserted out of time order, to see that the listing sorts by start time.
    for (seed, workload, status, set) in [
        (3, "point_select", RunStatus::Complete, Some("s1")),
        (1, "point_select", RunStatus::Failed, None),
        (4, "oltp_read_write", RunStatus::Complete, Some("s1")),
        (2, "oltp_read_write", RunStatus::Partial, Some("s2")),
        (5, "point_select", RunStatus::Complete, Some("s2")),
    ] {
        let mut rec = sample(seed);
        rec.workload = workload.into();
        rec.status = RunStatusField(status);
        rec.set_id = set.map(String::from);
        ids.insert(seed, store.insert_run(&rec).unwrap());
    }
    let seeds = |filter: RunFilter| -> Vec<u64> {
        store
            .list_runs(&filter)
            .unwrap()
            .iter()
            .map(|item| *ids.iter().find(|(_, id)| **id == item.id).unwrap().0)
            .collect()
    };
    assert_eq!(seeds(RunFilter::default()), [5, 4, 3, 2, 1]);
    assert_eq!(
        seeds(RunFilter {
            workload: Some("point_select".into()),
            ..RunFilter::default()
        }),
        [5, 3, 1]
    );
    assert_eq!(
        seeds(RunFilter {
            status: Some(RunStatus::Complete),
            ..RunFilter::default()
        }),
        [5, 4, 3]
    );
    assert_eq!(
        seeds(RunFilter {
            set_id: Some("s1".into()),
            ..RunFilter::default()
        }),
        [4, 3]
    );
    assert_eq!(
        seeds(RunFilter {
            workload: Some("point_select".into()),
            status: Some(RunStatus::Complete),
            set_id: Some("s2".into()),
            limit: None,
        }),
        [5]
    );
    assert_eq!(
        seeds(RunFilter {
            limit: Some(2),
            ..RunFilter::default()
        }),
        [5, 4]
    );
    assert_eq!(
        seeds(RunFilter {
            workload: Some("nothing".into()),
            ..RunFilter::default()
        }),
        Vec::<u64>::new()
    );

    let item = &store
        .list_runs(&RunFilter {
            limit: Some(1),
            ..RunFilter::default()
        })
        .unwrap()[0];
    let rec = sample(5);
    let s = rec.summary.as_ref().unwrap();
    assert_eq!(
        item,
        &RunListItem {
            id: ids[&5],
            started_at_ms: rec.started_at_ms,
            duration_ms: Some(70_000),
            status: RunStatus::Complete,
            workload: "point_select".into(),
            target: rec.target.clone(),
            server_version: rec.server.version.clone(),
            tps: Some(s.tps),
            rate_unit: "tps".into(),
            p99_corrected_ms: Some(s.latency_corrected.p99),
            set_id: Some("s2".into()),
        }
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn passwords_never_reach_the_file() {
    const SECRET: &str = "Sup3rS3cretPa55";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.db");
    let mut store = Store::open(&path).unwrap();
    let mut rec = sample(8);
    rec.target = format!("mysql://bench:{SECRET}@db.internal:3306/sbtest?password={SECRET}");
    rec.settings = RunSettings::Other(serde_json::json!({
        "target": rec.target,
        "password": SECRET,
        "proxy": {"url": format!("mysql://admin:{SECRET}@proxy:6032/"), "port": 6033},
    }));
    rec.status_reason = Some(format!(
        "lost mysql://bench:{SECRET}@db.internal:3306/sbtest"
    ));

    let begun = store.begin_run(&rec).unwrap();
    store.finish_run(begun, &rec).unwrap();
    let inserted = store.insert_run(&rec).unwrap();

    for id in [begun, inserted] {
        let got = store.get_run(id).unwrap();
        assert_eq!(got.target, "mysql://bench@db.internal:3306/sbtest");
        assert_eq!(
            got.settings.to_json(),
            serde_json::json!({
                "target": "mysql://bench@db.internal:3306/sbtest",
                "proxy": {"url": "mysql://admin@proxy:6032/", "port": 6033},
            })
        );
        assert_eq!(
            got.status_reason.as_deref(),
            Some("lost mysql://bench@db.internal:3306/sbtest")
        );
    }
    assert!(all(&store)
        .iter()
        .all(|i| i.target == "mysql://bench@db.internal:3306/sbtest"));

    // While open, most of the data is in the WAL; after closing it is checkpointed.
    let wal = dir.path().join("secrets.db-wal");
    assert!(wal.exists());
    for file in [&path, &wal] {
        let bytes = std::fs::read(file).unwrap();
        assert!(!contains(&bytes, SECRET.as_bytes()), "{}", file.display());
    }
    drop(store);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let file = entry.unwrap().path();
        let bytes = std::fs::read(&file).unwrap();
        assert!(!contains(&bytes, SECRET.as_bytes()), "{}", file.display());
    }
}

#[test]
fn concurrent_writer_processes_all_succeed() {
    const WRITERS: u64 = 3;
    let dir = tempfile::tempdir().unwrap();
    // A fresh path: the writers also race to create and migrate the file.
    let path = dir.path().join("shared/loadgate.db");
    let go = dir.path().join("go");
    let children: Vec<_> = (0..WRITERS)
        .map(|w| {
            child(
                "writer",
                &format!("{}|{w}|{}", path.display(), go.display()),
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    // Start them together, so that they race to create the file as well as to write.
    std::fs::write(&go, b"").unwrap();
    for c in children {
        assert_success(&c.wait_with_output().unwrap());
    }

    let store = Store::open(&path).unwrap();
    let runs = all(&store);
    assert_eq!(runs.len(), WRITERS as usize * RUNS_PER_WRITER);
    let ids: HashSet<i64> = runs.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), runs.len(), "duplicate run ids");
    for w in 0..WRITERS {
        let filter = RunFilter {
            workload: Some(format!("writer-{w}")),
            ..RunFilter::default()
        };
        let mine = store.list_runs(&filter).unwrap();
        assert_eq!(mine.len(), RUNS_PER_WRITER);
        assert!(mine.iter().all(|r| r.status == RunStatus::Complete));
        // Every run is whole: check the first and the last of each writer.
        for item in [&mine[0], &mine[RUNS_PER_WRITER - 1]] {
            let got = store.get_run(item.id).unwrap();
            let i = (got.started_at_ms - 1_700_000_000_000) / 1000 - w as i64 * 1000;
            let mut want = sample(w * 1000 + i as u64);
            want.workload = format!("writer-{w}");
            assert_eq!(got, with_id(want, item.id));
        }
    }
    assert_eq!(user_version(&path), SCHEMA_VERSION);
}

#[test]
fn default_path_is_the_environment_variable_or_found() {
    let d = tempfile::tempdir().unwrap();
    let deep = d.path().join("project").join("src");
    std::fs::create_dir_all(&deep).unwrap();
    let data = d.path().join("data");
    let out = child("default-path", "/somewhere/else.db")
        .env("LOADGATE_STORE", "/somewhere/else.db")
        .current_dir(&deep)
        .output()
        .unwrap();
    assert_success(&out);
    // No `baselines/` upward: the per-user data directory.
    let user = data.join("loadgate").join("loadgate.db");
    let out = child("default-path", user.to_str().unwrap())
        .env_remove("LOADGATE_STORE")
        .env("XDG_DATA_HOME", &data)
        .current_dir(&deep)
        .output()
        .unwrap();
    assert_success(&out);
    // The nearest `baselines/` upward, even with an empty LOADGATE_STORE.
    std::fs::create_dir(d.path().join("project").join("baselines")).unwrap();
    let found = d
        .path()
        .join("project")
        .join("baselines")
        .join("loadgate.db");
    let out = child("default-path", found.to_str().unwrap())
        .env("LOADGATE_STORE", "")
        .env("XDG_DATA_HOME", &data)
        .current_dir(&deep)
        .output()
        .unwrap();
    assert_success(&out);
}

#[test]
fn errors_name_the_file_and_the_step() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the store's parent directory should be.
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"x").unwrap();
    let err = Store::open(&blocker.join("loadgate.db")).unwrap_err();
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("cannot create the directory"), "{msg}");
    assert!(msg.contains(&blocker.display().to_string()), "{msg}");

    // A directory where the file should be.
    let err = Store::open(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");

    assert_eq!(
        StoreError::RunNotFound(7).to_string(),
        "there is no run 7 in the run store"
    );
}
