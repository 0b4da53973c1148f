//! Resolved run settings: one validated value per knob, and where it came from.
//!
//! Precedence, highest first: a dedicated flag (`--threads 8`), then `--set key=value`, then
//! the workload file's `[settings]`, then the built-in defaults below. Every run stores the
//! resolved [`Settings`] (and so its seed and random distribution) with its results.

use crate::workload::{Dist, DistParams, SettingValue, Workload, WorkloadError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// sysbench's default list of errors that restart the transaction: deadlock (1213), lock wait
/// timeout (1205) and "record has changed since last read" (1020).
pub const DEFAULT_RETRY_ERRORS: &[u16] = &[1213, 1020, 1205];

/// Every setting a run understands besides the workload's own variables: its key, its built-in
/// default (the lowest precedence) and a description for error messages and help.
pub const KNOWN: &[(&str, &str, &str)] = &[
    (
        "threads",
        "1",
        "concurrent workers, one connection each",
    ),
    (
        "duration",
        "10s",
        "measured time after warm-up (10s, 2m; 0 = until --events)",
    ),
    (
        "warmup",
        "0s",
        "time before measuring; its transactions are not counted",
    ),
    (
        "rate",
        "0",
        "open loop: transactions per second over all workers (0 = closed loop)",
    ),
    (
        "events",
        "0",
        "stop after this many transactions (0 = no limit)",
    ),
    (
        "tables",
        "1",
        "number of tables",
    ),
    (
        "table_size",
        "10000",
        "rows per table",
    ),
    (
        "rand_type",
        "special",
        "default distribution: uniform, special, gaussian, pareto, zipfian",
    ),
    (
        "rand_spec_iter",
        "12",
        "special/gaussian: uniforms summed per value",
    ),
    (
        "rand_spec_pct",
        "1",
        "special: percent of the range that gets the special values",
    ),
    (
        "rand_spec_res",
        "75",
        "special: percent of values that are special",
    ),
    (
        "rand_pareto_h",
        "0.2",
        "pareto: shape h",
    ),
    (
        "rand_zipfian_exp",
        "0.8",
        "zipfian: exponent",
    ),
    (
        "report_interval",
        "1s",
        "live report interval (0 = progress bar instead)",
    ),
    (
        "seed",
        "0",
        "random seed (0 = pick one; the seed used is stored)",
    ),
    (
        "client_threads",
        "0",
        "client runtime threads (0 = auto: one per worker)",
    ),
    (
        "driver",
        "lean",
        "client protocol code: lean (loadgate's own, the default) or mysql_async",
    ),
    (
        "reply_wait",
        "auto",
        "how a lean connection alone on its client thread waits for a reply: auto (in the kernel's receive, like sysbench) or poll (through the runtime's poller)",
    ),
    (
        "client_sched",
        "auto",
        "Linux scheduling policy of client threads: auto (batch in closed loop, normal in open loop), batch (SCHED_BATCH: a thread woken by a reply does not preempt the server thread running on that CPU) or normal",
    ),
    (
        "connect_timeout",
        "10s",
        "connect timeout",
    ),
    (
        "retry_errors",
        "1213,1020,1205",
        "comma-separated MySQL error codes that restart the transaction",
    ),
    (
        "database",
        "loadgate",
        "database (schema) the workload's tables live in",
    ),
];

/// Which client code speaks to the server during the measured load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Driver {
    /// loadgate's own minimal protocol executor (`engine::lean`): skips result rows without
    /// decoding them. Falls back to mysql_async when the server needs what it does not speak.
    Lean,
    /// The mysql_async crate.
    MysqlAsync,
}

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Driver::Lean => "lean",
            Driver::MysqlAsync => "mysql_async",
        }
    }

    /// Runs stored before the setting existed were all driven by mysql_async.
    fn stored_default() -> Driver {
        Driver::MysqlAsync
    }
}

/// How a lean connection waits for the server's reply (`reply_wait`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyWait {
    /// A connection that is alone on its client thread (the default layout) waits in a blocking
    /// receive, bounded so the thread's other duties still run; connections that share a
    /// thread wait through the runtime's poller.
    Auto,
    /// Always through the runtime's poller (epoll).
    Poll,
}

impl ReplyWait {
    pub fn name(self) -> &'static str {
        match self {
            ReplyWait::Auto => "auto",
            ReplyWait::Poll => "poll",
        }
    }

    /// Runs stored before the setting existed always waited through the poller.
    fn stored_default() -> ReplyWait {
        ReplyWait::Poll
    }
}

/// The Linux scheduling policy of the client threads (`client_sched`). `auto` is resolved with
/// the rest of the settings, so resolved and stored settings say `batch` or `normal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientSched {
    /// `Batch` in closed loop, `Normal` in open loop, where a worker woken by its timer must
    /// start its transaction on time; `Normal` where there is no SCHED_BATCH (not Linux).
    Auto,
    /// SCHED_BATCH: the kernel does not let a client thread woken by a reply preempt the
    /// thread running on its CPU, which on a machine shared with the server is usually a
    /// server thread in the middle of a query.
    Batch,
    /// SCHED_OTHER, what every other process gets (sysbench's threads run this way).
    Normal,
}

impl ClientSched {
    pub fn name(self) -> &'static str {
        match self {
            ClientSched::Auto => "auto",
            ClientSched::Batch => "batch",
            ClientSched::Normal => "normal",
        }
    }

    /// Runs stored before the setting existed ran their client threads as normal.
    fn stored_default() -> ClientSched {
        ClientSched::Normal
    }

    /// What `self` means for a run at `rate` (`None`: closed loop): `Batch` or `Normal`.
    pub fn resolve(self, rate: Option<f64>) -> ClientSched {
        match self {
            ClientSched::Auto if cfg!(target_os = "linux") && rate.is_none() => ClientSched::Batch,
            ClientSched::Auto => ClientSched::Normal,
            other => other,
        }
    }
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Default,
    Workload,
    Set,
    Flag,
    /// The row count `prepare` recorded on the tables: `run` takes it when no flag or `--set`
    /// names a table size.
    Prepared,
}

/// The resolved settings of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub workload: String,
    pub threads: u32,
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Open-loop rate in transactions per second; `None` is closed loop.
    pub rate: Option<f64>,
    /// Stop after this many transactions.
    pub events: Option<u64>,
    pub tables: i64,
    pub table_size: i64,
    pub rand_type: Dist,
    pub rand_spec_iter: u32,
    pub rand_spec_pct: u32,
    pub rand_spec_res: u32,
    pub rand_pareto_h: f64,
    pub rand_zipfian_exp: f64,
    /// Seconds between live lines; 0 shows a progress bar instead.
    pub report_interval_s: f64,
    pub seed: u64,
    /// Client runtime threads actually used.
    pub client_threads: u32,
    /// The client protocol code asked for (the run record says which one ran).
    #[serde(default = "Driver::stored_default")]
    pub driver: Driver,
    /// How lean connections wait for replies.
    #[serde(default = "ReplyWait::stored_default")]
    pub reply_wait: ReplyWait,
    /// The client threads' scheduling policy, `auto` resolved (the run record says `normal`
    /// when the kernel refused SCHED_BATCH).
    #[serde(default = "ClientSched::stored_default")]
    pub client_sched: ClientSched,
    pub connect_timeout_s: f64,
    pub retry_errors: Vec<u16>,
    pub database: String,
    /// Every integer-valued setting (core and the workload's own), for expressions.
    pub vars: BTreeMap<String, i64>,
    /// Where each setting came from.
    pub origins: BTreeMap<String, Origin>,
}

impl Settings {
    /// Distribution parameters for loading rows (sysbench's defaults; the load does not depend
    /// on run-time distribution settings).
    pub fn dist_for_load() -> DistParams {
        DistParams::default()
    }

    pub fn dist_params(&self) -> DistParams {
        DistParams::new(
            self.rand_spec_iter,
            self.rand_spec_pct,
            self.rand_spec_res,
            self.rand_pareto_h,
            self.rand_zipfian_exp,
        )
    }

    /// Resolve settings for `workload` from its file, `--set` pairs and dedicated flags (both
    /// given as `key=value`-style pairs, flags last).
    pub fn resolve(
        workload: &Workload,
        sets: &[(String, String)],
        flags: &[(&str, String)],
    ) -> Result<Settings, WorkloadError> {
        let mut raw: BTreeMap<String, (SettingValue, Origin)> = BTreeMap::new();
        for (k, v, _) in KNOWN {
            raw.insert(
                k.to_string(),
                (SettingValue::Str(v.to_string()), Origin::Default),
            );
        }
        for (k, v) in &workload.settings {
            raw.insert(k.clone(), (v.clone(), Origin::Workload));
        }
        for (k, v) in sets {
            if !raw.contains_key(k) {
                let mut names: Vec<&str> = KNOWN.iter().map(|(n, _, _)| *n).collect();
                let own: Vec<&str> = workload
                    .settings
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .filter(|n| !names.contains(n))
                    .collect();
                names.extend(own);
                return Err(WorkloadError::Setting {
                    key: k.clone(),
                    message: format!("unknown setting (from --set); known: {}", names.join(", ")),
                });
            }
            raw.insert(k.clone(), (SettingValue::Str(v.clone()), Origin::Set));
        }
        for (k, v) in flags {
            raw.insert(k.to_string(), (SettingValue::Str(v.clone()), Origin::Flag));
        }
        let get = |k: &str| raw.get(k).expect("every known setting has a default");
        let int = |k: &str, min: i64| -> Result<i64, WorkloadError> {
            let (v, o) = get(k);
            let n = match v {
                SettingValue::Int(i) => *i,
                SettingValue::Str(s) => s
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| bad(k, *o, format!("`{s}` is not an integer")))?,
                other => return Err(bad(k, *o, format!("`{other}` is not an integer"))),
            };
            if n < min {
                return Err(bad(k, *o, format!("must be at least {min}, got {n}")));
            }
            Ok(n)
        };
        let float = |k: &str| -> Result<f64, WorkloadError> {
            let (v, o) = get(k);
            let f = match v {
                SettingValue::Int(i) => *i as f64,
                SettingValue::Float(f) => *f,
                SettingValue::Str(s) => s
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| bad(k, *o, format!("`{s}` is not a number")))?,
                SettingValue::Bool(b) => return Err(bad(k, *o, format!("`{b}` is not a number"))),
            };
            if !f.is_finite() || f < 0.0 {
                return Err(bad(k, *o, format!("must be a number ≥ 0, got {f}")));
            }
            Ok(f)
        };
        let dur = |k: &str| -> Result<f64, WorkloadError> {
            let (v, o) = get(k);
            match v {
                SettingValue::Int(i) if *i >= 0 => Ok(*i as f64),
                SettingValue::Float(f) if *f >= 0.0 => Ok(*f),
                SettingValue::Str(s) => parse_duration(s).map_err(|m| bad(k, *o, m)),
                other => Err(bad(
                    k,
                    *o,
                    format!("`{other}` is not a duration (10s, 500ms, 2m)"),
                )),
            }
        };
        let string = |k: &str| -> String { get(k).0.to_string() };

        let threads = int("threads", 1)?;
        if threads > 10_000 {
            let (_, o) = get("threads");
            return Err(bad("threads", *o, "at most 10000".into()));
        }
        let rate = float("rate")?;
        let events = int("events", 0)?;
        let duration_s = dur("duration")?;
        if duration_s == 0.0 && events == 0 {
            let (_, o) = get("duration");
            return Err(bad(
                "duration",
                *o,
                "0 needs --events to end the run".into(),
            ));
        }
        let rand_type = {
            let s = string("rand_type");
            Dist::parse(&s).ok_or_else(|| {
                bad(
                    "rand_type",
                    get("rand_type").1,
                    format!("`{s}` is not one of {}", Dist::NAMES.join(", ")),
                )
            })?
        };
        let retry_errors = {
            let s = string("retry_errors");
            let mut v = Vec::new();
            for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                v.push(part.parse::<u16>().map_err(|_| {
                    bad(
                        "retry_errors",
                        get("retry_errors").1,
                        format!("`{part}` is not an error code"),
                    )
                })?);
            }
            v
        };
        let driver = choose(
            "driver",
            get("driver").1,
            &string("driver"),
            &[Driver::Lean, Driver::MysqlAsync],
            Driver::name,
        )?;
        let reply_wait = choose(
            "reply_wait",
            get("reply_wait").1,
            &string("reply_wait"),
            &[ReplyWait::Auto, ReplyWait::Poll],
            ReplyWait::name,
        )?;
        let client_sched = choose(
            "client_sched",
            get("client_sched").1,
            &string("client_sched"),
            &[ClientSched::Auto, ClientSched::Batch, ClientSched::Normal],
            ClientSched::name,
        )?;
        let database = string("database");
        crate::target::check_identifier(&database)
            .map_err(|m| bad("database", get("database").1, m))?;
        let spec_res = int("rand_spec_res", 0)?;
        if spec_res > 99 {
            return Err(bad(
                "rand_spec_res",
                get("rand_spec_res").1,
                "must be at most 99".into(),
            ));
        }
        let pareto_h = float("rand_pareto_h")?;
        if !(pareto_h > 0.0 && pareto_h < 1.0) {
            return Err(bad(
                "rand_pareto_h",
                get("rand_pareto_h").1,
                "must be between 0 and 1".into(),
            ));
        }

        let mut vars = BTreeMap::new();
        for (k, (v, o)) in &raw {
            if KNOWN.iter().any(|(n, _, _)| n == k)
                && !["threads", "tables", "table_size"].contains(&k.as_str())
            {
                continue;
            }
            let n = match v {
                SettingValue::Int(i) => *i,
                SettingValue::Str(s) => match s.trim().parse::<i64>() {
                    Ok(i) => i,
                    Err(_) => return Err(bad(k, *o, format!("`{s}` is not an integer"))),
                },
                _ => continue,
            };
            vars.insert(k.clone(), n);
        }
        let seed = int("seed", 0)? as u64;
        let seed = if seed == 0 { random_seed() } else { seed };
        let client_threads = int("client_threads", 0)? as u32;
        // Auto: one runtime thread per worker, each connection on its own thread as sysbench
        // runs them. Measured on these 2-core machines (scripts/compare-sysbench.sh, README
        // "Speed measurements"), it beat one runtime per core at 4 workers (1.02-1.19x vs 0.74x
        // of sysbench's QPS): a thread that serves several connections stays runnable and is
        // preempted by the server thread it has just woken.
        let client_threads = if client_threads == 0 {
            threads as u32
        } else {
            client_threads.min(threads as u32)
        };
        Ok(Settings {
            workload: workload.name.clone(),
            threads: threads as u32,
            duration_s,
            warmup_s: dur("warmup")?,
            rate: if rate > 0.0 { Some(rate) } else { None },
            events: if events > 0 {
                Some(events as u64)
            } else {
                None
            },
            tables: int("tables", 1)?,
            table_size: int("table_size", 1)?,
            rand_type,
            rand_spec_iter: int("rand_spec_iter", 1)? as u32,
            rand_spec_pct: int("rand_spec_pct", 0)? as u32,
            rand_spec_res: spec_res as u32,
            rand_pareto_h: pareto_h,
            rand_zipfian_exp: float("rand_zipfian_exp")?,
            report_interval_s: dur("report_interval")?,
            seed,
            client_threads,
            driver,
            reply_wait,
            client_sched: client_sched.resolve((rate > 0.0).then_some(rate)),
            connect_timeout_s: dur("connect_timeout")?.max(0.1),
            retry_errors,
            database,
            vars,
            origins: raw.iter().map(|(k, (_, o))| (k.clone(), *o)).collect(),
        })
    }
}

/// The option of a setting that takes one of a few names, matched by its name.
fn choose<T: Copy>(
    key: &str,
    origin: Origin,
    value: &str,
    options: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, WorkloadError> {
    let value = value.trim();
    options
        .iter()
        .copied()
        .find(|o| name(*o) == value)
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|o| name(*o)).collect();
            bad(
                key,
                origin,
                format!("`{value}` is not one of {}", names.join(", ")),
            )
        })
}

fn bad(key: &str, origin: Origin, message: String) -> WorkloadError {
    let from = match origin {
        Origin::Default => "built-in default",
        Origin::Workload => "workload [settings]",
        Origin::Set => "--set",
        Origin::Flag => "command-line flag",
        Origin::Prepared => "the prepared tables' row count",
    };
    WorkloadError::Setting {
        key: key.to_string(),
        message: format!("{message} (from {from})"),
    }
}

/// `10s`, `500ms`, `2m`, `1h`, `1.5s`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    match num.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v * mult),
        _ => Err(format!("`{s}` is not a duration (10s, 500ms, 2m, 1h)")),
    }
}

fn random_seed() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    (t ^ (std::process::id() as u64).rotate_left(32)) | 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload;

    fn rw() -> Workload {
        workload::load("oltp_read_write").unwrap()
    }

    #[test]
    fn every_known_setting_is_listed_once_with_a_default_and_a_description() {
        let mut keys: Vec<&str> = KNOWN.iter().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), KNOWN.len(), "a key is listed twice");
        assert!(KNOWN.iter().all(|(_, _, help)| !help.is_empty()));
        // Each default is accepted as its own `--set` value.
        let w = rw();
        let sets: Vec<(String, String)> = KNOWN
            .iter()
            .map(|(k, v, _)| (k.to_string(), v.to_string()))
            .collect();
        let s = Settings::resolve(&w, &sets, &[]).unwrap();
        assert_eq!(s.reply_wait, ReplyWait::Auto);
        assert_eq!(s.driver, Driver::Lean);
        assert_eq!(s.client_sched, ClientSched::Auto.resolve(None));
    }

    #[test]
    fn client_threads_run_batch_only_in_closed_loop_unless_told() {
        use ClientSched::*;
        let closed = if cfg!(target_os = "linux") {
            Batch
        } else {
            Normal
        };
        assert_eq!(Auto.resolve(None), closed);
        assert_eq!(Auto.resolve(Some(100.0)), Normal);
        assert_eq!(Batch.resolve(Some(100.0)), Batch);
        assert_eq!(Normal.resolve(None), Normal);
        let w = rw();
        let set = |v: &str| Settings::resolve(&w, &[("client_sched".into(), v.into())], &[]);
        assert_eq!(set("auto").unwrap().client_sched, closed);
        assert_eq!(set("normal").unwrap().client_sched, Normal);
        let open = Settings::resolve(&w, &[("rate".into(), "50".into())], &[]).unwrap();
        assert_eq!(open.client_sched, Normal);
        let e = set("idle").unwrap_err().to_string();
        assert!(e.contains("client_sched") && e.contains("batch"), "{e}");
    }

    #[test]
    fn precedence_flag_over_set_over_file_over_default() {
        let w = rw();
        let s = Settings::resolve(&w, &[], &[]).unwrap();
        assert_eq!(s.threads, 4); // file
        assert_eq!(s.connect_timeout_s, 10.0); // default
        let s = Settings::resolve(&w, &[("threads".into(), "8".into())], &[]).unwrap();
        assert_eq!(s.threads, 8);
        assert_eq!(s.origins["threads"], Origin::Set);
        let s = Settings::resolve(
            &w,
            &[("threads".into(), "8".into())],
            &[("threads", "16".into())],
        )
        .unwrap();
        assert_eq!(s.threads, 16);
        assert_eq!(s.origins["threads"], Origin::Flag);
        let s = Settings::resolve(&w, &[("range_size".into(), "50".into())], &[]).unwrap();
        assert_eq!(s.vars["range_size"], 50);
    }

    #[test]
    fn bad_values_name_the_key_and_origin() {
        let w = rw();
        let e = Settings::resolve(&w, &[("threads".into(), "many".into())], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("threads") && e.contains("--set"), "{e}");
        let e = Settings::resolve(&w, &[("nosuch".into(), "1".into())], &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown setting") && e.contains("range_size"),
            "{e}"
        );
        let e = Settings::resolve(&w, &[], &[("rand_type", "bell".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("rand_type") && e.contains("zipfian"), "{e}");
        let e = Settings::resolve(&w, &[], &[("duration", "soon".into())])
            .unwrap_err()
            .to_string();
        assert!(e.contains("duration"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), 10.0);
        assert_eq!(parse_duration("250ms").unwrap(), 0.25);
        assert_eq!(parse_duration("2m").unwrap(), 120.0);
        assert_eq!(parse_duration("3").unwrap(), 3.0);
        assert!(parse_duration("-1s").is_err());
    }
}
