//! Index before/after: will these indexes make the reads faster, and what do they cost the
//! writes? Measured, with the evidence, before production.
//!
//! One run of `loadgate index`:
//!
//! 1. setup: create and fill the workload's tables (owned, marked like `prepare` does), `ANALYZE`,
//!    snapshot `SHOW CREATE TABLE`;
//! 2. the *before* phase ([`measure_phase`]): the read probes under the concurrent write mix, then
//!    the write mix alone (its throughput, latency and InnoDB write counters are measured without
//!    the reads, whose load changes with the index); stored as a run;
//! 3. the change ([`apply_indexes`]): each `ADD INDEX` with `ALGORITHM=INPLACE, LOCK=NONE` where
//!    the server allows it (else a plain `ALTER`, said so), timed, while the write mix keeps
//!    running (so "online" is shown, not assumed);
//! 4. `EXPLAIN FORMAT=JSON` of every probe ([`explain`]), checked against the index, access
//!    type and rows the workload expects, stored as evidence;
//! 5. the *after* phase, stored as a run linked to the before run (`index_after`);
//! 6. the rollback ([`rollback`]): drop the indexes unless `--keep`, and compare `SHOW CREATE
//!    TABLE` with the snapshot;
//! 7. the verdict against the acceptance bars ([`report`]).

pub mod explain;
pub mod load;
pub mod spec;
pub mod verdict;

use crate::bulk::gen::{self, RowGen};
use crate::engine::summary::latency_stats;
use crate::prepare::{list_tables, OWNER_MARK};
use crate::record::{ErrorCount, LatencyStats};
use crate::target::{Target, TargetError};
use crate::util::quote_ident as q;
use crate::workload::WorkloadError;
use hdrhistogram::Histogram;
use load::{run_load, LoadSpec};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use spec::{Acceptance, IndexSpec};
use std::cell::Cell as StdCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Why `loadgate index` could not run or did not pass.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{0}")]
    Usage(String),

    #[error(transparent)]
    Workload(#[from] WorkloadError),

    #[error(transparent)]
    Target(#[from] TargetError),

    #[error("{0}")]
    Refused(String),

    /// The change did not meet the acceptance bars (or a probe does not use its index).
    #[error("verdict: FAIL (runs {before} before, {after} after): {}", .reasons.join("; "))]
    Verdict {
        before: i64,
        after: i64,
        reasons: Vec<String>,
    },

    /// The rollback did not leave the schema as it was.
    #[error("rollback: the schema of `{table}` differs from before the change:\nbefore: {before}\nafter:  {after}")]
    NotRestored {
        table: String,
        before: String,
        after: String,
    },

    #[error("interrupted")]
    Interrupted,
}

impl crate::error::ExitCode for IndexError {
    fn exit_code(&self) -> u8 {
        use crate::error::exit;
        match self {
            IndexError::Usage(_) | IndexError::Workload(_) => exit::USAGE,
            IndexError::Target(e) => e.exit_code(),
            IndexError::Refused(_) => exit::REFUSED,
            IndexError::Verdict { .. } => exit::REGRESSION,
            IndexError::NotRestored { .. } => exit::INCOMPLETE,
            IndexError::Interrupted => exit::INTERRUPTED,
        }
    }
}

/// The command line's say; `None` is "not given".
#[derive(Debug, Clone, Default)]
pub struct IndexFlags {
    pub acceptance: Option<String>,
    pub duration: Option<String>,
    pub warmup: Option<String>,
    pub settle: Option<String>,
    pub read_workers: Option<u32>,
    pub write_workers: Option<u32>,
    pub seed: Option<u64>,
    pub database: Option<String>,
    pub connect_timeout: Option<String>,
    pub keep: bool,
    pub reuse: bool,
    pub force: bool,
}

/// The resolved settings of `loadgate index`: flags over the file over defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexSettings {
    pub workload: String,
    pub database: String,
    /// Each measured part of a phase, in seconds.
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Unmeasured write mix after setup, so both phases start from steady-state pages.
    pub settle_s: f64,
    pub read_workers: u32,
    pub write_workers: u32,
    pub seed: u64,
    pub acceptance: Acceptance,
    /// Keep the indexes (no rollback).
    pub keep: bool,
    /// Use the tables as they are instead of recreating them.
    pub reuse: bool,
    pub force: bool,
    pub connect_timeout_s: f64,
    /// The workload's integer variables (table sizes...).
    pub vars: BTreeMap<String, i64>,
}

impl IndexSettings {
    pub fn resolve(spec: &IndexSpec, f: &IndexFlags) -> Result<IndexSettings, IndexError> {
        const MAX_WORKERS: u32 = 1_000;
        const MAX_DURATION_S: f64 = 30.0 * 86_400.0;
        let usage = IndexError::Usage;
        let file_str = |k: &str| -> Option<String> {
            spec.settings.get(k).map(|v| match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        let dur = |flag: &Option<String>, k: &str, default: f64| -> Result<f64, IndexError> {
            match flag.clone().or(file_str(k)) {
                None => Ok(default),
                Some(s) => {
                    crate::settings::parse_duration(&s).map_err(|m| usage(format!("{k}: {m}")))
                }
            }
        };
        let int = |flag: Option<u64>, k: &str, default: u64| -> Result<u64, IndexError> {
            match (flag, spec.settings.get(k)) {
                (Some(v), _) => Ok(v),
                (None, None) => Ok(default),
                (None, Some(toml::Value::Integer(i))) if *i >= 0 => Ok(*i as u64),
                (None, Some(v)) => Err(usage(format!(
                    "workload setting `{k}` must be a non-negative integer, got {v}"
                ))),
            }
        };
        let dur = |flag: &Option<String>, k: &str, default: f64| -> Result<f64, IndexError> {
            let v = dur(flag, k, default)?;
            if v > MAX_DURATION_S {
                return Err(usage(format!(
                    "{k} must be at most 30 days ({MAX_DURATION_S} s), got {v:e} s"
                )));
            }
            Ok(v)
        };
        let duration_s = dur(&f.duration, "duration", 10.0)?;
        if duration_s <= 0.0 {
            return Err(usage("--duration must be more than 0".into()));
        }
        let mut acceptance = spec.acceptance;
        if let Some(a) = &f.acceptance {
            for part in a.split(',').filter(|p| !p.trim().is_empty()) {
                let (k, v) = part.split_once('=').ok_or_else(|| {
                    usage(format!(
                        "--acceptance `{part}`: expected reads=50%,writes=10%"
                    ))
                })?;
                let p = spec::parse_pct(v).map_err(|m| usage(format!("--acceptance {k}: {m}")))?;
                match k.trim() {
                    "reads" => acceptance.reads_faster_pct = p,
                    "writes" => acceptance.writes_slower_pct = p,
                    other => {
                        return Err(usage(format!(
                            "--acceptance: unknown bar `{other}` (reads, writes)"
                        )))
                    }
                }
            }
        }
        let database = f
            .database
            .clone()
            .or(file_str("database"))
            .unwrap_or_else(|| "loadgate_index".into());
        crate::target::check_identifier(&database)
            .map_err(|w| usage(format!("database name {w}")))?;
        let workers = |flag: Option<u32>, k: &str| -> Result<u32, IndexError> {
            let n = int(flag.map(u64::from), k, 2)?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        };
        let read_workers = workers(f.read_workers, "read_workers")?;
        let write_workers = workers(f.write_workers, "write_workers")?;
        if read_workers == 0 || read_workers > MAX_WORKERS {
            return Err(usage(format!(
                "--read-workers / read_workers must be 1 to {MAX_WORKERS}, got {read_workers}"
            )));
        }
        if write_workers > MAX_WORKERS {
            return Err(usage(format!(
                "--write-workers / write_workers must be 0 to {MAX_WORKERS}, got {write_workers}"
            )));
        }
        Ok(IndexSettings {
            workload: spec.name.clone(),
            database,
            duration_s,
            warmup_s: dur(&f.warmup, "warmup", 2.0)?,
            settle_s: dur(&f.settle, "settle", 10.0)?,
            read_workers,
            write_workers,
            seed: int(f.seed, "seed", 7)?,
            acceptance,
            keep: f.keep,
            reuse: f.reuse,
            force: f.force,
            connect_timeout_s: match dur(&f.connect_timeout, "connect_timeout", 10.0)? {
                v if v > 3_600.0 => {
                    return Err(usage(format!(
                        "connect_timeout must be at most 1 h, got {v} s"
                    )))
                }
                v => v,
            },
            vars: spec.vars.clone(),
        })
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.connect_timeout_s)
    }
}

async fn exec(conn: &mut Conn, t: &Target, sql: &str) -> Result<(), TargetError> {
    conn.query_drop(sql)
        .await
        .map_err(|e| t.classify(e, Some(sql)))
}

/// `SHOW CREATE TABLE` without the `AUTO_INCREMENT=N` counter (the write mix moves it).
pub fn normalize_create(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(" AUTO_INCREMENT=") {
        out.push_str(&rest[..i]);
        let after = &rest[i + " AUTO_INCREMENT=".len()..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// `SHOW CREATE TABLE` of each table, normalized.
pub async fn schema_snapshot(
    conn: &mut Conn,
    t: &Target,
    db: &str,
    tables: &[String],
) -> Result<BTreeMap<String, String>, TargetError> {
    let mut out = BTreeMap::new();
    for name in tables {
        let sql = format!("SHOW CREATE TABLE {}.{}", q(db), q(name));
        let row: Option<(String, String)> = conn
            .query_first(sql.as_str())
            .await
            .map_err(|e| t.classify(e, Some(&sql)))?;
        out.insert(
            name.clone(),
            normalize_create(&row.map(|r| r.1).unwrap_or_default()),
        );
    }
    Ok(out)
}

/// What setup did.
#[derive(Debug, Clone, Serialize)]
pub struct Setup {
    pub tables: Vec<(String, u64)>,
    pub seconds: f64,
    pub reused: bool,
}

/// Create (or reuse) and fill the tables, after the ownership checks.
pub async fn setup(
    t: &Target,
    s: &IndexSettings,
    spec: &IndexSpec,
    quiet: bool,
) -> Result<Setup, IndexError> {
    let started = Instant::now();
    let db = &s.database;
    let mut conn = t.connect(t.opts(None, 16), s.timeout()).await?;
    exec(
        &mut conn,
        t,
        &format!("CREATE DATABASE IF NOT EXISTS {}", q(db)),
    )
    .await?;
    let existing = list_tables(&mut conn, t, db).await?;
    let ours: Vec<&str> = spec.tables.iter().map(|t| t.name.as_str()).collect();
    for e in &existing {
        let mine = ours.contains(&e.name.as_str());
        match (&e.owner, mine) {
            (None, true) => {
                return Err(IndexError::Refused(format!(
                    "`{db}`.`{}` exists and was not created by loadgate; the index workload will not touch it. Use another database (--database).",
                    e.name
                )))
            }
            (Some(w), true) if w != &spec.name => {
                return Err(IndexError::Refused(format!(
                    "`{db}`.`{}` belongs to loadgate workload `{w}`; use another database (--database).",
                    e.name
                )))
            }
            (None, false) if !s.force => {
                return Err(IndexError::Refused(format!(
                    "`{db}` holds table `{}` that loadgate does not own; refusing to run there. Use an empty database (--database NAME) or pass --force (it is never touched).",
                    e.name
                )))
            }
            _ => {}
        }
    }
    let all_there = spec
        .tables
        .iter()
        .all(|st| existing.iter().any(|e| e.name == st.name));
    let mut out = Setup {
        tables: Vec::new(),
        seconds: 0.0,
        reused: false,
    };
    if s.reuse && all_there {
        for st in &spec.tables {
            let sql = format!("SELECT COUNT(*) FROM {}.{}", q(db), q(&st.name));
            let n: Option<u64> = conn
                .query_first(sql.as_str())
                .await
                .map_err(|e| t.classify(e, Some(&sql)))?;
            out.tables.push((st.name.clone(), n.unwrap_or(0)));
        }
        out.reused = true;
    } else {
        if s.reuse && !quiet {
            eprintln!("--reuse: the tables are not all there; creating them");
        }
        for (ti, st) in spec.tables.iter().enumerate() {
            let table = format!("{}.{}", q(db), q(&st.name));
            if existing.iter().any(|e| e.name == st.name) {
                exec(&mut conn, t, &format!("DROP TABLE {table}")).await?;
            }
            if !quiet {
                eprintln!("Creating `{}` with {} rows...", st.name, st.rows);
            }
            exec(&mut conn, t, &st.create.replace("{table}", &table)).await?;
            exec(
                &mut conn,
                t,
                &format!(
                    "ALTER TABLE {table} COMMENT = '{OWNER_MARK} workload={}'",
                    spec.name
                ),
            )
            .await?;
            let g = RowGen {
                columns: st.columns.clone(),
                seed: s.seed ^ ((ti as u64 + 1) << 40),
                revision: 0,
                changed_pct: 0.0,
                bad: Vec::new(),
            };
            let cols = st
                .columns
                .iter()
                .map(|c| q(&c.name))
                .collect::<Vec<_>>()
                .join(", ");
            let head = format!("INSERT INTO {table} ({cols}) VALUES ");
            let mut n = 1;
            let mut sql = Vec::with_capacity(1 << 20);
            while n <= st.rows {
                sql.clear();
                sql.extend_from_slice(head.as_bytes());
                let last = (n + 999).min(st.rows);
                for i in n..=last {
                    if i > n {
                        sql.push(b',');
                    }
                    gen::push_tuple(&mut sql, &g.row(i));
                }
                conn.query_drop(&sql)
                    .await
                    .map_err(|e| t.classify(e, Some(&format!("INSERT INTO {table} ..."))))?;
                n = last + 1;
            }
            out.tables.push((st.name.clone(), st.rows));
        }
    }
    for st in &spec.tables {
        let sql = format!("ANALYZE TABLE {}.{}", q(db), q(&st.name));
        let _: Vec<mysql_async::Row> = conn
            .query(sql.as_str())
            .await
            .map_err(|e| t.classify(e, Some(&sql)))?;
    }
    // The change must be the workload's own: an index of the same name already there (kept from
    // an earlier run?) would make "before" an "after".
    for ix in &spec.indexes {
        let sql = "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = ?";
        let n: Option<u64> = conn
            .exec_first(sql, (db.as_str(), ix.table.as_str(), ix.name.as_str()))
            .await
            .map_err(|e| t.classify(e, Some(sql)))?;
        if n.unwrap_or(0) > 0 {
            return Err(IndexError::Refused(format!(
                "index `{}` already exists on `{db}`.`{}` (kept by an earlier `loadgate index --keep`?); the before phase would not be \"before\". Drop it, or run without --reuse to recreate the tables.",
                ix.name, ix.table
            )));
        }
    }
    let _ = conn.disconnect().await;
    out.seconds = started.elapsed().as_secs_f64();
    Ok(out)
}

/// One probe's latency in a phase.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeStats {
    pub name: String,
    pub count: u64,
    pub per_s: f64,
    pub latency: LatencyStats,
}

/// The write mix in a phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WriteStats {
    pub count: u64,
    pub per_s: f64,
    pub latency: LatencyStats,
    pub seconds: f64,
}

/// InnoDB's cumulative write counters over the write-alone window (warm-up included), per row
/// written.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WriteAmplification {
    /// Rows changed by the write mix (affected rows), warm-up included.
    pub rows_written: u64,
    /// `Innodb_data_written` delta: bytes written to data files (pages, doublewrite).
    pub data_written: u64,
    /// `Innodb_os_log_written` delta: bytes written to the redo log files. With a commit per
    /// statement this counts the partial log block rewritten at every commit, so it tracks
    /// commits more than index maintenance.
    pub redo_written: u64,
    /// Redo generated: the log sequence number's advance (0 if unreadable).
    pub redo_generated: u64,
    pub redo_generated_per_row: f64,
    pub data_per_row: f64,
    pub redo_per_row: f64,
    /// The tables' dirty pages were flushed (`FLUSH TABLES ... FOR EXPORT`) before and after
    /// the window; without it `data_written` misses pages flushed later.
    pub pages_flushed: bool,
}

/// Write the workload tables' dirty pages to disk (`FLUSH TABLES ... FOR EXPORT`, then
/// `UNLOCK TABLES`). False if the server refused (privileges, engine).
async fn flush_tables(conn: &mut Conn, spec: &IndexSpec) -> bool {
    let names = spec
        .tables
        .iter()
        .map(|t| q(&t.name))
        .collect::<Vec<_>>()
        .join(", ");
    let ok = conn
        .query_drop(format!("FLUSH TABLES {names} FOR EXPORT"))
        .await
        .is_ok();
    let _ = conn.query_drop("UNLOCK TABLES").await;
    ok
}

/// What one phase measured.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: String,
    /// The probes, measured under the concurrent write mix.
    pub probes: Vec<ProbeStats>,
    /// The write mix while the probes ran.
    pub writes_under_reads: WriteStats,
    /// The write mix alone: the numbers the write verdict uses.
    pub writes_alone: WriteStats,
    pub write_types: Vec<(String, WriteStats)>,
    pub amplification: WriteAmplification,
    pub errors: Vec<ErrorCount>,
    #[serde(skip)]
    pub probe_hists: Vec<Histogram<u64>>,
    #[serde(skip)]
    pub write_hists: Vec<Histogram<u64>>,
}

fn merged(hs: &[Histogram<u64>]) -> Histogram<u64> {
    let mut all = crate::engine::recorder::new_histogram();
    for h in hs {
        let _ = all.add(h);
    }
    all
}

fn write_stats(h: &Histogram<u64>, seconds: f64) -> WriteStats {
    WriteStats {
        count: h.len(),
        per_s: h.len() as f64 / seconds.max(1e-9),
        latency: latency_stats(h),
        seconds,
    }
}

/// `(Innodb_data_written, Innodb_os_log_written, redo LSN)`; the LSN is MariaDB's
/// `Innodb_lsn_current` or MySQL's `log_lsn_current` metric, 0 where neither is readable.
async fn innodb_counters(conn: &mut Conn, t: &Target) -> Result<(u64, u64, u64), TargetError> {
    let sql = "SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_data_written', 'Innodb_os_log_written', 'Innodb_lsn_current')";
    let rows: Vec<(String, String)> = conn
        .query(sql)
        .await
        .map_err(|e| t.classify(e, Some(sql)))?;
    let get = |n: &str| {
        rows.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0)
    };
    let mut lsn = get("Innodb_lsn_current");
    if lsn == 0 {
        lsn = conn
            .query_first::<u64, _>(
                "SELECT COUNT FROM information_schema.INNODB_METRICS WHERE NAME = 'log_lsn_current'",
            )
            .await
            .ok()
            .flatten()
            .unwrap_or(0);
    }
    Ok((
        get("Innodb_data_written"),
        get("Innodb_os_log_written"),
        lsn,
    ))
}

/// InnoDB's purge backlog (history list length), if the server says.
async fn history_length(conn: &mut Conn) -> Option<u64> {
    let r: Option<(String, String)> = conn
        .query_first("SHOW GLOBAL STATUS LIKE 'Innodb_history_list_length'")
        .await
        .ok()
        .flatten();
    if let Some(v) = r.and_then(|(_, v)| v.parse().ok()) {
        return Some(v);
    }
    conn.query_first(
        "SELECT COUNT FROM information_schema.INNODB_METRICS WHERE NAME = 'trx_rseg_history_len'",
    )
    .await
    .ok()
    .flatten()
}

/// Wait (at most 60 s) until InnoDB has purged the undo of earlier writes, so that purge work
/// left by one part of the run is not billed to the next. It matters: MariaDB's purge also
/// visits every freshly loaded row (to reset its DB_TRX_ID), and slow probes hold read views
/// that delay purge; either would bias "before" against "after". The history list counts
/// transactions, not rows, so the wait is for (nearly) zero.
async fn quiesce(conn: &mut Conn) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(n) = history_length(conn).await {
        if n <= 1 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One phase: the probes under the write mix, then the write mix alone with InnoDB's counters.
pub async fn measure_phase(
    t: &Target,
    s: &IndexSettings,
    spec: &IndexSpec,
    name: &str,
    quiet: bool,
) -> Result<Phase, IndexError> {
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let timeout = s.timeout();
            let warmup = Duration::from_secs_f64(s.warmup_s);
            let duration = Duration::from_secs_f64(s.duration_s);
            if !quiet {
                eprintln!(
                    "{name}: {} probe worker(s) under {} write worker(s), {:.0} s (+{:.0} s warm-up)...",
                    s.read_workers, s.write_workers, s.duration_s, s.warmup_s
                );
            }
            {
                let mut admin = t.connect(t.opts(None, 4), timeout).await?;
                quiesce(&mut admin).await;
                let _ = admin.disconnect().await;
            }
            let mixed = run_load(
                t,
                &s.database,
                spec,
                LoadSpec {
                    read_workers: s.read_workers,
                    write_workers: s.write_workers,
                    warmup,
                    duration: Some(duration),
                    seed: s.seed,
                },
                Rc::new(StdCell::new(false)),
                timeout,
            )
            .await?;
            let mut alone = None;
            let mut amp = WriteAmplification::default();
            if !spec.writes.is_empty() && s.write_workers > 0 {
                if !quiet {
                    eprintln!(
                        "{name}: the write mix alone, {} worker(s), {:.0} s...",
                        s.write_workers, s.duration_s
                    );
                }
                // InnoDB writes data pages lazily; flush the tables' dirty pages before and after
                // the window so that the pages this window dirtied are counted in it.
                let mut admin = t.connect(t.opts(Some(&s.database), 4), timeout).await?;
                quiesce(&mut admin).await;
                let flushed = flush_tables(&mut admin, spec).await;
                let (d0, l0, n0) = innodb_counters(&mut admin, t).await?;
                let out = run_load(
                    t,
                    &s.database,
                    spec,
                    LoadSpec {
                        read_workers: 0,
                        write_workers: s.write_workers,
                        warmup,
                        duration: Some(duration),
                        seed: s.seed ^ 0xa1,
                    },
                    Rc::new(StdCell::new(false)),
                    timeout,
                )
                .await?;
                let flushed = flushed && flush_tables(&mut admin, spec).await;
                let (d1, l1, n1) = innodb_counters(&mut admin, t).await?;
                let _ = admin.disconnect().await;
                let rows = out.rows_written_total.max(1) as f64;
                amp = WriteAmplification {
                    rows_written: out.rows_written_total,
                    data_written: d1.saturating_sub(d0),
                    redo_written: l1.saturating_sub(l0),
                    data_per_row: d1.saturating_sub(d0) as f64 / rows,
                    redo_per_row: l1.saturating_sub(l0) as f64 / rows,
                    redo_generated: n1.saturating_sub(n0),
                    redo_generated_per_row: n1.saturating_sub(n0) as f64 / rows,
                    pages_flushed: flushed,
                };
                alone = Some(out);
            }
            let seconds_mixed = mixed.measured_s;
            let mut errors: BTreeMap<u16, ErrorCount> = mixed.errors.clone();
            let (writes_alone, write_types, write_hists) = match &alone {
                Some(a) => {
                    for (c, e) in &a.errors {
                        errors
                            .entry(*c)
                            .and_modify(|x| x.count += e.count)
                            .or_insert_with(|| e.clone());
                    }
                    (
                        write_stats(&merged(&a.writes), a.measured_s),
                        spec.writes
                            .iter()
                            .zip(&a.writes)
                            .map(|(w, h)| (w.name.clone(), write_stats(h, a.measured_s)))
                            .collect(),
                        a.writes.clone(),
                    )
                }
                None => (WriteStats::default(), Vec::new(), Vec::new()),
            };
            Ok(Phase {
                name: name.to_string(),
                probes: spec
                    .probes
                    .iter()
                    .zip(&mixed.probes)
                    .map(|(p, h)| ProbeStats {
                        name: p.name.clone(),
                        count: h.len(),
                        per_s: h.len() as f64 / seconds_mixed.max(1e-9),
                        latency: latency_stats(h),
                    })
                    .collect(),
                writes_under_reads: write_stats(&merged(&mixed.writes), seconds_mixed),
                writes_alone,
                write_types,
                amplification: amp,
                errors: errors.into_values().collect(),
                probe_hists: mixed.probes,
                write_hists,
            })
        })
        .await
}

/// Run the write mix alone for `settle_s`, unmeasured: freshly loaded pages are packed, and the
/// first writes into them split pages and cost more redo and page writes than later ones; without
/// this the before phase would pay for it and the after phase would look cheaper than it is.
pub async fn settle(t: &Target, s: &IndexSettings, spec: &IndexSpec) -> Result<(), IndexError> {
    if s.settle_s <= 0.0 || spec.writes.is_empty() || s.write_workers == 0 {
        return Ok(());
    }
    let local = tokio::task::LocalSet::new();
    local
        .run_until(run_load(
            t,
            &s.database,
            spec,
            LoadSpec {
                read_workers: 0,
                write_workers: s.write_workers,
                warmup: Duration::ZERO,
                duration: Some(Duration::from_secs_f64(s.settle_s)),
                seed: s.seed ^ 0x5e7,
            },
            Rc::new(StdCell::new(false)),
            s.timeout(),
        ))
        .await?;
    Ok(())
}

/// One index change as applied.
#[derive(Debug, Clone, Serialize)]
pub struct Ddl {
    pub table: String,
    pub index: String,
    pub sql: String,
    pub seconds: f64,
    /// Applied with `ALGORITHM=INPLACE, LOCK=NONE`.
    pub online: bool,
    /// Why not online, when not.
    pub note: Option<String>,
}

/// The index changes, and the write mix that kept running while they were applied.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub ddl: Vec<Ddl>,
    pub seconds: f64,
    /// The write mix during the DDL (shows whether writes were blocked).
    pub writes_during: WriteStats,
}

/// Server errors that mean "this ALTER cannot run with that ALGORITHM/LOCK".
const NOT_ONLINE: &[u16] = &[1845, 1846];

async fn alter(
    conn: &mut Conn,
    t: &Target,
    base: &str,
) -> Result<(String, bool, Option<String>), TargetError> {
    let online = format!("{base}, ALGORITHM=INPLACE, LOCK=NONE");
    match conn.query_drop(online.as_str()).await {
        Ok(()) => Ok((online, true, None)),
        Err(mysql_async::Error::Server(e)) if NOT_ONLINE.contains(&e.code) => {
            exec(conn, t, base).await?;
            Ok((
                base.to_string(),
                false,
                Some(format!("server error {}: {}", e.code, e.message)),
            ))
        }
        Err(e) => Err(t.classify(e, Some(&online))),
    }
}

/// Add the indexes, one ALTER each, while the write mix runs; `ANALYZE` afterwards.
pub async fn apply_indexes(
    t: &Target,
    s: &IndexSettings,
    spec: &IndexSpec,
    quiet: bool,
) -> Result<Change, IndexError> {
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let stop = Rc::new(StdCell::new(false));
            let load = (!spec.writes.is_empty() && s.write_workers > 0).then(|| {
                let (t, s, spec, stop) = (t.clone(), s.clone(), spec.clone(), stop.clone());
                tokio::task::spawn_local(async move {
                    run_load(
                        &t,
                        &s.database,
                        &spec,
                        LoadSpec {
                            read_workers: 0,
                            write_workers: s.write_workers,
                            warmup: Duration::ZERO,
                            duration: None,
                            seed: s.seed ^ 0xdd1,
                        },
                        stop,
                        s.timeout(),
                    )
                    .await
                })
            });
            let started = Instant::now();
            let mut conn = t.connect(t.opts(Some(&s.database), 4), s.timeout()).await?;
            let mut ddl = Vec::new();
            let mut failure = None;
            for ix in &spec.indexes {
                if !quiet {
                    eprintln!("Adding index `{}` on `{}`...", ix.name, ix.table);
                }
                let base = format!(
                    "ALTER TABLE {} ADD INDEX {} ({})",
                    q(&ix.table),
                    q(&ix.name),
                    ix.columns
                );
                let t0 = Instant::now();
                match alter(&mut conn, t, &base).await {
                    Ok((sql, online, note)) => ddl.push(Ddl {
                        table: ix.table.clone(),
                        index: ix.name.clone(),
                        sql,
                        seconds: t0.elapsed().as_secs_f64(),
                        online,
                        note,
                    }),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            let seconds = started.elapsed().as_secs_f64();
            stop.set(true);
            let writes_during = match load {
                Some(h) => match h.await {
                    Ok(Ok(out)) => write_stats(&merged(&out.writes), out.measured_s),
                    _ => WriteStats::default(),
                },
                None => WriteStats::default(),
            };
            if let Some(e) = failure {
                // Leave nothing half-done: drop what was added.
                for d in &ddl {
                    let _ = conn
                        .query_drop(format!(
                            "ALTER TABLE {} DROP INDEX {}",
                            q(&d.table),
                            q(&d.index)
                        ))
                        .await;
                }
                return Err(e.into());
            }
            for st in &spec.tables {
                let sql = format!("ANALYZE TABLE {}", q(&st.name));
                let _: Vec<mysql_async::Row> = conn
                    .query(sql.as_str())
                    .await
                    .map_err(|e| t.classify(e, Some(&sql)))?;
            }
            let _ = conn.disconnect().await;
            Ok(Change {
                ddl,
                seconds,
                writes_during,
            })
        })
        .await
}

/// Table and index sizes from `information_schema.TABLES` (after `ANALYZE`) and, where
/// readable, per index from `mysql.innodb_index_stats`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sizes {
    /// `(table, DATA_LENGTH, INDEX_LENGTH)`.
    pub tables: Vec<(String, u64, u64)>,
    /// `(table, index, bytes)`.
    pub indexes: Vec<(String, String, u64)>,
}

pub async fn sizes(t: &Target, s: &IndexSettings, spec: &IndexSpec) -> Result<Sizes, IndexError> {
    let mut conn = t.connect(t.opts(None, 4), s.timeout()).await?;
    let mut out = Sizes::default();
    for st in &spec.tables {
        let sql = "SELECT DATA_LENGTH, INDEX_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?";
        let r: Option<(u64, u64)> = conn
            .exec_first(sql, (s.database.as_str(), st.name.as_str()))
            .await
            .map_err(|e| t.classify(e, Some(sql)))?;
        let (d, i) = r.unwrap_or((0, 0));
        out.tables.push((st.name.clone(), d, i));
    }
    let sql = "SELECT table_name, index_name, stat_value * @@innodb_page_size FROM mysql.innodb_index_stats WHERE database_name = ? AND stat_name = 'size' ORDER BY table_name, index_name";
    if let Ok(rows) = conn
        .exec::<(String, String, u64), _, _>(sql, (s.database.as_str(),))
        .await
    {
        out.indexes = rows;
    }
    let _ = conn.disconnect().await;
    Ok(out)
}

/// EXPLAIN every probe with the same drawn parameters (seeded), checked against `expect`.
pub async fn explain_all(
    t: &Target,
    s: &IndexSettings,
    spec: &IndexSpec,
) -> Result<Vec<explain::ProbeCheck>, IndexError> {
    let mut conn = t.connect(t.opts(Some(&s.database), 4), s.timeout()).await?;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(s.seed ^ 0xe7);
    let mut out = Vec::new();
    for p in &spec.probes {
        let params = load::draw(&p.params, &mut rng);
        out.push(explain::check_probe(&mut conn, t, p, &params).await?);
    }
    let _ = conn.disconnect().await;
    Ok(out)
}

/// What the rollback did.
#[derive(Debug, Clone, Serialize)]
pub struct Rollback {
    pub dropped: Vec<String>,
    pub seconds: f64,
    /// `SHOW CREATE TABLE` equals the snapshot taken before the change (AUTO_INCREMENT aside).
    pub schema_restored: bool,
}

/// Drop the indexes the change added, then compare the schema with `before`.
pub async fn rollback(
    t: &Target,
    s: &IndexSettings,
    spec: &IndexSpec,
    before: &BTreeMap<String, String>,
) -> Result<Rollback, IndexError> {
    let started = Instant::now();
    let mut conn = t.connect(t.opts(Some(&s.database), 4), s.timeout()).await?;
    let mut dropped = Vec::new();
    for ix in spec.indexes.iter().rev() {
        let base = format!("ALTER TABLE {} DROP INDEX {}", q(&ix.table), q(&ix.name));
        alter(&mut conn, t, &base).await?;
        dropped.push(format!("{}.{}", ix.table, ix.name));
    }
    let names: Vec<String> = spec.tables.iter().map(|t| t.name.clone()).collect();
    let after = schema_snapshot(&mut conn, t, &s.database, &names).await?;
    let _ = conn.disconnect().await;
    for (table, b) in before {
        if after.get(table) != Some(b) {
            return Err(IndexError::NotRestored {
                table: table.clone(),
                before: b.clone(),
                after: after.get(table).cloned().unwrap_or_default(),
            });
        }
    }
    Ok(Rollback {
        dropped,
        seconds: started.elapsed().as_secs_f64(),
        schema_restored: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{assert_module_error, exit};

    #[test]
    fn each_index_error_keeps_its_exit_code() {
        assert_module_error(IndexError::Usage("u".into()), exit::USAGE);
        let workload = WorkloadError::InvalidFile {
            file: "i.toml".into(),
            message: "m".into(),
        };
        assert_module_error(IndexError::Workload(workload), exit::USAGE);
        let bad_url = TargetError::BadUrl {
            url: "x".into(),
            why: "w".into(),
        };
        assert_module_error(IndexError::Target(bad_url), exit::USAGE);
        let timeout = TargetError::Timeout {
            host: "db".into(),
            port: 3306,
            secs: 1,
        };
        assert_module_error(IndexError::Target(timeout), exit::TARGET);
        assert_module_error(IndexError::Refused("r".into()), exit::REFUSED);
        let verdict = IndexError::Verdict {
            before: 1,
            after: 2,
            reasons: vec!["slower".into()],
        };
        assert_module_error(verdict, exit::REGRESSION);
        let not_restored = IndexError::NotRestored {
            table: "t".into(),
            before: "a".into(),
            after: "b".into(),
        };
        assert_module_error(not_restored, exit::INCOMPLETE);
        assert_module_error(IndexError::Interrupted, exit::INTERRUPTED);
    }

    #[test]
    fn normalize_drops_the_auto_increment_counter_only() {
        let s = "CREATE TABLE `t` (\n  `id` int NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=300017 DEFAULT CHARSET=utf8mb4";
        assert_eq!(
            normalize_create(s),
            "CREATE TABLE `t` (\n  `id` int NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        );
    }
}
