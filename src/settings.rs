//! Resolved run settings: one validated value per knob, and where it came from.
//!
//! Precedence, highest first: a dedicated flag (`--threads 8`), then `--set key=value`, then
//! the workload file's `[settings]`, then the built-in defaults below. Every run stores the
//! resolved [`Settings`] (and so its seed and random distribution) with its results.

use crate::workload::parse::CORE_INT_SETTINGS;
use crate::workload::{Dist, DistParams, SettingValue, Workload, WorkloadError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// sysbench's default list of errors that restart the transaction: deadlock (1213), lock wait
/// timeout (1205) and "record has changed since last read" (1020).
pub const DEFAULT_RETRY_ERRORS: &[u16] = &[1213, 1020, 1205];

/// The type of a setting's value and its checked range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A whole number in `min..=max`.
    Int { min: i64, max: i64 },
    /// A finite number in `min..=max`.
    Float { min: f64, max: f64 },
    /// `10s`, `500ms`, `2m`, `1h` or a bare number of seconds, at most `max_s`.
    Duration { max_s: f64 },
    /// One of a few names.
    Choice(&'static [&'static str]),
    /// A comma-separated list of MySQL error codes.
    Codes,
    /// A plain SQL identifier (a database name).
    Ident,
}

impl Kind {
    /// The values it takes, as the settings table shows them (Markdown).
    pub fn describe(&self) -> String {
        match self {
            Kind::Int { min, max } if *max == i64::MAX => format!("integer ≥ {min}"),
            Kind::Int { min, max } => format!("integer {min}–{max}"),
            Kind::Float { min, max } if *max == f64::MAX => format!("number ≥ {min}"),
            Kind::Float { min, max } => format!("number {min}–{max}"),
            Kind::Duration { max_s } => format!("duration ≤ {}", human_seconds(*max_s)),
            Kind::Choice(names) => names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
            Kind::Codes => "error codes, comma-separated".into(),
            Kind::Ident => "identifier".into(),
        }
    }
}

/// One setting: everything the code and the docs need to know about it, in one place. The
/// table [`SETTINGS`] drives the built-in defaults, `--set` and the workload file's
/// `[settings]` (which keys exist, their types and ranges), which settings make two runs
/// incomparable, and the settings table in `workloads/README.md` (a test checks they agree).
#[derive(Debug, Clone, Copy)]
pub struct Descriptor {
    /// The name in `--set KEY=VALUE` and in a workload's `[settings]`.
    pub key: &'static str,
    /// The field of [`Settings`] (and of the stored JSON) that holds the resolved value.
    pub field: &'static str,
    /// The built-in default, as it would be written after `--set key=`.
    pub default: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    /// False for settings that do not change what a run measures (the seed, where the tables
    /// live, timeouts, the live-report interval): runs that differ only in them compare.
    pub comparable: bool,
    /// The dedicated command-line flag, where there is one (it wins over `--set`).
    pub flag: Option<&'static str>,
}

const DAY_S: f64 = 86_400.0;

/// The most tables a workload may have (`tables`).
pub const MAX_TABLES: i64 = 100_000;

/// With `client_threads = 0` (auto), each worker has a client thread of its own up to this many
/// workers; above it, this many client threads share the workers (each serves several
/// connections through the poller), so 1,000 workers do not make 1,000 OS threads.
pub const OWN_THREAD_MAX_WORKERS: u32 = 64;

/// Every setting a run understands besides the workload's own variables.
pub const SETTINGS: &[Descriptor] = &[
    Descriptor {
        key: "threads",
        field: "threads",
        default: "1",
        kind: Kind::Int { min: 1, max: 10_000 },
        help: "concurrent workers, one connection each",
        comparable: true,
        flag: Some("--threads"),
    },
    Descriptor {
        key: "duration",
        field: "duration_s",
        default: "10s",
        kind: Kind::Duration { max_s: 30.0 * DAY_S },
        help: "measured time after warm-up (`500ms`, `10s`, `2m`, `1h`; `0` = until `events`)",
        comparable: true,
        flag: Some("--duration"),
    },
    Descriptor {
        key: "warmup",
        field: "warmup_s",
        default: "0s",
        kind: Kind::Duration { max_s: 30.0 * DAY_S },
        help: "time before measuring; its transactions are not counted",
        comparable: true,
        flag: Some("--warmup"),
    },
    Descriptor {
        key: "rate",
        field: "rate",
        default: "0",
        kind: Kind::Float { min: 0.0, max: 1e8 },
        help: "open loop: transactions per second over all workers (0 = closed loop)",
        comparable: true,
        flag: Some("--rate"),
    },
    Descriptor {
        key: "events",
        field: "events",
        default: "0",
        kind: Kind::Int { min: 0, max: i64::MAX },
        help: "stop after this many transactions (0 = no limit)",
        comparable: true,
        flag: Some("--events"),
    },
    Descriptor {
        key: "tables",
        field: "tables",
        default: "1",
        // Each table of a family is compiled into the plan up front: a billion would grow the
        // client's memory until the machine runs out.
        kind: Kind::Int { min: 1, max: MAX_TABLES },
        help: "how many copies of a `{i}` table family",
        comparable: true,
        flag: Some("--tables"),
    },
    Descriptor {
        key: "table_size",
        field: "table_size",
        default: "10000",
        kind: Kind::Int { min: 1, max: i64::MAX },
        help: "rows per table",
        comparable: true,
        flag: Some("--table-size"),
    },
    Descriptor {
        key: "rand_type",
        field: "rand_type",
        default: "special",
        kind: Kind::Choice(Dist::NAMES),
        help: "the default distribution of random numbers",
        comparable: true,
        flag: Some("--rand-type"),
    },
    Descriptor {
        key: "rand_spec_iter",
        field: "rand_spec_iter",
        default: "12",
        // Summed for every value drawn: billions would stall each draw for seconds.
        kind: Kind::Int { min: 1, max: 1_000 },
        help: "`special`/`gaussian`: uniforms summed per value (sysbench's parameter)",
        comparable: true,
        flag: None,
    },
    Descriptor {
        key: "rand_spec_pct",
        field: "rand_spec_pct",
        default: "1",
        kind: Kind::Int { min: 0, max: 100 },
        help: "`special`: percent of the range that gets the special values",
        comparable: true,
        flag: None,
    },
    Descriptor {
        key: "rand_spec_res",
        field: "rand_spec_res",
        default: "75",
        kind: Kind::Int { min: 0, max: 99 },
        help: "`special`: percent of values that are special",
        comparable: true,
        flag: None,
    },
    Descriptor {
        key: "rand_pareto_h",
        field: "rand_pareto_h",
        default: "0.2",
        kind: Kind::Float { min: 0.0, max: 1.0 },
        help: "Pareto shape h, strictly between 0 and 1",
        comparable: true,
        flag: None,
    },
    Descriptor {
        key: "rand_zipfian_exp",
        field: "rand_zipfian_exp",
        default: "0.8",
        kind: Kind::Float { min: 0.0, max: f64::MAX },
        help: "Zipfian exponent",
        comparable: true,
        flag: None,
    },
    Descriptor {
        key: "report_interval",
        field: "report_interval_s",
        default: "1s",
        kind: Kind::Duration { max_s: DAY_S },
        help: "live line interval (`0` = a progress bar)",
        comparable: false,
        flag: Some("--report-interval"),
    },
    Descriptor {
        key: "seed",
        field: "seed",
        default: "0",
        kind: Kind::Int { min: 0, max: i64::MAX },
        help: "random seed (0 picks one; the seed used is stored)",
        comparable: false,
        flag: Some("--seed"),
    },
    Descriptor {
        key: "client_threads",
        field: "client_threads",
        default: "0",
        kind: Kind::Int { min: 0, max: 10_000 },
        help: "client runtime threads (0 = one per worker up to 64 workers, 64 shared ones above; fewer threads each serve several connections)",
        comparable: true,
        flag: Some("--client-threads"),
    },
    Descriptor {
        key: "driver",
        field: "driver",
        default: "lean",
        kind: Kind::Choice(Driver::NAMES),
        help: "the client protocol code of the load: `lean` (loadgate's own executor: rows skipped undecoded, less client CPU per query) or `mysql_async`; `lean` falls back to `mysql_async` by itself when the server wants TLS or another authentication plugin, and the run's facts record which one ran",
        comparable: true,
        flag: None,
    },
    Descriptor {
        key: "reply_wait",
        field: "reply_wait",
        default: "auto",
        kind: Kind::Choice(ReplyWait::NAMES),
        help: "how a `lean` connection waits for a reply: `auto` (alone on its client thread: a blocking `recv` bounded at 100 ms, as sysbench's client waits, then the poller; sharing a thread: the poller) or `poll` (always tokio's poller)",
        comparable: true,
        flag: None,
    },
    Descriptor {
        key: "client_sched",
        field: "client_sched",
        default: "auto",
        kind: Kind::Choice(ClientSched::NAMES),
        help: "Linux scheduling policy of the client threads: `auto` (`batch` in closed loop, `normal` in open loop), `batch` (SCHED_BATCH: a thread woken by a reply does not preempt the server thread on its CPU) or `normal`; the run's facts record what ran",
        comparable: true,
        flag: None,
    },
    Descriptor {
        key: "connect_timeout",
        field: "connect_timeout_s",
        default: "10s",
        kind: Kind::Duration { max_s: 3_600.0 },
        help: "connect timeout",
        comparable: false,
        flag: Some("--connect-timeout"),
    },
    Descriptor {
        key: "retry_errors",
        field: "retry_errors",
        default: "1213,1020,1205",
        kind: Kind::Codes,
        help: "MySQL error codes that restart the transaction (sysbench's default list)",
        comparable: true,
        flag: None,
    },
    Descriptor {
        key: "database",
        field: "database",
        default: "loadgate",
        kind: Kind::Ident,
        help: "the schema the tables live in (the target URL's database counts as a flag)",
        comparable: false,
        flag: Some("--database"),
    },
];

/// The descriptor of `key`.
pub fn descriptor(key: &str) -> Option<&'static Descriptor> {
    SETTINGS.iter().find(|d| d.key == key)
}

/// The fields of the stored settings JSON that do not make two runs incomparable: those of
/// the settings whose descriptor says so, the workload's name (compared by its file hash) and
/// where each value came from.
pub fn incomparable_fields() -> Vec<&'static str> {
    SETTINGS
        .iter()
        .filter(|d| !d.comparable)
        .map(|d| d.field)
        .chain(["workload", "origins"])
        .collect()
}

/// The long help of `--set`: what it does and every setting with its default, from the
/// descriptors (`loadgate run --help`).
pub fn set_help() -> String {
    let mut o = String::from(
        "Override any setting, workload variables included (repeatable; both sides of an A/B \
         job): --set range_size=50. A dedicated flag wins over --set, --set over the workload \
         file, the file over the default. Settings [default]:\n",
    );
    for d in SETTINGS {
        o.push_str(&format!(
            "  {} [{}]: {}\n",
            d.key,
            d.default,
            d.help.replace('`', "")
        ));
    }
    o.push_str("  and the integer variables of the workload file's [settings].");
    o
}

/// The settings as a Markdown table (key, default, values, flag, compared, meaning): the one
/// in `workloads/README.md`, between the `settings-table` markers (a test checks it).
pub fn markdown_table() -> String {
    let mut o = String::from(
        "| key | default | values | flag | compared | meaning |\n|---|---|---|---|---|---|\n",
    );
    for d in SETTINGS {
        o.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} | {} |\n",
            d.key,
            d.default,
            d.kind.describe(),
            d.flag.map_or("—".to_string(), |f| format!("`{f}`")),
            if d.comparable { "yes" } else { "no" },
            d.help
        ));
    }
    o
}

/// A number as a person reads it: `1e300`, not three hundred digits.
fn short(f: f64) -> String {
    if f.abs() >= 1e15 {
        format!("{f:e}")
    } else {
        f.to_string()
    }
}

fn human_seconds(s: f64) -> String {
    if s >= DAY_S && s % DAY_S == 0.0 {
        format!("{} d", s / DAY_S)
    } else if s >= 3_600.0 && s % 3_600.0 == 0.0 {
        format!("{} h", s / 3_600.0)
    } else {
        format!("{s} s")
    }
}

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
    /// Every driver, in the order of [`Driver::NAMES`].
    pub const ALL: [Driver; 2] = [Driver::Lean, Driver::MysqlAsync];
    /// The names a setting accepts (`Kind::Choice`).
    pub const NAMES: &'static [&'static str] = &["lean", "mysql_async"];

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
    pub const ALL: [ReplyWait; 2] = [ReplyWait::Auto, ReplyWait::Poll];
    pub const NAMES: &'static [&'static str] = &["auto", "poll"];

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
    pub const ALL: [ClientSched; 3] = [ClientSched::Auto, ClientSched::Batch, ClientSched::Normal];
    pub const NAMES: &'static [&'static str] = &["auto", "batch", "normal"];

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
        let text = |v: &String| SettingValue::Str(v.clone());
        Layers::default()
            .layer(
                Origin::Set,
                sets.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
            )
            .layer(
                Origin::Flag,
                flags
                    .iter()
                    .map(|(k, v)| (k.to_string(), text(v)))
                    .collect(),
            )
            .resolve(workload)
    }
}

/// The values given for a run above the workload file, each layer from one origin, lowest
/// first: `--set` pairs, then dedicated flags (or a program's own values, as a tuner sets
/// them). Resolution is a fold: built-in defaults, then the workload's `[settings]`, then each
/// layer in order; the last value of a key wins and keeps its origin.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    layers: Vec<(Origin, Vec<(String, SettingValue)>)>,
}

impl Layers {
    /// Adds a layer above the ones already there.
    pub fn layer(mut self, origin: Origin, values: Vec<(String, SettingValue)>) -> Layers {
        self.layers.push((origin, values));
        self
    }

    /// Sets one setting (or workload variable) above everything else, as a flag would: the
    /// one call a program needs to vary a setting between runs.
    pub fn set(self, key: &str, value: impl Into<SettingValue>) -> Layers {
        self.layer(Origin::Flag, vec![(key.to_string(), value.into())])
    }

    /// The settings of `workload` under these layers, every value checked against its
    /// descriptor's type and range.
    pub fn resolve(&self, workload: &Workload) -> Result<Settings, WorkloadError> {
        let mut raw: BTreeMap<String, (SettingValue, Origin)> = BTreeMap::new();
        for d in SETTINGS {
            raw.insert(
                d.key.to_string(),
                (SettingValue::Str(d.default.to_string()), Origin::Default),
            );
        }
        for (k, v) in &workload.settings {
            raw.insert(k.clone(), (v.clone(), Origin::Workload));
        }
        for (origin, values) in &self.layers {
            for (k, v) in values {
                if !raw.contains_key(k) {
                    return Err(unknown(workload, k, *origin));
                }
                raw.insert(k.clone(), (v.clone(), *origin));
            }
        }
        from_raw(workload, &raw).map_err(|e| locate(workload, &raw, e))
    }
}

/// A setting error about a value the workload file gave, pointed at where the file writes it.
fn locate(
    workload: &Workload,
    raw: &BTreeMap<String, (SettingValue, Origin)>,
    e: WorkloadError,
) -> WorkloadError {
    match e {
        WorkloadError::Setting { key, message }
            if raw.get(&key).is_some_and(|(_, o)| *o == Origin::Workload) =>
        {
            match workload.setting_at.get(&key) {
                Some(at) => workload.error_at(Some(*at), format!("setting `{key}`: {message}")),
                None => WorkloadError::Setting { key, message },
            }
        }
        e => e,
    }
}

/// The error for a key that is neither a setting nor one of the workload's variables.
fn unknown(workload: &Workload, key: &str, origin: Origin) -> WorkloadError {
    let mut names: Vec<&str> = SETTINGS.iter().map(|d| d.key).collect();
    let own: Vec<&str> = workload
        .settings
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !names.contains(n))
        .collect();
    names.extend(own);
    WorkloadError::Setting {
        key: key.to_string(),
        message: format!(
            "unknown setting (from {}); known: {}",
            origin_name(origin),
            names.join(", ")
        ),
    }
}

/// A value checked against its descriptor.
enum Checked {
    Int(i64),
    Float(f64),
    Name(String),
    Codes(Vec<u16>),
}

/// Checks the value of setting `d` against its type and range.
fn check(d: &Descriptor, value: &SettingValue, origin: Origin) -> Result<Checked, WorkloadError> {
    let k = d.key;
    match d.kind {
        Kind::Int { min, max } => {
            let n = match value {
                SettingValue::Int(i) => *i,
                SettingValue::Str(s) => s
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| bad(k, origin, format!("`{s}` is not an integer")))?,
                other => return Err(bad(k, origin, format!("`{other}` is not an integer"))),
            };
            if n < min {
                return Err(bad(k, origin, format!("must be at least {min}, got {n}")));
            }
            if n > max {
                return Err(bad(k, origin, format!("must be at most {max}, got {n}")));
            }
            Ok(Checked::Int(n))
        }
        Kind::Float { min, max } => {
            let f = match value {
                SettingValue::Int(i) => *i as f64,
                SettingValue::Float(f) => *f,
                SettingValue::Str(s) => s
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| bad(k, origin, format!("`{s}` is not a number")))?,
                SettingValue::Bool(b) => {
                    return Err(bad(k, origin, format!("`{b}` is not a number")))
                }
            };
            if !f.is_finite() || f < min {
                return Err(bad(
                    k,
                    origin,
                    format!("must be a number ≥ {min}, got {}", short(f)),
                ));
            }
            if f > max {
                return Err(bad(
                    k,
                    origin,
                    format!("must be at most {max}, got {}", short(f)),
                ));
            }
            Ok(Checked::Float(f))
        }
        Kind::Duration { max_s } => {
            let secs = match value {
                SettingValue::Int(i) if *i >= 0 => *i as f64,
                SettingValue::Float(f) if *f >= 0.0 && f.is_finite() => *f,
                SettingValue::Str(s) => parse_duration(s).map_err(|m| bad(k, origin, m))?,
                other => {
                    return Err(bad(
                        k,
                        origin,
                        format!("`{other}` is not a duration (10s, 500ms, 2m)"),
                    ))
                }
            };
            if secs > max_s {
                return Err(bad(
                    k,
                    origin,
                    format!(
                        "must be at most {}, got {} s",
                        human_seconds(max_s),
                        short(secs)
                    ),
                ));
            }
            Ok(Checked::Float(secs))
        }
        Kind::Choice(names) => {
            let v = value.to_string();
            let v = v.trim();
            if names.contains(&v) {
                Ok(Checked::Name(v.to_string()))
            } else {
                Err(bad(
                    k,
                    origin,
                    format!("`{v}` is not one of {}", names.join(", ")),
                ))
            }
        }
        Kind::Codes => {
            let s = value.to_string();
            let mut v = Vec::new();
            for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                v.push(
                    part.parse::<u16>()
                        .map_err(|_| bad(k, origin, format!("`{part}` is not an error code")))?,
                );
            }
            Ok(Checked::Codes(v))
        }
        Kind::Ident => {
            let s = value.to_string();
            crate::target::check_identifier(&s).map_err(|m| bad(k, origin, m))?;
            Ok(Checked::Name(s))
        }
    }
}

/// Builds the settings from the folded values: every descriptor's value checked, then the
/// rules between settings.
fn from_raw(
    workload: &Workload,
    raw: &BTreeMap<String, (SettingValue, Origin)>,
) -> Result<Settings, WorkloadError> {
    let mut checked: BTreeMap<&'static str, Checked> = BTreeMap::new();
    for d in SETTINGS {
        let (v, o) = raw.get(d.key).expect("every setting has a default");
        checked.insert(d.key, check(d, v, *o)?);
    }
    let origin = |k: &str| raw.get(k).map_or(Origin::Default, |(_, o)| *o);
    let int = |k: &str| match checked.get(k) {
        Some(Checked::Int(n)) => *n,
        _ => unreachable!("{k} is an integer setting"),
    };
    let float = |k: &str| match checked.get(k) {
        Some(Checked::Float(f)) => *f,
        _ => unreachable!("{k} is a number setting"),
    };
    let name = |k: &str| match checked.get(k) {
        Some(Checked::Name(s)) => s.clone(),
        _ => unreachable!("{k} is a named setting"),
    };

    let threads = int("threads");
    let rate = float("rate");
    let events = int("events");
    let duration_s = float("duration");
    if duration_s == 0.0 && events == 0 {
        return Err(bad(
            "duration",
            origin("duration"),
            "0 needs --events to end the run".into(),
        ));
    }
    let pareto_h = float("rand_pareto_h");
    if !(pareto_h > 0.0 && pareto_h < 1.0) {
        return Err(bad(
            "rand_pareto_h",
            origin("rand_pareto_h"),
            "must be between 0 and 1".into(),
        ));
    }
    // A checked choice is one of the enum's names (a test keeps `NAMES` and `name` in step).
    let pick = |k: &str, names: &[&str]| {
        let n = name(k);
        names
            .iter()
            .position(|x| *x == n)
            .expect("a checked choice is one of its names")
    };
    let driver = Driver::ALL[pick("driver", Driver::NAMES)];
    let reply_wait = ReplyWait::ALL[pick("reply_wait", ReplyWait::NAMES)];
    let client_sched = ClientSched::ALL[pick("client_sched", ClientSched::NAMES)];
    let retry_errors = match checked.get("retry_errors") {
        Some(Checked::Codes(c)) => c.clone(),
        _ => unreachable!("retry_errors is a list of codes"),
    };

    let mut vars = BTreeMap::new();
    for (k, (v, o)) in raw {
        if descriptor(k).is_some() && !CORE_INT_SETTINGS.contains(&k.as_str()) {
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
    let seed = int("seed") as u64;
    let seed = if seed == 0 { random_seed() } else { seed };
    let client_threads = int("client_threads") as u32;
    // Auto: one runtime thread per worker, each connection on its own thread as sysbench runs
    // them. Measured on 2-core machines (scripts/compare-sysbench.sh), it beat one runtime per
    // core at 4 workers (1.02-1.19x vs 0.74x of sysbench's QPS): a thread that serves several
    // connections stays runnable and is preempted by the server thread it has just woken.
    // Above OWN_THREAD_MAX_WORKERS workers, threads are shared: one OS thread, runtime and
    // recorder per worker cost about 1.4 MB each (1.4 GB at 1,000 workers).
    let client_threads = if client_threads == 0 {
        (threads as u32).min(OWN_THREAD_MAX_WORKERS)
    } else {
        client_threads.min(threads as u32)
    };
    Ok(Settings {
        workload: workload.name.clone(),
        threads: threads as u32,
        duration_s,
        warmup_s: float("warmup"),
        rate: (rate > 0.0).then_some(rate),
        events: (events > 0).then_some(events as u64),
        tables: int("tables"),
        table_size: int("table_size"),
        rand_type: Dist::parse(&name("rand_type")).expect("a checked distribution name"),
        rand_spec_iter: int("rand_spec_iter") as u32,
        rand_spec_pct: int("rand_spec_pct") as u32,
        rand_spec_res: int("rand_spec_res") as u32,
        rand_pareto_h: pareto_h,
        rand_zipfian_exp: float("rand_zipfian_exp"),
        report_interval_s: float("report_interval"),
        seed,
        client_threads,
        driver,
        reply_wait,
        client_sched: client_sched.resolve((rate > 0.0).then_some(rate)),
        connect_timeout_s: float("connect_timeout").max(0.1),
        retry_errors,
        database: name("database"),
        vars,
        origins: raw.iter().map(|(k, (_, o))| (k.clone(), *o)).collect(),
    })
}

fn bad(key: &str, origin: Origin, message: String) -> WorkloadError {
    WorkloadError::Setting {
        key: key.to_string(),
        message: format!("{message} (from {})", origin_name(origin)),
    }
}

/// Where a value came from, for messages: `--set`, `workload [settings]`, ...
pub fn origin_name(origin: Origin) -> &'static str {
    match origin {
        Origin::Default => "built-in default",
        Origin::Workload => "workload [settings]",
        Origin::Set => "--set",
        Origin::Flag => "command-line flag",
        Origin::Prepared => "the prepared tables' row count",
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
    fn every_setting_is_listed_once_with_a_default_and_a_description() {
        let mut keys: Vec<&str> = SETTINGS.iter().map(|d| d.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), SETTINGS.len(), "a key is listed twice");
        assert!(SETTINGS.iter().all(|d| !d.help.is_empty()));
        // Each default is accepted as its own `--set` value.
        let w = rw();
        let sets: Vec<(String, String)> = SETTINGS
            .iter()
            .map(|d| (d.key.to_string(), d.default.to_string()))
            .collect();
        let s = Settings::resolve(&w, &sets, &[]).unwrap();
        assert_eq!(s.reply_wait, ReplyWait::Auto);
        assert_eq!(s.driver, Driver::Lean);
        assert_eq!(s.client_sched, ClientSched::Auto.resolve(None));
        // Every descriptor names a field of the stored settings.
        let stored = serde_json::to_value(&s).unwrap();
        for d in SETTINGS {
            assert!(
                stored.get(d.field).is_some(),
                "no field {} for {}",
                d.field,
                d.key
            );
        }
    }

    /// The names a choice setting accepts are the enum's own, in order, so resolving a name
    /// gives the variant of that name.
    #[test]
    fn choice_names_are_the_enums_names() {
        let names = |v: &[&'static str]| v.to_vec();
        assert_eq!(names(Driver::NAMES), Driver::ALL.map(Driver::name).to_vec());
        assert_eq!(
            names(ReplyWait::NAMES),
            ReplyWait::ALL.map(ReplyWait::name).to_vec()
        );
        assert_eq!(
            names(ClientSched::NAMES),
            ClientSched::ALL.map(ClientSched::name).to_vec()
        );
        let w = rw();
        for d in Driver::ALL {
            let s = Layers::default()
                .set("driver", d.name())
                .resolve(&w)
                .unwrap();
            assert_eq!(s.driver, d);
        }
        for r in ReplyWait::ALL {
            let s = Layers::default()
                .set("reply_wait", r.name())
                .resolve(&w)
                .unwrap();
            assert_eq!(s.reply_wait, r);
        }
    }

    #[test]
    fn a_program_varies_one_setting_with_one_call() {
        let w = rw();
        let base = Layers::default().set("seed", 7i64);
        let s = base.clone().set("threads", 12i64).resolve(&w).unwrap();
        assert_eq!((s.threads, s.client_threads, s.seed), (12, 12, 7));
        assert_eq!(s.origins["threads"], Origin::Flag);
        let s = base.clone().set("point_selects", 3i64).resolve(&w).unwrap();
        assert_eq!(s.vars["point_selects"], 3);
        let e = base.clone().set("treads", 3i64).resolve(&w).unwrap_err();
        assert!(e.to_string().contains("unknown setting"), "{e}");
        let e = base.set("threads", 0i64).resolve(&w).unwrap_err();
        assert!(e.to_string().contains("at least 1"), "{e}");
    }

    #[test]
    fn numbers_out_of_range_are_refused_before_any_work() {
        let w = rw();
        for (k, v, says) in [
            ("duration", "18446744073709551615s", "at most 30 d"),
            ("threads", "10001", "at most 10000"),
            ("tables", "1000000000", "at most 100000"),
            ("rand_spec_res", "100", "at most 99"),
            ("rand_pareto_h", "1", "between 0 and 1"),
            ("rate", "-1", "≥ 0"),
        ] {
            let e = Settings::resolve(&w, &[(k.into(), v.into())], &[])
                .unwrap_err()
                .to_string();
            assert!(e.contains(k) && e.contains(says), "{k}={v}: {e}");
        }
    }

    /// The table in `workloads/README.md` is generated from [`SETTINGS`]; after changing a
    /// descriptor, `LOADGATE_BLESS=1 cargo test --lib settings::` writes it anew.
    #[test]
    fn the_settings_table_in_the_docs_is_the_descriptors() {
        const BEGIN: &str = "<!-- settings-table:begin (generated from src/settings.rs) -->\n";
        const END: &str = "<!-- settings-table:end -->";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/workloads/README.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let (a, b) = (
            doc.find(BEGIN).expect("begin marker"),
            doc.find(END).expect("end marker"),
        );
        let table = &doc[a + BEGIN.len()..b];
        let want = markdown_table();
        if table != want {
            if std::env::var_os("LOADGATE_BLESS").is_some() {
                let new = format!("{}{want}{}", &doc[..a + BEGIN.len()], &doc[b..]);
                std::fs::write(path, new).unwrap();
            } else {
                panic!("workloads/README.md's settings table differs from the descriptors; run LOADGATE_BLESS=1 cargo test --lib settings:: to write it:\n{want}");
            }
        }
    }

    #[test]
    fn the_comparable_flag_decides_what_comparisons_ignore() {
        let ignored = incomparable_fields();
        for d in SETTINGS {
            assert_eq!(ignored.contains(&d.field), !d.comparable, "{}", d.key);
        }
        assert!(ignored.contains(&"seed") && !ignored.contains(&"threads"));
    }

    #[test]
    fn many_workers_share_client_threads_unless_told_otherwise() {
        let w = rw();
        let at = |threads: i64, client: i64| {
            let s = Layers::default()
                .set("threads", threads)
                .set("client_threads", client)
                .resolve(&w)
                .unwrap();
            s.client_threads
        };
        assert_eq!(at(OWN_THREAD_MAX_WORKERS.into(), 0), OWN_THREAD_MAX_WORKERS);
        assert_eq!(
            at(1000, 0),
            OWN_THREAD_MAX_WORKERS,
            "1,000 workers, shared threads"
        );
        assert_eq!(at(1000, 1000), 1000, "asked for: one per worker");
        assert_eq!(at(8, 100), 8, "never more threads than workers");
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
