//! Command-line arguments of the regression commands (`baseline`, `compare`, `ab`, `gate`,
//! `history`, `calibrate`), clap-derived like [`crate::cli`]. Nothing here does I/O.

use clap::{Args, Subcommand};
use std::path::PathBuf;

use super::values::{self, ReportFormat, TextOrJson};
use super::{FormatArgs, ServerOptArgs, SettingArgs, TargetArgs, TimingArgs};
use crate::record::gate::{Design, MetricSet};
use crate::regress::Metric;

/// The workload, its settings and the target, for commands that run trials.
#[derive(Debug, Args, Clone, Default)]
pub struct TrialArgs {
    /// Built-in workload name or path to a workload .toml file (side A's in an A/B job).
    #[arg(default_value = "oltp_read_write")]
    pub workload: String,

    /// Concurrent workers [default: the workload's threads, else 1]. `ab` and `gate --ab` take
    /// a list (1,4,16): one comparison per count.
    #[arg(long, value_name = "N[,N...]", value_delimiter = ',', value_parser = values::thread_count)]
    pub threads: Vec<u32>,

    #[command(flatten)]
    pub settings: SettingArgs,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub timing: TimingArgs,

    #[command(flatten)]
    pub server: ServerOptArgs,
}

/// How A and B differ. Anything not given is the same on both sides.
#[derive(Debug, Args, Clone, Default)]
pub struct SidesArgs {
    /// Workload file (or built-in name) for B; A runs the positional WORKLOAD.
    #[arg(long, value_name = "WORKLOAD")]
    pub workload_b: Option<String>,

    /// Target of A (over --target).
    #[arg(long, value_name = "URL")]
    pub target_a: Option<String>,

    /// Target of B (over --target), e.g. the same server through a proxy.
    #[arg(long, value_name = "URL")]
    pub target_b: Option<String>,

    /// A setting for A only (repeatable): --set-a range_size=50.
    #[arg(long = "set-a", value_name = "KEY=VALUE")]
    pub set_a: Vec<String>,

    /// A setting for B only (repeatable): --set-b point_selects=12.
    #[arg(long = "set-b", value_name = "KEY=VALUE")]
    pub set_b: Vec<String>,

    /// Workers of A (instead of --threads).
    #[arg(long, value_name = "N", value_parser = values::thread_count)]
    pub threads_a: Option<u32>,

    /// Workers of B (instead of --threads).
    #[arg(long, value_name = "N", value_parser = values::thread_count)]
    pub threads_b: Option<u32>,

    /// Name of A in the report [default: A, or "direct" when only the targets differ].
    #[arg(long, value_name = "TEXT")]
    pub label_a: Option<String>,

    /// Name of B in the report [default: B].
    #[arg(long, value_name = "TEXT")]
    pub label_b: Option<String>,
}

impl SidesArgs {
    /// True when any flag makes A and B differ.
    pub fn any(&self) -> bool {
        self.workload_b.is_some()
            || self.target_a.is_some()
            || self.target_b.is_some()
            || !self.set_a.is_empty()
            || !self.set_b.is_empty()
            || self.threads_a.is_some()
            || self.threads_b.is_some()
    }
}

/// How verdicts are made.
#[derive(Debug, Args, Clone, Default)]
pub struct VerdictArgs {
    /// Practical margin: changes inside ± margin do not matter [default: 3%]. Widened per
    /// metric by this testbed's calibration (see `calibrate`).
    #[arg(long, value_name = "PCT")]
    pub margin: Option<String>,

    /// One-sided false-alarm rate for "regressed", over all metrics [default: 0.01].
    #[arg(long, value_name = "P")]
    pub alpha: Option<f64>,

    /// Ignore the stored calibration (use the margin as given).
    #[arg(long)]
    pub no_calibration: bool,

    /// The metrics judged: default, all, time (tps, p99, error_rate), work (rows_per_txn,
    /// pages_per_txn, spills_per_txn), cpu (client_cpu_per_txn, server_cpu_per_txn) or a
    /// comma-separated list; the others are shown, not judged. A metric named in a list that
    /// was not measured makes the verdict inconclusive [default: time and work, each work
    /// metric where measured; all adds cpu].
    #[arg(long, value_name = "LIST", value_parser = values::metric_set)]
    pub metrics: Option<MetricSet>,
}

/// Sequential A/B settings.
#[derive(Debug, Args, Clone, Default)]
pub struct PairsArgs {
    /// First look after this many A/B pairs, 2–1000 [default: 3].
    #[arg(long, value_name = "N", value_parser = values::count(2..=1000))]
    pub min_pairs: Option<usize>,

    /// Stop after this many pairs at the latest, 2–1000 [default: 16, or 64 with --mde].
    #[arg(long, value_name = "N", value_parser = values::count(2..=1000))]
    pub max_pairs: Option<usize>,

    /// How A and B run: abba (separate trials, interleaved A B B A) or same-seconds (both in
    /// every trial, each transaction assigned to A or B at random on the same connections;
    /// only when they differ in workload text or workload variables alone; --min-pairs and
    /// --max-pairs then count trials) [default: abba].
    #[arg(long, value_enum, value_name = "DESIGN")]
    pub design: Option<Design>,
    /// Keep adding pairs until every undecided metric could detect a change this large
    /// (minimum detectable effect at 90 % power), from 0.1 % to below 100 %: `--mde 5%`.
    #[arg(long, value_name = "PCT", value_parser = values::mde)]
    pub mde: Option<f64>,

    /// Start no pair that would end after this time budget for the whole job, 1s–24h
    /// [default: none].
    #[arg(long, value_name = "DURATION", value_parser = values::max_time)]
    pub max_time: Option<f64>,
}

/// Where the verdict goes.
#[derive(Debug, Args, Clone, Default)]
pub struct OutputArgs {
    // Format of the report on stdout or in --output.
    #[command(flatten)]
    pub format: FormatArgs<ReportFormat>,

    /// Write the report to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Also write the report in another format (repeatable): --report junit=gate.xml (formats
    /// as for --format).
    #[arg(long = "report", value_name = "FORMAT=FILE", value_parser = values::parse_report)]
    pub reports: Vec<(ReportFormat, PathBuf)>,
}

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Save a run set (the last one by default) as a named baseline.
    Save(BaselineSaveArgs),
    /// List the saved baselines.
    List(BaselineListArgs),
    /// Show one baseline: testbed, workload, settings and its runs.
    Show(BaselineShowArgs),
    /// Remove a baseline (its runs stay in the store).
    Rm(BaselineRmArgs),
}

#[derive(Debug, Args)]
pub struct BaselineSaveArgs {
    /// Name, e.g. main or v1.4.
    pub name: String,
    /// Run set to save [default: the last set of `run --trials`, `gate` or `calibrate`].
    #[arg(long, value_name = "SET")]
    pub run_set: Option<String>,
    /// Replace a baseline of the same name.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct BaselineListArgs {
    #[command(flatten)]
    pub format: FormatArgs<TextOrJson>,
}

#[derive(Debug, Args)]
pub struct BaselineShowArgs {
    pub name: String,
    #[command(flatten)]
    pub format: FormatArgs<TextOrJson>,
}

#[derive(Debug, Args)]
pub struct BaselineRmArgs {
    pub name: String,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline to compare with.
    #[arg(long, value_name = "NAME")]
    pub baseline: String,

    /// Candidate run set [default: the last set of `run --trials` or `gate`].
    #[arg(long, value_name = "SET")]
    pub candidate: Option<String>,

    /// Compare even if testbed, workload or settings differ (the report says so).
    #[arg(long)]
    pub allow_mismatch: bool,

    #[command(flatten)]
    pub verdict: VerdictArgs,

    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct AbArgs {
    #[command(flatten)]
    pub trial: TrialArgs,
    #[command(flatten)]
    pub sides: SidesArgs,
    #[command(flatten)]
    pub verdict: VerdictArgs,
    #[command(flatten)]
    pub pairs: PairsArgs,
    #[command(flatten)]
    pub out: OutputArgs,
    /// Re-create the workload's tables before the trials even if they exist.
    #[arg(long)]
    pub prepare: bool,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    #[command(flatten)]
    pub trial: TrialArgs,

    /// Compare N fresh trials with this baseline.
    #[arg(long, value_name = "NAME", conflicts_with = "ab")]
    pub baseline: Option<String>,

    /// A/B in one job (implied by any of --target-a/-b, --set-a/-b, --threads-a/-b,
    /// --workload-b; alone it is an A/A job).
    #[arg(long)]
    pub ab: bool,

    /// Trials against a baseline, 2–1000 [default: 5].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub trials: Option<u32>,

    /// Compare even if testbed, workload or settings differ from the baseline.
    #[arg(long)]
    pub allow_mismatch: bool,

    /// Re-create the workload's tables before the trials even if they exist.
    #[arg(long)]
    pub prepare: bool,

    #[command(flatten)]
    pub sides: SidesArgs,
    #[command(flatten)]
    pub verdict: VerdictArgs,
    #[command(flatten)]
    pub pairs: PairsArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Workload name as stored (see `loadgate runs`).
    pub workload: String,

    /// The metric.
    #[arg(long, value_enum, default_value_t = Metric::Tps, value_name = "METRIC")]
    pub metric: Metric,

    /// Only this testbed fingerprint (default: every testbed, one series each).
    #[arg(long, value_name = "FP")]
    pub testbed: Option<String>,

    /// Minimum runs on each side of a change point, 2–1000 [default: 5].
    #[arg(long, value_name = "N", value_parser = values::count(2..=1000))]
    pub min_segment: Option<usize>,

    #[command(flatten)]
    pub format: FormatArgs<TextOrJson>,
}

/// `calibrate WORKLOAD ...` runs a calibration; `calibrate list|show|rm` manages the stored ones.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CalibrateArgs {
    #[command(subcommand)]
    pub command: Option<CalibrateCommand>,

    #[command(flatten)]
    pub trial: TrialArgs,

    /// A/A trials to run, 5–1000 [default: 8].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub trials: Option<u32>,

    /// Re-create the workload's tables before the trials even if they exist.
    #[arg(long)]
    pub prepare: bool,

    #[command(flatten)]
    pub format: FormatArgs<TextOrJson>,
}

#[derive(Debug, Subcommand)]
pub enum CalibrateCommand {
    /// List the stored calibrations, newest first, and whether each is applied.
    List(CalibrateListArgs),
    /// Show one calibration: its noise, the margins it sets and whether it is applied.
    Show(CalibrateShowArgs),
    /// Remove a calibration (its runs stay in the store); later comparisons use the one
    /// before it, if any.
    Rm(CalibrateRmArgs),
}

#[derive(Debug, Args)]
pub struct CalibrateListArgs {
    /// Only this workload's calibrations (the name as stored).
    #[arg(long, value_name = "WORKLOAD")]
    pub workload: Option<String>,
    #[command(flatten)]
    pub format: FormatArgs<TextOrJson>,
}

#[derive(Debug, Args)]
pub struct CalibrateShowArgs {
    /// The calibration's id (see `calibrate list`).
    pub id: i64,
    #[command(flatten)]
    pub format: FormatArgs<TextOrJson>,
}

#[derive(Debug, Args)]
pub struct CalibrateRmArgs {
    /// The calibration's id (see `calibrate list`).
    pub id: i64,
}
