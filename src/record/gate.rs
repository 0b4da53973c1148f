//! [`GateReport`]: the result of a comparison (`compare`, `ab`, `gate`), the one type behind
//! the text, JSON (schema `schema/gate-v1.json`), Markdown and JUnit outputs
//! (`crate::report::{gate, markdown, junit}`), and the [`Metric`]s it judges. Part of the
//! model: `regress` computes it, `report` renders it.

use serde::Serialize;

use crate::error::exit;
use crate::stats::{Direction, Interval, MarginRule, Verdict};
use crate::util::pct;
use serde::Deserialize;

/// Version of the JSON gate report; bump with breaking changes to the schema.
pub const SCHEMA_ID: &str = "loadgate.gate/v1";

/// A primary metric of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Tps,
    P99,
    ErrorRate,
    /// Rows examined (the `Handler_read_*` sum) per committed transaction.
    RowsPerTxn,
    /// Buffer-pool page requests per committed transaction.
    PagesPerTxn,
    /// Disk spills per committed transaction: temporary tables created on disk plus sort
    /// merge passes. Mostly zero; judged like the error rate, a count per transaction.
    SpillsPerTxn,
    /// CPU time of loadgate's client threads per committed transaction, in microseconds.
    ClientCpuPerTxn,
    /// CPU time of the server process per committed transaction, in microseconds; measured
    /// only for a throwaway server loadgate started itself.
    ServerCpuPerTxn,
}

impl Metric {
    /// How many metrics there are: the length of [`Metric::ALL`] and of a margin array.
    pub const COUNT: usize = 8;

    pub const ALL: [Metric; Metric::COUNT] = [
        Metric::Tps,
        Metric::P99,
        Metric::ErrorRate,
        Metric::RowsPerTxn,
        Metric::PagesPerTxn,
        Metric::SpillsPerTxn,
        Metric::ClientCpuPerTxn,
        Metric::ServerCpuPerTxn,
    ];

    /// The CPU metrics: judged only when asked for (`--metrics cpu` or `all`), because on a
    /// shared machine CPU time per transaction moves with the machine's load.
    pub const CPU: [Metric; 2] = [Metric::ClientCpuPerTxn, Metric::ServerCpuPerTxn];

    /// The work metrics, in order.
    pub const WORK: [Metric; 3] = [
        Metric::RowsPerTxn,
        Metric::PagesPerTxn,
        Metric::SpillsPerTxn,
    ];

    /// The metrics of time and errors, which every run has.
    pub const CORE: [Metric; 3] = [Metric::Tps, Metric::P99, Metric::ErrorRate];

    /// The work metrics: counted per transaction, measured only by runs that read the server's
    /// counters (see `record::work`). CPU time per transaction is recorded with the run but not
    /// judged: on a shared machine it moves with the machine's load almost as much as tps.
    pub fn is_work(self) -> bool {
        matches!(
            self,
            Metric::RowsPerTxn
                | Metric::PagesPerTxn
                | Metric::SpillsPerTxn
                | Metric::ClientCpuPerTxn
                | Metric::ServerCpuPerTxn
        )
    }

    /// A count per transaction that is mostly zero (errors, disk spills): negligible below
    /// [`crate::regress::ERROR_RATE_FLOOR`] on both sides, compared on `(count + 0.5) /
    /// (transactions + 0.5)`, and a regression must also show in the summed counts.
    pub fn is_rate(self) -> bool {
        matches!(self, Metric::ErrorRate | Metric::SpillsPerTxn)
    }

    /// Its position in [`Metric::ALL`] (and in a margin array).
    pub const fn index(self) -> usize {
        match self {
            Metric::Tps => 0,
            Metric::P99 => 1,
            Metric::ErrorRate => 2,
            Metric::RowsPerTxn => 3,
            Metric::PagesPerTxn => 4,
            Metric::SpillsPerTxn => 5,
            Metric::ClientCpuPerTxn => 6,
            Metric::ServerCpuPerTxn => 7,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::Tps => "tps",
            Metric::P99 => "p99",
            Metric::ErrorRate => "error_rate",
            Metric::RowsPerTxn => "rows_per_txn",
            Metric::PagesPerTxn => "pages_per_txn",
            Metric::SpillsPerTxn => "spills_per_txn",
            Metric::ClientCpuPerTxn => "client_cpu_per_txn",
            Metric::ServerCpuPerTxn => "server_cpu_per_txn",
        }
    }

    /// For people: what it is and its unit.
    pub fn title(self) -> &'static str {
        match self {
            Metric::Tps => "throughput (tps)",
            Metric::P99 => "corrected p99 (ms)",
            Metric::ErrorRate => "error rate (per transaction)",
            Metric::RowsPerTxn => "rows examined / txn",
            Metric::PagesPerTxn => "page requests / txn",
            Metric::SpillsPerTxn => "disk spills / txn",
            Metric::ClientCpuPerTxn => "client CPU µs / txn",
            Metric::ServerCpuPerTxn => "server CPU µs / txn",
        }
    }

    pub fn direction(self) -> Direction {
        match self {
            Metric::Tps => Direction::HigherIsBetter,
            _ => Direction::LowerIsBetter,
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        match s {
            "tps" | "throughput" => Some(Metric::Tps),
            "p99" => Some(Metric::P99),
            "error_rate" | "errors" | "error-rate" => Some(Metric::ErrorRate),
            "rows_per_txn" | "rows" => Some(Metric::RowsPerTxn),
            "pages_per_txn" | "pages" => Some(Metric::PagesPerTxn),
            "spills_per_txn" | "spills" => Some(Metric::SpillsPerTxn),
            "client_cpu_per_txn" | "client_cpu" => Some(Metric::ClientCpuPerTxn),
            "server_cpu_per_txn" | "server_cpu" => Some(Metric::ServerCpuPerTxn),
            _ => None,
        }
    }

    /// A value for people, in the metric's unit; "—" for none (a work metric not measured).
    pub fn format(self, v: f64) -> String {
        if !v.is_finite() {
            return "—".into();
        }
        match self {
            Metric::Tps => format!("{v:.1}"),
            Metric::P99
            | Metric::RowsPerTxn
            | Metric::PagesPerTxn
            | Metric::ClientCpuPerTxn
            | Metric::ServerCpuPerTxn => format!("{v:.2}"),
            Metric::ErrorRate => format!("{:.3} %", v * 100.0),
            Metric::SpillsPerTxn => format!("{v:.4}"),
        }
    }
}

/// The metrics a comparison judges (`--metrics`); the others are shown with their means but
/// not judged, and stay out of the Holm family (fewer hypotheses, more power for the rest).
///
/// The default, [`MetricSet::DEFAULT`], judges the metrics of time and errors always and a work
/// metric other than CPU when every run measured it; [`MetricSet::ALL`] adds the CPU metrics
/// where measured. A set named as a list is *required*: a metric in it that was not measured
/// makes the verdict inconclusive rather than silently passing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricSet {
    bits: u16,
    required: bool,
}

impl Default for MetricSet {
    fn default() -> Self {
        MetricSet::DEFAULT
    }
}

impl MetricSet {
    /// Every metric, each where measured (`--metrics all`).
    pub const ALL: MetricSet = MetricSet {
        bits: (1 << Metric::COUNT) - 1,
        required: false,
    };

    /// Time, errors and the work metrics other than CPU, each where measured.
    pub const DEFAULT: MetricSet = MetricSet {
        bits: ((1 << Metric::COUNT) - 1)
            & !(1 << Metric::ClientCpuPerTxn.index())
            & !(1 << Metric::ServerCpuPerTxn.index()),
        required: false,
    };

    /// The words `--metrics` takes besides metric names, and what they stand for.
    pub const GROUPS: [(&'static str, &'static [Metric]); 3] = [
        ("time", &Metric::CORE),
        ("work", &Metric::WORK),
        ("cpu", &Metric::CPU),
    ];

    /// A required set of these metrics.
    pub fn of(metrics: &[Metric]) -> MetricSet {
        MetricSet {
            bits: metrics.iter().fold(0, |b, m| b | 1 << m.index()),
            required: true,
        }
    }

    pub fn contains(self, m: Metric) -> bool {
        self.bits & (1 << m.index()) != 0
    }

    /// True when the set was named: each of its metrics must be measured to pass.
    pub fn required(self) -> bool {
        self.required
    }

    /// How many metrics it holds.
    pub fn len(self) -> usize {
        self.bits.count_ones() as usize
    }

    pub fn is_empty(self) -> bool {
        self.bits == 0
    }

    /// Its metrics, in the order of [`Metric::ALL`].
    pub fn iter(self) -> impl Iterator<Item = Metric> {
        Metric::ALL.into_iter().filter(move |m| self.contains(*m))
    }

    /// `default`, `all`, or a comma-separated list of metric names (`tps`, `p99`,
    /// `error_rate`, `rows_per_txn`, ... and their short forms) and groups (`time`, `work`,
    /// `cpu`).
    pub fn parse(s: &str) -> Result<MetricSet, String> {
        match s.trim() {
            "default" => return Ok(MetricSet::DEFAULT),
            "all" => return Ok(MetricSet::ALL),
            _ => {}
        }
        let mut metrics = Vec::new();
        for word in s.split(',').map(str::trim) {
            if let Some((_, group)) = MetricSet::GROUPS.iter().find(|(g, _)| *g == word) {
                metrics.extend_from_slice(group);
            } else if let Some(m) = Metric::parse(word) {
                metrics.push(m);
            } else {
                let groups: Vec<String> = MetricSet::GROUPS
                    .iter()
                    .map(|(g, ms)| format!("{g} ({})", group_names(ms)))
                    .collect();
                return Err(format!(
                    "unknown metric '{word}' in '{s}': use default, all, {}, or a comma-separated list of metric names and groups",
                    groups.join(", ")
                ));
            }
        }
        Ok(MetricSet::of(&metrics))
    }

    /// The names of its metrics.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Metric::name).collect()
    }
}

fn group_names(ms: &[Metric]) -> String {
    ms.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
}

impl Serialize for MetricSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

/// The overall outcome and its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// No metric regressed and none is inconclusive (exit 0).
    Pass,
    /// At least one metric regressed (exit 1).
    Regression,
    /// No regression, but at least one metric needs more runs to tell (exit 3).
    Inconclusive,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Pass => exit::OK,
            Outcome::Regression => exit::REGRESSION,
            Outcome::Inconclusive => exit::INCONCLUSIVE,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Regression => "regression",
            Outcome::Inconclusive => "inconclusive",
        }
    }

    /// Regression if any metric regressed, else inconclusive if any is, else pass.
    pub fn of<'a>(verdicts: impl IntoIterator<Item = &'a Verdict>) -> Outcome {
        let mut out = Outcome::Pass;
        for v in verdicts {
            match v {
                Verdict::Regressed => return Outcome::Regression,
                Verdict::Inconclusive => out = Outcome::Inconclusive,
                _ => {}
            }
        }
        out
    }
}

/// How the comparison was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// A candidate run set against a stored baseline (Welch on logs).
    Baseline,
    /// A and B interleaved in one job (sequential paired test on log ratios).
    Ab,
}

/// How an A/B job ran its sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Design {
    /// A and B in separate trials, interleaved A B B A (paired test on the trials' log ratios).
    Abba,
    /// A and B in the same trials: each transaction assigned to A or B at random on the same
    /// connections (one-sample test on the within-trial log ratios).
    SameSeconds,
}

impl Design {
    pub const ALL: [Design; 2] = [Design::Abba, Design::SameSeconds];

    pub fn name(self) -> &'static str {
        match self {
            Design::Abba => "abba",
            Design::SameSeconds => "same-seconds",
        }
    }

    /// For people: what ran.
    pub fn title(self) -> &'static str {
        match self {
            Design::Abba => "ABBA (A and B in separate, interleaved trials)",
            Design::SameSeconds => {
                "same seconds (A and B in the same trials, each transaction assigned at random)"
            }
        }
    }
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    /// "baseline", "candidate", "A", "B", or the user's label ("direct", "via proxy").
    pub label: String,
    pub workload: String,
    pub workload_hash: String,
    /// Redacted target URL.
    pub target: String,
    pub threads: u32,
    /// The baseline's name, for the baseline side of `compare`.
    pub baseline: Option<String>,
    pub set_id: Option<String>,
    pub run_ids: Vec<i64>,
    /// Settings that differ from the other side (`point_selects: 10 → 12`), on side B only.
    pub differs_by: Vec<String>,
}

/// The verdict on one metric, with everything printed next to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricResult {
    pub metric: Metric,
    pub verdict: Verdict,
    /// The verdict in words, finer than `verdict`: `regressed`, `improved`, `unchanged`,
    /// `no regression` (A/B: a regression of the margin excluded, the change not shown to be
    /// inside ± margin; counts as unchanged), `negligible` (error rates too low to test),
    /// `inconclusive`.
    pub label: String,
    /// False when the metric was not tested (error rates negligible on both sides).
    pub tested: bool,
    /// Mean over the side's runs, in the metric's unit (error rate unsmoothed).
    pub a: f64,
    pub b: f64,
    /// `b/a − 1` estimated on logs (geometric), as tested.
    pub relative_change: Option<f64>,
    /// Confidence interval of the relative change (two-sided `1 − 2α`, or the repeated
    /// interval of the deciding look in A/B).
    pub ci: Option<Interval>,
    /// One-sided p-value in the direction of the observed change, unadjusted.
    pub p_value: Option<f64>,
    /// Baseline comparisons: `p_value` after Holm's correction over the metrics (in the same
    /// direction); significant when at or below `alpha`.
    pub p_adjusted: Option<f64>,
    /// A/B: the nominal one-sided level the deciding look's boundary corresponds to (after the
    /// Holm split); "worse" was significant when the unadjusted p for worse was at or below it.
    pub look_level: Option<f64>,
    /// Minimum detectable effect in the bad direction (relative, positive).
    pub mde: Option<f64>,
    /// Practical margin applied (relative), after calibration.
    pub margin: f64,
    pub n_a: usize,
    pub n_b: usize,
    /// Runs (per side) or pairs needed to detect a change of the margin with 90 % power at the
    /// noise seen here; set when the verdict is inconclusive.
    pub needed: Option<usize>,
    /// The relative change `needed` is for: the requested MDE (`--mde`) or the margin.
    pub needed_for: Option<f64>,
    /// A/B: pairs beyond those run that `needed` asks for (`needed − pairs`).
    pub more_pairs: Option<usize>,
    pub note: Option<String>,
}

impl MetricResult {
    /// A row holding the sides' means and run counts and nothing judged yet (inconclusive,
    /// tested, no interval); the caller sets what it found.
    pub fn open(metric: Metric, means: (f64, f64), runs: (usize, usize), margin: f64) -> Self {
        MetricResult {
            metric,
            verdict: Verdict::Inconclusive,
            label: Verdict::Inconclusive.to_string(),
            tested: true,
            a: means.0,
            b: means.1,
            relative_change: None,
            ci: None,
            p_value: None,
            p_adjusted: None,
            look_level: None,
            mde: None,
            margin,
            n_a: runs.0,
            n_b: runs.1,
            needed: None,
            needed_for: None,
            more_pairs: None,
            note: None,
        }
    }
}

/// One comparison: a workload at a thread count (A/B), or the whole baseline comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub title: String,
    pub a: Side,
    pub b: Side,
    /// A/B: pairs run.
    pub pairs: Option<usize>,
    /// A/B: why the job stopped ("all metrics decided after 4 pairs", "maximum of 16 pairs").
    pub stopped: Option<String>,
    /// A/B: the same, as a keyword.
    pub stop_reason: Option<StopReason>,
    pub metrics: Vec<MetricResult>,
}

/// Why an A/B job stopped adding pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// A metric regressed: the outcome cannot change any more.
    Regressed,
    /// Every metric decided (regressed, or a regression of the margin excluded).
    Decided,
    /// Every metric decided, at least one because its MDE reached the requested `--mde`.
    MdeReached,
    /// `--max-pairs` reached.
    MaxPairs,
    /// The `--max-time` budget would have been exceeded by another pair.
    MaxTime,
}

/// The calibration used to widen the margins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationUsed {
    pub id: i64,
    pub created_at: String,
    pub trials: u32,
    pub set_id: String,
    /// Run-to-run noise (log sd, ≈ relative) per metric.
    pub noise_tps: f64,
    pub noise_p99: f64,
    pub noise_error_rate: Option<f64>,
    /// Rows examined and page requests per transaction (`None`: not measured on every trial).
    pub noise_rows: Option<f64>,
    pub noise_pages: Option<f64>,
    /// Client and server CPU time per transaction (`None`: not measured on every trial).
    pub noise_client_cpu: Option<f64>,
    pub noise_server_cpu: Option<f64>,
}

/// Where the margin a verdict used came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarginSource {
    /// The margin asked for (`--margin`, or the default).
    Requested,
    /// Widened by the calibration in [`GateReport::calibration`].
    Calibration,
}

/// The margin one metric was judged with, and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarginUsed {
    pub metric: Metric,
    /// The margin applied (relative).
    pub margin: f64,
    pub source: MarginSource,
    /// When the calibration wanted a wider margin than the cap allows: the margin its noise
    /// calls for, the smallest change this testbed can tell from noise for this metric.
    pub noise_floor: Option<f64>,
}

/// The result of `compare`, `ab` or `gate`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateReport {
    pub schema: &'static str,
    pub tool_version: String,
    pub kind: ReportKind,
    pub outcome: Outcome,
    pub exit_code: u8,
    pub generated_at: String,
    /// Wall time of the job that ran the trials (None when only stored runs were compared).
    pub elapsed_s: Option<f64>,
    /// A/B: the minimum detectable effect asked for with `--mde` (relative), if any.
    pub requested_mde: Option<f64>,
    /// A/B: the time budget given with `--max-time`, in seconds, if any.
    pub max_time_s: Option<f64>,
    /// One-sided false-alarm rate for "regressed", over all metrics (Holm).
    pub alpha: f64,
    pub power: f64,
    /// The margin asked for (before calibration).
    pub margin: f64,
    pub margin_rule: MarginRule,
    /// How the numbers were obtained, in one sentence.
    pub method: String,
    /// The design of an A/B job (`None` for a comparison with a baseline).
    pub design: Option<Design>,
    /// Testbed fingerprint of the candidate (B) runs.
    pub testbed: String,
    pub calibration: Option<CalibrationUsed>,
    /// Why a stored calibration of this testbed and workload was not applied (too old, too
    /// few trials), when one was not.
    pub calibration_not_applied: Option<String>,
    /// The metrics judged (`--metrics`; all by default, work metrics where measured).
    pub metrics_judged: MetricSet,
    /// The margin each metric was judged with, and where it came from.
    pub margins: Vec<MarginUsed>,
    /// What differs between the two sides though it should not (baseline comparisons).
    pub mismatches: Vec<String>,
    /// True when the mismatches were overridden with --allow-mismatch.
    pub mismatch_allowed: bool,
    pub groups: Vec<Group>,
    pub notes: Vec<String>,
}

impl GateReport {
    /// The outcome over every metric of every group.
    pub fn decide(&mut self) {
        self.outcome = Outcome::of(
            self.groups
                .iter()
                .flat_map(|g| g.metrics.iter().map(|m| &m.verdict)),
        );
        self.exit_code = self.outcome.exit_code();
    }

    /// One line for people: `regression: tps −12.3 % (oltp_read_write, 4 threads)`.
    pub fn headline(&self) -> String {
        let mut worst: Vec<String> = Vec::new();
        for g in &self.groups {
            for m in &g.metrics {
                let show = match self.outcome {
                    Outcome::Regression => m.verdict == Verdict::Regressed,
                    Outcome::Inconclusive => m.verdict == Verdict::Inconclusive,
                    Outcome::Pass => false,
                };
                if show {
                    worst.push(format!(
                        "{} {}{}",
                        m.metric.name(),
                        m.relative_change.map_or("n/a".into(), pct),
                        if self.groups.len() > 1 {
                            format!(" ({})", g.title)
                        } else {
                            String::new()
                        }
                    ));
                }
            }
        }
        match self.outcome {
            Outcome::Pass => "pass: no regression beyond the margin".to_string(),
            Outcome::Regression => format!("regression: {}", worst.join(", ")),
            Outcome::Inconclusive => format!(
                "inconclusive: no regression shown, but more runs are needed for {}",
                worst.join(", ")
            ),
        }
    }
}
