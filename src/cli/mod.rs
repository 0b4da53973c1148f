//! Command-line arguments (clap derive). Turned into validated settings by `app` and
//! [`crate::settings::Settings::resolve`]; nothing here touches the network or the store.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

mod monitor;
pub mod regress;
pub use monitor::{AlertArgs, HealthArgs, MonitorArgs, RunMonitorArgs};
pub use regress::{AbArgs, BaselineCommand, CalibrateArgs, CompareArgs, GateArgs, HistoryArgs};

/// MySQL/MariaDB benchmark and load-testing harness with regression tracking.
///
/// Runs sysbench-compatible and custom workloads against a server or a proxy, measures
/// latency truthfully (open-loop schedules count from the intended start), and stores every
/// run in SQLite. With no --target, `run` starts a throwaway local server.
#[derive(Debug, Parser)]
#[command(
    name = "loadgate",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Run store (SQLite file).
    #[arg(long, global = true, env = "LOADGATE_STORE", value_name = "PATH")]
    pub store: Option<PathBuf>,

    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Less output on stderr: no progress, no live lines.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process; boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and fill the workload's tables.
    Prepare(PrepareArgs),
    /// Run a workload and store the run.
    Run(RunArgs),
    /// Drop the workload's tables (only the ones loadgate created).
    Cleanup(CleanupArgs),
    /// List built-in and file workloads.
    Workloads(WorkloadsArgs),
    /// List stored runs, newest first.
    Runs(RunsArgs),
    /// Show one stored run.
    Show(ShowArgs),
    /// Manage a throwaway local server that outlives one command.
    #[command(subcommand)]
    Server(ServerCommand),
    /// Watch a server's metrics live (any server, not only one under load) and store them.
    Monitor(MonitorArgs),
    /// Check a server once: ok / warning / critical (exit 0 / 1 / 2), for readiness probes.
    Health(HealthArgs),
    /// Save, list, show and remove named baselines (frozen run sets).
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// Compare a run set with a baseline: a verdict per metric (exit 0 pass, 1 regression, 3
    /// inconclusive).
    Compare(CompareArgs),
    /// A/B in one job: interleaved A B B A trials, sequential paired comparison.
    Ab(AbArgs),
    /// The CI gate: prepare if needed, run trials, compare with a baseline or A/B, exit 0
    /// pass, 1 regression, 3 inconclusive.
    Gate(GateArgs),
    /// A metric over stored runs, per testbed, with change points.
    History(HistoryArgs),
    /// A/A trials on this testbed: the run-to-run noise that widens compare's margins.
    Calibrate(CalibrateArgs),
    /// Bulk sync: upsert N rows into a target table by row, values, prepared or load-data, and
    /// verify target = source.
    Bulk(BulkArgs),
    /// Index before/after: measure read probes and a write mix, add indexes (online DDL), check
    /// EXPLAIN, measure again, judge, roll back.
    Index(IndexArgs),
}

/// Where to connect.
#[derive(Debug, Args, Clone, Default)]
pub struct TargetArgs {
    /// Server or proxy: mysql://user[:password]@host[:port][/database]. Without it, the server
    /// from `loadgate server start` if one is running, else (for `run`) a throwaway server.
    #[arg(long, env = "LOADGATE_TARGET", value_name = "URL")]
    pub target: Option<String>,

    /// Read the password from the first line of this file (over the URL and MYSQL_PWD).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Connect timeout, e.g. 10s.
    #[arg(long, value_name = "DURATION")]
    pub connect_timeout: Option<String>,

    /// Database (schema) for the workload's tables [default: loadgate].
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
}

/// Workload and its settings.
#[derive(Debug, Args, Clone, Default)]
pub struct WorkloadArgs {
    /// Built-in workload name or path to a workload .toml file.
    #[arg(default_value = "oltp_read_write")]
    pub workload: String,

    /// Concurrent workers, one connection each.
    #[arg(long, value_name = "N")]
    pub threads: Option<u32>,

    /// Number of tables.
    #[arg(long, value_name = "N")]
    pub tables: Option<u32>,

    /// Rows per table.
    #[arg(long, value_name = "N")]
    pub table_size: Option<u64>,

    /// Default random distribution: uniform, special, gaussian, pareto, zipfian.
    #[arg(long, value_name = "DIST")]
    pub rand_type: Option<String>,

    /// Random seed (0 picks one; the seed used is stored).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Override any setting, workload variables included (repeatable): --set range_size=50.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PrepareArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Prepare even if the database holds tables this workload does not own (they are never
    /// touched; a same-named table that loadgate did not create is never replaced).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,
    #[command(flatten)]
    pub target: TargetArgs,

    /// Measured time after warm-up, e.g. 30s, 2m (0 = until --events).
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,

    /// Time before measuring; its transactions are not counted.
    #[arg(long, value_name = "DURATION")]
    pub warmup: Option<String>,

    /// Open loop: target transactions per second over all workers (0 = closed loop).
    #[arg(long, value_name = "TPS")]
    pub rate: Option<f64>,

    /// Stop after this many transactions.
    #[arg(long, value_name = "N")]
    pub events: Option<u64>,

    /// Live line interval, e.g. 1s; 0 shows a progress bar instead.
    #[arg(long, value_name = "DURATION")]
    pub report_interval: Option<String>,

    /// Client runtime threads (0 = one per worker; fewer threads each serve several workers).
    #[arg(long, value_name = "N")]
    pub client_threads: Option<u32>,

    /// Print the JSON report (schema reports/schema/run-v1.json) instead of the text summary.
    #[arg(long)]
    pub json: bool,

    /// Write the report to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Extra option for the throwaway server (repeatable), e.g. --server-arg=--performance-schema=ON.
    #[arg(long = "server-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub server_args: Vec<String>,

    #[command(flatten)]
    pub monitor: RunMonitorArgs,
    /// Run N independent trials (fresh connections and a warm-up each), stored as one run set
    /// for `baseline save` and `compare`.
    #[arg(long, value_name = "N")]
    pub trials: Option<u32>,
}

#[derive(Debug, Args)]
pub struct WorkloadsArgs {
    /// Also list .toml files in this directory.
    #[arg(long, default_value = "workloads", value_name = "DIR")]
    pub dir: PathBuf,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs of this workload.
    #[arg(long)]
    pub workload: Option<String>,
    /// Only runs with this status: complete, partial, failed, running.
    #[arg(long)]
    pub status: Option<String>,
    /// Only runs of this run set (see `run --trials`).
    #[arg(long, value_name = "SET")]
    pub set: Option<String>,
    /// At most this many runs.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Run id, or `last`.
    pub run: String,
    /// JSON report (schema reports/schema/run-v1.json).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Start a throwaway local server in the background and print its URL.
    Start(ServerArgs),
    /// Stop it and delete its data directory.
    Stop(ServerArgs),
    /// Say whether one is running, and where.
    Status(ServerArgs),
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Where the server's state file lives [default: $LOADGATE_STATE_DIR, $XDG_RUNTIME_DIR/loadgate or /tmp/loadgate-UID].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Extra server option (repeatable), e.g. --server-arg=--performance-schema=ON.
    #[arg(long = "server-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `loadgate bulk`.
#[derive(Debug, Args)]
pub struct BulkArgs {
    /// Bulk sync workload: `bulk_sync` (built in) or a path to a `kind = "bulk_sync"` file.
    #[arg(default_value = "bulk_sync")]
    pub workload: String,

    /// row, values, prepared, load-data, a comma-separated list of them, or all (each in turn on
    /// a fresh target, one table).
    #[arg(long, value_name = "NAME[,NAME...]")]
    pub strategy: Option<String>,

    /// Run every strategy N times, in N rounds, the order rotated each round; the table then
    /// shows the median rows/s and the spread (min–max) [default: the workload's `repeats`, 1].
    #[arg(long, value_name = "N")]
    pub repeats: Option<u32>,

    /// Rows the generator makes [default: the workload's `rows`, 100000].
    #[arg(long, value_name = "N")]
    pub rows: Option<u64>,

    /// Rows per batch (one transaction each) [default: sized from max_allowed_packet; 1 for row].
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,

    /// Connections working in parallel [default: 2].
    #[arg(long, value_name = "N")]
    pub workers: Option<u32>,

    /// A row the server refuses: stop (fail the run) or skip (count it and go on) [default: stop].
    #[arg(long, value_name = "POLICY")]
    pub on_bad_row: Option<String>,

    /// Read the rows from a table on this server instead of generating them:
    /// mysql://user@host:port/DATABASE (the table: --source-table or the workload's [source]).
    #[arg(long, value_name = "URL")]
    pub source: Option<String>,

    /// The table read from --source.
    #[arg(long, value_name = "NAME")]
    pub source_table: Option<String>,

    /// Generator seed [default: the workload's `seed`, 42].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Generate revision R of the rows: revisions 1..=R each change --changed-pct of them (for
    /// re-syncs that update some rows).
    #[arg(long, value_name = "R")]
    pub revision: Option<u32>,

    /// Percent of rows each revision changes [default: the workload's `changed_pct`, 10].
    #[arg(long, value_name = "PCT")]
    pub changed_pct: Option<f64>,

    /// Put N bad values (from the workload's [[bad_values]]) into N rows spread over the run.
    #[arg(long, value_name = "N")]
    pub bad_rows: Option<u64>,

    /// Fault injection: every Nth batch, kill the worker's own connection before COMMIT, so the
    /// batch must be retried (shows that nothing is lost or applied twice).
    #[arg(long, value_name = "N")]
    pub fault_every: Option<u64>,

    /// Drop and recreate the target table first (only a table loadgate created).
    #[arg(long)]
    pub fresh: bool,

    /// Sync into a database that holds tables loadgate does not own (they are never touched).
    #[arg(long)]
    pub force: bool,

    /// JSON output: one object per strategy (run id and result).
    #[arg(long)]
    pub json: bool,

    /// With --strategy all: print the comparison as a Markdown table.
    #[arg(long)]
    pub markdown: bool,

    /// Write the generated rows to FILE in LOAD DATA's default format (tab-separated, `\N` for
    /// NULL, column order of the workload) and exit without connecting: the same rows for
    /// another client, e.g. `mariadb`'s LOAD DATA LOCAL INFILE.
    #[arg(long, value_name = "FILE")]
    pub dump_tsv: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub target: TargetArgs,

    /// Extra option for the throwaway server (repeatable), e.g. --server-arg=--local-infile=0.
    #[arg(long = "server-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
}

/// `loadgate index`.
#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Index workload: `index_before_after` (built in) or a path to a
    /// `kind = "index_before_after"` file.
    #[arg(default_value = "index_before_after")]
    pub workload: String,

    /// Keep the indexes afterwards (default: drop them and check the schema is as before).
    #[arg(long)]
    pub keep: bool,

    /// Acceptance bars, e.g. reads=50%,writes=10%: every probe at least 50 % faster (mean
    /// latency), the write mix at most 10 % slower (throughput) [default: the file's, else those].
    #[arg(long, value_name = "BARS")]
    pub acceptance: Option<String>,

    /// Each measured part of a phase (probes under writes; writes alone), e.g. 10s.
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,

    /// Warm-up before each measured part, not counted.
    #[arg(long, value_name = "DURATION")]
    pub warmup: Option<String>,

    /// The write mix alone after setup, not measured, so that both phases start from
    /// steady-state pages (freshly loaded pages split on their first writes) [default: 10s].
    #[arg(long, value_name = "DURATION")]
    pub settle: Option<String>,

    /// Connections running the read probes.
    #[arg(long, value_name = "N")]
    pub read_workers: Option<u32>,

    /// Connections running the write mix.
    #[arg(long, value_name = "N")]
    pub write_workers: Option<u32>,

    /// Random seed for the table contents and parameters.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Override an integer variable of the workload (repeatable): --set orders=1000000.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,

    /// Use the workload's tables as they are instead of recreating and refilling them.
    #[arg(long)]
    pub reuse: bool,

    /// Run in a database that holds tables loadgate does not own (they are never touched).
    #[arg(long)]
    pub force: bool,

    /// Print the whole report as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub target: TargetArgs,

    /// Extra option for the throwaway server (repeatable).
    #[arg(long = "server-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
