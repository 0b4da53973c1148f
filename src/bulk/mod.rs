//! Bulk sync: move N rows into a target table with insert-or-update semantics, by one of four
//! strategies, and prove afterwards that nothing was lost, duplicated or changed.
//!
//! - [`spec`]: the workload file (`kind = "bulk_sync"`): target table, natural key, columns.
//! - [`gen`]: seeded rows (a pure function of seed, row number and revision), their SQL and
//!   `LOAD DATA` encodings, and the checksum the server and the client both compute.
//! - [`sync`]: the sync itself: a pool of workers (one connection each, one tokio
//!   `current_thread` runtime), one transaction per batch, retries, bad-row isolation,
//!   verification.
//! - [`report`]: the text and Markdown output.
//!
//! Upsert counts come from the server, not from a client-side diff: `INSERT ... ON DUPLICATE KEY
//! UPDATE` reports `affected = inserted + 2 × updated` (a row whose values do not change is not
//! written and counts 0) and its info string `Records: N  Duplicates: D` gives `D = updated`
//! (MariaDB counts only rows that changed), so `inserted = affected − 2D` and
//! `unchanged = N − inserted − D`. A single-row statement has no info string; there
//! `affected` alone says which (1, 2 or 0).

pub mod gen;
pub mod spec;
pub mod sync;

use crate::target::TargetError;
use crate::workload::WorkloadError;
use serde::{Deserialize, Serialize};

pub use spec::BulkSpec;

/// How rows travel to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// One `INSERT ... ON DUPLICATE KEY UPDATE` per row (text protocol), `batch_size` of them per
    /// transaction.
    Row,
    /// Multi-row `INSERT ... VALUES (...),(...) ON DUPLICATE KEY UPDATE` (text protocol), one
    /// statement per batch unless it would exceed `max_allowed_packet`.
    Values,
    /// The same multi-row statement prepared once per size and executed with binary parameters.
    Prepared,
    /// `LOAD DATA LOCAL INFILE` streamed from memory: straight into the target when it was empty
    /// at the start, otherwise into a temporary staging table followed by `INSERT ... SELECT ...
    /// ON DUPLICATE KEY UPDATE`. The input is declared `CHARACTER SET binary` when every target
    /// text column is `utf8mb4` (the server then only checks the bytes), `utf8mb4` otherwise.
    LoadData,
}

impl Strategy {
    pub const ALL: [Strategy; 4] = [
        Strategy::Row,
        Strategy::Values,
        Strategy::Prepared,
        Strategy::LoadData,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Row => "row",
            Strategy::Values => "values",
            Strategy::Prepared => "prepared",
            Strategy::LoadData => "load-data",
        }
    }

    pub fn parse(s: &str) -> Option<Strategy> {
        Strategy::ALL
            .into_iter()
            .find(|x| x.name() == s || (s == "load_data" && *x == Strategy::LoadData))
    }
}

/// `all`, one strategy, or a comma-separated list of them (each at most once).
pub fn parse_strategies(s: &str) -> Result<Vec<Strategy>, String> {
    if s.trim() == "all" {
        return Ok(Strategy::ALL.to_vec());
    }
    let mut out = Vec::new();
    for name in s.split(',').map(str::trim) {
        let st = Strategy::parse(name).ok_or_else(|| {
            format!("strategy `{name}`: use row, values, prepared, load-data, a comma-separated list of them, or all")
        })?;
        if out.contains(&st) {
            return Err(format!(
                "strategy `{name}` is listed twice; use --repeats N to run each strategy N times"
            ));
        }
        out.push(st);
    }
    Ok(out)
}

/// The order of round `round` (0-based): `list` rotated left by `round` places.
pub fn round_order(list: &[Strategy], round: usize) -> Vec<Strategy> {
    let mut v = list.to_vec();
    if !v.is_empty() {
        let k = round % v.len();
        v.rotate_left(k);
    }
    v
}

/// What to do with a row the server refuses (too long for its column, wrong type...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BadRowPolicy {
    /// Report the row (key and server error) and fail the run; committed batches stay.
    Stop,
    /// Report the row, count it, leave it out, and go on.
    Skip,
}

impl BadRowPolicy {
    pub fn parse(s: &str) -> Option<BadRowPolicy> {
        match s {
            "stop" => Some(BadRowPolicy::Stop),
            "skip" => Some(BadRowPolicy::Skip),
            _ => None,
        }
    }
}

/// The resolved settings of one `loadgate bulk` invocation: flags over the workload file's
/// `[settings]` over built-in defaults. Stored with every run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkSettings {
    pub workload: String,
    /// Rows the generator makes (ignored with `--source`: the whole source table is synced).
    pub rows: u64,
    /// The strategies to run, in the order given (`all` is every one). With more than one
    /// strategy or more than one round, each sync starts from a freshly recreated target.
    pub strategies: Vec<Strategy>,
    /// Rounds: every strategy runs once per round; round r runs the list rotated by r places,
    /// so no strategy always comes first or last.
    pub repeats: u32,
    /// Rows per batch (one transaction); `None` = sized from `max_allowed_packet`.
    pub batch_size: Option<usize>,
    pub workers: u32,
    pub on_bad_row: BadRowPolicy,
    pub database: String,
    pub seed: u64,
    /// Rows chosen by revisions 1..=revision carry changed values (for re-syncs).
    pub revision: u32,
    pub changed_pct: f64,
    /// Rows made bad on purpose (values from `[[bad_values]]`).
    pub bad_rows: u64,
    /// Every Nth batch, kill the worker's own connection before COMMIT (tests the retry path).
    pub fault_every: u64,
    /// Drop and recreate the target table first (always, per strategy, for `all`).
    pub fresh: bool,
    /// Create the target beside tables loadgate does not own.
    pub force: bool,
    /// The source URL (redacted), when rows come from a table rather than the generator.
    pub source: Option<String>,
    pub source_table: String,
    pub connect_timeout_s: f64,
}

/// What the command line says; `None` means "not given".
#[derive(Debug, Clone, Default)]
pub struct BulkFlags {
    pub strategy: Option<Vec<Strategy>>,
    pub repeats: Option<u32>,
    pub rows: Option<u64>,
    pub batch_size: Option<usize>,
    pub workers: Option<u32>,
    pub on_bad_row: Option<BadRowPolicy>,
    pub database: Option<String>,
    pub seed: Option<u64>,
    pub revision: Option<u32>,
    pub changed_pct: Option<f64>,
    pub bad_rows: Option<u64>,
    pub fault_every: Option<u64>,
    pub fresh: bool,
    pub force: bool,
    pub source: Option<String>,
    pub source_table: Option<String>,
    pub connect_timeout: Option<String>,
}

/// The ranges of bulk's numbers, flag and workload setting alike (`docs/bulk.md`): checked
/// before any work, so that no value is truncated, wrapped or left to exhaust memory.
pub mod ranges {
    use std::ops::RangeInclusive;
    /// `--repeats` / `repeats`: rounds of every strategy.
    pub const REPEATS: RangeInclusive<i64> = 1..=100;
    /// `--rows` / `rows`: rows the generator makes.
    pub const ROWS: RangeInclusive<i64> = 1..=1_000_000_000;
    /// `--batch-size` / `batch_size`: rows per transaction (the file's 0 = sized from
    /// max_allowed_packet).
    pub const BATCH_SIZE: RangeInclusive<i64> = 1..=1_000_000;
    /// `--workers` / `workers`: connections in parallel.
    pub const WORKERS: RangeInclusive<i64> = 1..=256;
    /// `--revision`: each row's revision is found by walking the revisions up to it.
    pub const REVISION: RangeInclusive<i64> = 0..=1_000;
    /// `--seed` / `seed`.
    pub const SEED: RangeInclusive<i64> = 0..=i64::MAX;
}

/// `value` (a flag's, else the file's, else `default`) checked against `range`; the error
/// names the flag or the workload setting it came from.
fn int_in(
    key: &str,
    flag: Option<u64>,
    file: Option<i64>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, BulkError> {
    let (v, from) = match (flag, file) {
        (Some(f), _) => (
            i64::try_from(f).unwrap_or(i64::MAX),
            format!("--{}", key.replace('_', "-")),
        ),
        (None, Some(f)) => (f, format!("workload setting `{key}`")),
        (None, None) => (default, format!("default `{key}`")),
    };
    if range.contains(&v) {
        return Ok(v);
    }
    Err(BulkError::Usage(format!(
        "{from} must be {} to {}, got {}",
        range.start(),
        range.end(),
        flag.map_or(v.to_string(), |f| f.to_string())
    )))
}

impl BulkSettings {
    /// Flags over the file's `[settings]` over defaults, validated.
    pub fn resolve(spec: &BulkSpec, f: &BulkFlags) -> Result<BulkSettings, BulkError> {
        let file = |k: &str| spec.settings.get(k);
        let usage = |m: String| BulkError::Usage(m);
        let file_int = |k: &str| -> Result<Option<i64>, BulkError> {
            match file(k) {
                None => Ok(None),
                Some(toml::Value::Integer(i)) => Ok(Some(*i)),
                Some(v) => Err(usage(format!(
                    "workload setting `{k}` must be an integer, got {v}"
                ))),
            }
        };
        let file_str = |k: &str| -> Result<Option<String>, BulkError> {
            match file(k) {
                None => Ok(None),
                Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                Some(v) => Err(usage(format!(
                    "workload setting `{k}` must be a string, got {v}"
                ))),
            }
        };
        let strategies = match &f.strategy {
            Some(list) => list.clone(),
            None => parse_strategies(&file_str("strategy")?.unwrap_or_else(|| "values".into()))
                .map_err(usage)?,
        };
        use ranges::*;
        let repeats = int_in(
            "repeats",
            f.repeats.map(u64::from),
            file_int("repeats")?,
            1,
            REPEATS,
        )? as u32;
        let rows = int_in("rows", f.rows, file_int("rows")?, 100_000, ROWS)? as u64;
        // The file's 0 asks for the size from max_allowed_packet, as no value does.
        let file_batch = file_int("batch_size")?.filter(|b| *b != 0);
        let batch_size = match (f.batch_size, file_batch) {
            (None, None) => 0,
            (flag, file) => {
                int_in("batch_size", flag.map(|b| b as u64), file, 0, BATCH_SIZE)? as usize
            }
        };
        let workers = int_in(
            "workers",
            f.workers.map(u64::from),
            file_int("workers")?,
            2,
            WORKERS,
        )? as u32;
        let revision = int_in("revision", f.revision.map(u64::from), None, 0, REVISION)? as u32;
        let on_bad_row = match f.on_bad_row {
            Some(p) => p,
            None => {
                let policy = file_str("on_bad_row")?.unwrap_or_else(|| "stop".into());
                BadRowPolicy::parse(&policy)
                    .ok_or_else(|| usage(format!("--on-bad-row `{policy}`: use stop or skip")))?
            }
        };
        let database = f
            .database
            .clone()
            .or(file_str("database")?)
            .unwrap_or_else(|| "loadgate_bulk".into());
        crate::target::check_identifier(&database)
            .map_err(|w| usage(format!("database name {w}")))?;
        let seed = match f.seed {
            Some(s) => s,
            None => int_in("seed", None, file_int("seed")?, 42, SEED)? as u64,
        };
        let changed_pct = match f.changed_pct {
            Some(p) => p,
            None => match file("changed_pct") {
                None => 10.0,
                Some(toml::Value::Integer(i)) => *i as f64,
                Some(toml::Value::Float(x)) => *x,
                Some(v) => {
                    return Err(usage(format!(
                        "workload setting `changed_pct` must be a number, got {v}"
                    )))
                }
            },
        };
        if !(0.0..=100.0).contains(&changed_pct) {
            return Err(usage(format!(
                "--changed-pct must be 0 to 100, got {changed_pct}"
            )));
        }
        let bad_rows = f.bad_rows.unwrap_or(0);
        if bad_rows > 0 && spec.bad_values.is_empty() {
            return Err(usage(
                "--bad-rows needs [[bad_values]] in the workload file".into(),
            ));
        }
        if f.source.is_some() && (f.rows.is_some() || bad_rows > 0 || f.revision.is_some()) {
            return Err(usage(
                "--rows, --revision and --bad-rows shape generated rows; with --source the whole source table is synced as it is".into(),
            ));
        }
        if bad_rows > rows {
            return Err(usage(format!(
                "--bad-rows {bad_rows} is more than --rows {rows}"
            )));
        }
        let connect_timeout_s = match f.connect_timeout.clone().or(file_str("connect_timeout")?) {
            Some(s) => crate::settings::parse_duration(&s)
                .ok()
                .filter(|v| *v <= 3_600.0)
                .ok_or_else(|| {
                    usage(format!(
                        "connect_timeout `{s}`: expected a duration of at most 1h (10s, 500ms, 2m)"
                    ))
                })?,
            None => 10.0,
        };
        let source_table = f
            .source_table
            .clone()
            .unwrap_or_else(|| spec.source_table.clone());
        crate::target::check_identifier(&source_table)
            .map_err(|w| usage(format!("--source-table {w}")))?;
        let fresh = f.fresh || strategies.len() > 1 || repeats > 1;
        Ok(BulkSettings {
            workload: spec.name.clone(),
            rows,
            strategies,
            batch_size: (batch_size > 0).then_some(batch_size),
            workers,
            on_bad_row,
            database,
            seed,
            revision,
            changed_pct,
            bad_rows,
            fault_every: f.fault_every.unwrap_or(0),
            repeats,
            fresh,
            force: f.force,
            source: f.source.as_deref().map(crate::target::redact_url),
            source_table,
            connect_timeout_s,
        })
    }
}

/// Why a bulk sync could not run or did not end well.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error("{0}")]
    Usage(String),

    #[error(transparent)]
    Workload(#[from] WorkloadError),

    #[error(transparent)]
    Target(#[from] TargetError),

    #[error("{0}")]
    Refused(String),

    /// The server forbids `LOAD DATA LOCAL INFILE`.
    #[error("the server at {addr} refuses LOAD DATA LOCAL INFILE: its `local_infile` setting is OFF ({detail}). Turn it on with `SET GLOBAL local_infile = ON` (needs the SUPER or SYSTEM_VARIABLES_ADMIN privilege) or start the server with --local-infile=1, or use another --strategy (values, prepared, row).")]
    LocalInfileOff { addr: String, detail: String },

    /// A row the server refused, under `--on-bad-row stop`.
    #[error("bad row with key {key_column}={key:?}: server error {code}: {message} (--on-bad-row stop: the batches already committed stay in the target, the rest was not synced; --on-bad-row skip would leave this row out and go on)")]
    BadRow {
        key_column: String,
        key: String,
        code: u16,
        message: String,
    },

    /// A batch that could not be applied and was rolled back.
    #[error("a batch of {rows} rows (keys {first_key:?} to {last_key:?}) failed {attempts} time(s) and was rolled back, not applied: {why}")]
    BatchFailed {
        rows: usize,
        first_key: String,
        last_key: String,
        attempts: u32,
        why: String,
    },

    /// Target and source differ after the sync. Exit 5 even when the target held rows before
    /// (an earlier sync's): it is not a copy of the source either way; the message says which.
    #[error("VERIFICATION FAILED: the target `{table}` has {actual_rows} rows (CRC32 sum {actual_sum}) but the source has {expected_rows} rows (CRC32 sum {expected_sum}){}: {}", .excluded.map(|n| format!(", {n} skipped bad row(s) excluded on both sides")).unwrap_or_default(), mismatch_cause(*.held_before))]
    Mismatch {
        table: String,
        expected_rows: u64,
        expected_sum: String,
        actual_rows: u64,
        actual_sum: String,
        excluded: Option<usize>,
        /// The target held rows when the sync began.
        held_before: bool,
    },

    #[error("interrupted")]
    Interrupted,
}

/// Why target and source differ, as far as the sync can tell.
fn mismatch_cause(held_before: bool) -> &'static str {
    if held_before {
        "the target already held rows when this sync began (an earlier sync's, kept because --fresh was not given), and an upsert never deletes the rows the source lacks; pass --fresh to drop and recreate the target first"
    } else {
        "rows were lost, duplicated or changed"
    }
}

impl crate::error::ExitCode for BulkError {
    fn exit_code(&self) -> u8 {
        use crate::error::exit;
        match self {
            BulkError::Usage(_) | BulkError::Workload(_) => exit::USAGE,
            BulkError::Target(e) => e.exit_code(),
            BulkError::Refused(_) => exit::REFUSED,
            BulkError::LocalInfileOff { .. } => exit::TARGET,
            BulkError::BadRow { .. }
            | BulkError::BatchFailed { .. }
            | BulkError::Mismatch { .. } => exit::INCOMPLETE,
            BulkError::Interrupted => exit::INTERRUPTED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{assert_module_error, exit};

    #[test]
    fn each_bulk_error_keeps_its_exit_code() {
        assert_module_error(BulkError::Usage("u".into()), exit::USAGE);
        let workload = WorkloadError::InvalidFile {
            file: "b.toml".into(),
            message: "m".into(),
        };
        assert_module_error(BulkError::Workload(workload), exit::USAGE);
        let bad_url = TargetError::BadUrl {
            url: "x".into(),
            why: "w".into(),
        };
        assert_module_error(BulkError::Target(bad_url), exit::USAGE);
        let unreachable = TargetError::Unreachable {
            host: "db".into(),
            port: 3306,
            why: "w".into(),
        };
        assert_module_error(BulkError::Target(unreachable), exit::TARGET);
        assert_module_error(BulkError::Refused("r".into()), exit::REFUSED);
        let off = BulkError::LocalInfileOff {
            addr: "db:3306".into(),
            detail: "d".into(),
        };
        assert_module_error(off, exit::TARGET);
        let bad_row = BulkError::BadRow {
            key_column: "id".into(),
            key: "1".into(),
            code: 1366,
            message: "m".into(),
        };
        assert_module_error(bad_row, exit::INCOMPLETE);
        let batch = BulkError::BatchFailed {
            rows: 10,
            first_key: "1".into(),
            last_key: "10".into(),
            attempts: 3,
            why: "w".into(),
        };
        assert_module_error(batch, exit::INCOMPLETE);
        let mismatch = BulkError::Mismatch {
            table: "t".into(),
            expected_rows: 2,
            expected_sum: "1".into(),
            actual_rows: 1,
            actual_sum: "2".into(),
            excluded: None,
            held_before: false,
        };
        assert!(
            mismatch.to_string().contains("rows were lost"),
            "{mismatch}"
        );
        let leftover = BulkError::Mismatch {
            table: "t".into(),
            expected_rows: 2,
            expected_sum: "1".into(),
            actual_rows: 3,
            actual_sum: "2".into(),
            excluded: None,
            held_before: true,
        };
        let m = leftover.to_string();
        assert!(
            m.contains("already held rows") && m.contains("--fresh"),
            "{m}"
        );
        assert!(!m.contains("rows were lost"), "{m}");
        assert_module_error(leftover, exit::INCOMPLETE);
        assert_module_error(mismatch, exit::INCOMPLETE);
        assert_module_error(BulkError::Interrupted, exit::INTERRUPTED);
    }

    #[test]
    fn strategies_are_one_a_list_or_all() {
        assert_eq!(parse_strategies("all").unwrap(), Strategy::ALL.to_vec());
        assert_eq!(
            parse_strategies("load-data, values").unwrap(),
            vec![Strategy::LoadData, Strategy::Values]
        );
        assert_eq!(
            parse_strategies("load_data").unwrap(),
            vec![Strategy::LoadData]
        );
        assert!(parse_strategies("values,values")
            .unwrap_err()
            .contains("--repeats"));
        assert!(parse_strategies("values,fast")
            .unwrap_err()
            .contains("`fast`"));
    }

    #[test]
    fn each_round_rotates_the_order_so_every_strategy_takes_every_place() {
        let all = Strategy::ALL;
        let mut seen = vec![std::collections::BTreeSet::new(); all.len()];
        for round in 0..all.len() {
            let order = round_order(&all, round);
            assert_eq!(order.len(), all.len());
            for (place, s) in order.iter().enumerate() {
                seen[all.iter().position(|x| x == s).unwrap()].insert(place);
            }
        }
        assert!(
            seen.iter().all(|places| places.len() == all.len()),
            "{seen:?}"
        );
        assert_eq!(round_order(&all, 0), all.to_vec());
        assert_eq!(round_order(&all, 1)[0], Strategy::Values);
    }

    #[test]
    fn repeats_are_bounded_and_each_repeat_starts_fresh() {
        let spec = spec::load("bulk_sync").unwrap();
        let f = |strategy: &str, repeats: Option<u32>| BulkFlags {
            strategy: Some(parse_strategies(strategy).unwrap()),
            repeats,
            ..Default::default()
        };
        let s = BulkSettings::resolve(&spec, &f("values", None)).unwrap();
        assert_eq!((s.repeats, s.fresh), (1, false));
        let s = BulkSettings::resolve(&spec, &f("values", Some(3))).unwrap();
        assert_eq!((s.repeats, s.fresh), (3, true));
        let s = BulkSettings::resolve(&spec, &f("values,prepared", None)).unwrap();
        assert!(s.fresh);
        assert!(BulkSettings::resolve(&spec, &f("values", Some(0))).is_err());
    }
}
