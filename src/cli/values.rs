//! The values of enumerated flags (`clap::ValueEnum`, so `--help` lists them and clap refuses
//! anything else with exit code 2) and the value parsers of durations and lists.
//!
//! Where the domain already has an enum ([`Dist`], [`Level`], [`RunStatus`], [`Metric`],
//! [`BadRowPolicy`]), it is the flag's value type; only choices that are not a domain value
//! (`all` among the bulk strategies, the output formats) have an enum of their own here.

use clap::builder::PossibleValue;
use clap::ValueEnum;

use crate::bulk::{BadRowPolicy, Strategy};
use crate::record::gate::{Design, MetricSet};
use crate::record::{Level, RunStatus};
use crate::regress::Metric;
use crate::workload::gen::Dist;

impl ValueEnum for Dist {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            Dist::Uniform,
            Dist::Special,
            Dist::Gaussian,
            Dist::Pareto,
            Dist::Zipfian,
        ]
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

impl ValueEnum for Level {
    fn value_variants<'a>() -> &'a [Self] {
        &[Level::Warning, Level::Critical]
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Level::Warning => PossibleValue::new("warning").alias("warn"),
            Level::Critical => PossibleValue::new("critical").alias("crit"),
        })
    }
}

impl ValueEnum for RunStatus {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            RunStatus::Complete,
            RunStatus::Partial,
            RunStatus::Failed,
            RunStatus::Running,
            RunStatus::Interrupted,
        ]
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.as_str()))
    }
}

impl ValueEnum for Metric {
    fn value_variants<'a>() -> &'a [Self] {
        &Metric::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

impl ValueEnum for Design {
    fn value_variants<'a>() -> &'a [Self] {
        &Design::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

impl ValueEnum for BadRowPolicy {
    fn value_variants<'a>() -> &'a [Self] {
        &[BadRowPolicy::Stop, BadRowPolicy::Skip]
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            BadRowPolicy::Stop => "stop",
            BadRowPolicy::Skip => "skip",
        }))
    }
}

/// One item of `bulk --strategy`: a strategy, or `all` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyArg {
    One(Strategy),
    All,
}

impl ValueEnum for StrategyArg {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            StrategyArg::One(Strategy::Row),
            StrategyArg::One(Strategy::Values),
            StrategyArg::One(Strategy::Prepared),
            StrategyArg::One(Strategy::LoadData),
            StrategyArg::All,
        ]
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            StrategyArg::One(Strategy::LoadData) => {
                PossibleValue::new("load-data").alias("load_data")
            }
            StrategyArg::One(s) => PossibleValue::new(s.name()),
            StrategyArg::All => PossibleValue::new("all"),
        })
    }
}

/// The strategies of a `--strategy` list: `all` alone, or each strategy at most once.
pub fn strategies(list: &[StrategyArg]) -> Result<Vec<Strategy>, String> {
    if list.contains(&StrategyArg::All) {
        if list.len() > 1 {
            return Err("--strategy: `all` stands alone, not in a list".into());
        }
        return Ok(Strategy::ALL.to_vec());
    }
    let mut out = Vec::new();
    for a in list {
        let StrategyArg::One(s) = *a else { continue };
        if out.contains(&s) {
            return Err(format!(
                "strategy `{}` is listed twice; use --repeats N to run each strategy N times",
                s.name()
            ));
        }
        out.push(s);
    }
    Ok(out)
}

/// Output of a command that prints text or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum TextOrJson {
    #[default]
    Text,
    Json,
}

/// Output of `bulk`: text, JSON, or the comparison as a Markdown table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum BulkFormat {
    #[default]
    Text,
    Json,
    Markdown,
}

/// Output of the commands that end in a verdict (`compare`, `ab`, `gate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ReportFormat {
    #[default]
    Text,
    Json,
    #[value(alias = "md")]
    Markdown,
    #[value(alias = "xml")]
    Junit,
}

/// A format with a `json` value (what `--json` stands for).
pub trait HasJson: ValueEnum + Clone + Copy + Default + PartialEq + Send + Sync + 'static {
    const JSON: Self;
}

impl HasJson for TextOrJson {
    const JSON: Self = TextOrJson::Json;
}
impl HasJson for BulkFormat {
    const JSON: Self = BulkFormat::Json;
}
impl HasJson for ReportFormat {
    const JSON: Self = ReportFormat::Json;
}

/// `--report FORMAT=FILE`.
pub fn parse_report(s: &str) -> Result<(ReportFormat, std::path::PathBuf), String> {
    let (f, path) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected FORMAT=FILE, e.g. junit=gate.xml"))?;
    let f = ReportFormat::from_str(f, false)
        .map_err(|_| format!("report format `{f}`: use text, json, markdown or junit"))?;
    Ok((f, std::path::PathBuf::from(path)))
}

/// A duration flag as the user typed it (10s, 500ms, 2m, 1h), checked by
/// [`crate::settings::parse_duration`], the one duration parser; the text is kept because the
/// settings resolve it themselves (and record where each value came from).
pub fn duration_text(s: &str) -> Result<String, String> {
    crate::settings::parse_duration(s).map(|_| s.to_string())
}

/// The longest duration a flag takes: 30 days, as the run settings' durations.
pub const MAX_SECONDS: f64 = 30.0 * 86_400.0;

/// The longest connect timeout: an hour, as the `connect_timeout` setting.
pub const MAX_CONNECT_TIMEOUT_S: f64 = 3_600.0;

/// `--connect-timeout`: a duration of at most [`MAX_CONNECT_TIMEOUT_S`], kept as typed.
pub fn connect_timeout(s: &str) -> Result<String, String> {
    if crate::settings::parse_duration(s)? > MAX_CONNECT_TIMEOUT_S {
        return Err(format!("`{s}` is longer than 1h"));
    }
    Ok(s.to_string())
}

/// A duration flag in seconds, for durations used directly (not through the settings): at
/// most [`MAX_SECONDS`].
pub fn seconds(s: &str) -> Result<f64, String> {
    let v = crate::settings::parse_duration(s)?;
    if v > MAX_SECONDS {
        return Err(format!("`{s}` is longer than 30 days"));
    }
    Ok(v)
}

/// `--mde`: a relative effect from 0.1 % to below 100 % (`5%` or `0.05`).
/// `--metrics`: see [`MetricSet::parse`].
pub fn metric_set(s: &str) -> Result<MetricSet, String> {
    MetricSet::parse(s)
}

pub fn mde(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    };
    match v {
        Ok(v) if v.is_finite() && (0.001..1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "`{s}`: expected a relative effect such as 5% or 0.05, from 0.1 % to below 100 %"
        )),
    }
}

/// The longest `--max-time`: 24 hours.
pub const MAX_TIME_S: f64 = 86_400.0;

/// `--max-time`: a duration from 1 s to 24 h, in seconds.
pub fn max_time(s: &str) -> Result<f64, String> {
    let v = crate::settings::parse_duration(s)?;
    if !(1.0..=MAX_TIME_S).contains(&v) {
        return Err(format!("`{s}`: expected a duration from 1s to 24h"));
    }
    Ok(v)
}

/// The most workers a thread count names, as the `threads` setting.
pub const MAX_THREADS: u32 = 10_000;

/// One item of a thread-count list (`--threads 1,4,16`): 1 to [`MAX_THREADS`].
pub fn thread_count(s: &str) -> Result<u32, String> {
    s.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_THREADS).contains(n))
        .ok_or_else(|| {
            format!("`{s}`: expected a number from 1 to {MAX_THREADS}, or a list such as 1,4,16")
        })
}

/// A count flag (`--limit`, `--min-pairs`) in `range`: refused by clap with the range named.
pub fn count(
    range: std::ops::RangeInclusive<u64>,
) -> impl clap::builder::TypedValueParser<Value = usize> {
    use clap::builder::TypedValueParser;
    clap::value_parser!(u64)
        .range(range)
        .map(|v| usize::try_from(v).unwrap_or(usize::MAX))
}
