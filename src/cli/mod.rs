//! Command-line arguments (clap derive). Turned into validated settings by `app` and
//! [`crate::settings::Settings::resolve`]; nothing here touches the network or the store.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

mod amend;
pub mod args;
mod monitor;
pub mod regress;
pub mod values;

pub use args::{ConnectArgs, FormatArgs, ServerOptArgs, SettingArgs, TargetArgs, TimingArgs};
pub use monitor::{AlertArgs, HealthArgs, MonitorArgs, RunMonitorArgs};
pub use regress::{AbArgs, BaselineCommand, CalibrateArgs, CompareArgs, GateArgs, HistoryArgs};
use values::{BulkFormat, StrategyArg, TextOrJson};

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
    /// Run store (SQLite file) [default: baselines/loadgate.db in the nearest directory upward
    /// that has a baselines/ directory, else ~/.local/share/loadgate/loadgate.db].
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

impl Cli {
    /// Parses the process's arguments. Bad input exits with clap's message and code 2, except
    /// under `health`, whose bad input is "unknown" (3, the Nagios code): a probe must not read
    /// a typo as a critical server.
    pub fn parse_args() -> Cli {
        let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let args: Vec<String> = raw
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        match Cli::try_parse_from(&raw)
            .map_err(|e| amend::amend(e, &<Cli as clap::CommandFactory>::command(), &args))
        {
            Ok(cli) => cli,
            Err(e) if e.use_stderr() && invokes_health(args.iter().skip(1).cloned()) => {
                let _ = e.print();
                std::process::exit(crate::monitor::health::UNKNOWN.into())
            }
            Err(e) => e.exit(),
        }
    }
}

/// Whether the subcommand of these arguments is `health` (the global options before it skipped).
fn invokes_health(mut args: impl Iterator<Item = String>) -> bool {
    while let Some(a) = args.next() {
        match a.as_str() {
            "--store" => {
                args.next();
            }
            s if s.starts_with('-') => {}
            s => return s == "health",
        }
    }
    false
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
    /// Bring in runs saved beside the store because it could not be written (files in
    /// `<store>.pending/`).
    Import(ImportArgs),
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
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions(CompletionsArgs),
    /// Print the man page (roff) to stdout, or write one page per command into a directory.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write loadgate.1 and one page per subcommand (loadgate-run.1, ...) into this directory
    /// (created when missing) instead of printing loadgate.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// A SQL workload, its worker count and its settings.
#[derive(Debug, Args, Clone, Default)]
pub struct WorkloadArgs {
    /// Built-in workload name or path to a workload .toml file.
    #[arg(default_value = "oltp_read_write")]
    pub workload: String,

    /// Concurrent workers, one connection each [default: the workload's threads, else 1].
    #[arg(long, value_name = "N")]
    pub threads: Option<u32>,

    #[command(flatten)]
    pub settings: SettingArgs,
}

#[derive(Debug, Args)]
pub struct PrepareArgs {
    /// Built-in workload name or path to a workload .toml file.
    #[arg(default_value = "oltp_read_write")]
    pub workload: String,
    #[command(flatten)]
    pub settings: SettingArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Prepare even if the database holds tables this workload does not own (they are never
    /// touched; a same-named table that loadgate did not create is never replaced).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Built-in workload name or path to a workload .toml file.
    #[arg(default_value = "oltp_read_write")]
    pub workload: String,

    /// Number of tables [default: the workload's tables, else 1].
    #[arg(long, value_name = "N")]
    pub tables: Option<u32>,

    /// Override any setting, workload variables included (repeatable): --set tables=4.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,

    #[command(flatten)]
    pub target: TargetArgs,
}

impl PrepareArgs {
    /// The workload and settings as `run` takes them (no workers).
    pub fn workload_args(&self) -> WorkloadArgs {
        WorkloadArgs {
            workload: self.workload.clone(),
            threads: None,
            settings: self.settings.clone(),
        }
    }
}

impl CleanupArgs {
    /// The workload and settings as `run` takes them (only what names the tables).
    pub fn workload_args(&self) -> WorkloadArgs {
        WorkloadArgs {
            workload: self.workload.clone(),
            threads: None,
            settings: SettingArgs {
                tables: self.tables,
                set: self.set.clone(),
                ..SettingArgs::default()
            },
        }
    }
}

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub workload: WorkloadArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub timing: TimingArgs,

    /// Stop after this many transactions; 0 = no limit [default: the workload's events, else 0].
    #[arg(long, value_name = "N")]
    pub events: Option<u64>,

    /// Live line interval, e.g. 1s; 0 shows a progress bar instead [default: the workload's
    /// report_interval, else 1s].
    #[arg(long, value_name = "DURATION", value_parser = values::duration_text)]
    pub report_interval: Option<String>,

    // Output: the text summary or the JSON report (schema schema/run-v1.json).
    #[command(flatten)]
    pub format: FormatArgs<TextOrJson>,

    /// Write the report to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub server: ServerOptArgs,

    #[command(flatten)]
    pub monitor: RunMonitorArgs,
    /// Run N independent trials (fresh connections and a warm-up each; 1–1000), stored as one
    /// run set for `baseline save` and `compare`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub trials: Option<u32>,
    /// Run a workload that changes data (INSERT, UPDATE, DELETE, locking reads) on tables
    /// loadgate did not create: it will modify your data. A workload that only reads runs on
    /// any tables without it. `prepare` and `cleanup` never touch such tables.
    #[arg(long)]
    pub allow_writes_to_foreign_tables: bool,
}

#[derive(Debug, Args)]
pub struct WorkloadsArgs {
    /// Also list .toml files in this directory.
    #[arg(long, default_value = "workloads", value_name = "DIR")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub format: FormatArgs<TextOrJson>,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs of this workload.
    #[arg(long)]
    pub workload: Option<String>,
    /// Only runs with this status.
    #[arg(long, value_enum)]
    pub status: Option<crate::record::RunStatus>,
    /// Only runs of this run set (see `run --trials`).
    #[arg(long, value_name = "SET")]
    pub run_set: Option<String>,
    /// At most this many runs (1–1000000).
    #[arg(long, default_value_t = 20, value_parser = values::count(1..=1_000_000))]
    pub limit: usize,
    #[command(flatten)]
    pub format: FormatArgs<TextOrJson>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Run id, or `last`; or a monitor session as `loadgate monitor` names it (`m12`).
    pub run: String,
    // Output: the text summary or the JSON report (schema schema/run-v1.json).
    #[command(flatten)]
    pub format: FormatArgs<TextOrJson>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Saved run files (`<store>.pending/run-*.json`, written when a run could not be stored).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Start a throwaway local server in the background and print its URL.
    Start(ServerStartArgs),
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
    #[command(flatten)]
    pub format: FormatArgs<TextOrJson>,
}

#[derive(Debug, Args)]
pub struct ServerStartArgs {
    #[command(flatten)]
    pub common: ServerArgs,
    #[command(flatten)]
    pub server: ServerOptArgs,
}

/// `loadgate bulk`.
#[derive(Debug, Args)]
pub struct BulkArgs {
    /// Bulk sync workload: `bulk_sync` (built in) or a path to a `kind = "bulk_sync"` file.
    #[arg(default_value = "bulk_sync")]
    pub workload: String,

    /// A strategy, a comma-separated list of them, or all (each in turn on a fresh target, one
    /// table) [default: the workload's strategy, else values].
    #[arg(long, value_name = "NAME[,NAME...]", value_enum, value_delimiter = ',')]
    pub strategy: Vec<StrategyArg>,

    /// Run every strategy N times, in N rounds, the order rotated each round; the table then
    /// shows the median rows/s and the spread (min–max) [default: the workload's `repeats`, 1].
    #[arg(long, value_name = "N")]
    pub repeats: Option<u32>,

    /// Rows the generator makes [default: the workload's `rows`, 100000].
    #[arg(long, value_name = "N")]
    pub rows: Option<u64>,

    /// Rows per batch (one transaction each) [default: the workload's `batch_size`, else sized
    /// from max_allowed_packet; 1 for row].
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,

    /// Connections working in parallel [default: the workload's `workers`, 2].
    #[arg(long, value_name = "N")]
    pub workers: Option<u32>,

    /// A row the server refuses: stop (fail the run) or skip (count it and go on) [default: the
    /// workload's on_bad_row, else stop].
    #[arg(long, value_name = "POLICY", value_enum)]
    pub on_bad_row: Option<crate::bulk::BadRowPolicy>,

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

    // Output: text, JSON (one object per strategy: run id and result) or, with several
    // strategies, the comparison as a Markdown table.
    #[command(flatten)]
    pub format: FormatArgs<BulkFormat>,

    /// Shorthand for --format markdown.
    #[arg(long, conflicts_with_all = ["format", "json"])]
    pub markdown: bool,

    /// Write the generated rows to FILE in LOAD DATA's default format (tab-separated, `\N` for
    /// NULL, column order of the workload) and exit without connecting: the same rows for
    /// another client, e.g. `mariadb`'s LOAD DATA LOCAL INFILE.
    #[arg(long, value_name = "FILE")]
    pub dump_tsv: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub server: ServerOptArgs,
}

impl BulkArgs {
    /// The output format asked for (`--markdown` and `--json` are shorthands).
    pub fn output_format(&self) -> BulkFormat {
        if self.markdown {
            BulkFormat::Markdown
        } else {
            self.format.get()
        }
    }
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

    /// Each measured part of a phase (probes under writes; writes alone), e.g. 10s [default:
    /// the workload's duration, else 10s].
    #[arg(long, value_name = "DURATION", value_parser = values::duration_text)]
    pub duration: Option<String>,

    /// Warm-up before each measured part, not counted [default: the workload's warmup, else
    /// 2s].
    #[arg(long, value_name = "DURATION", value_parser = values::duration_text)]
    pub warmup: Option<String>,

    /// The write mix alone after setup, not measured, so that both phases start from
    /// steady-state pages (freshly loaded pages split on their first writes) [default: the
    /// workload's settle, else 10s].
    #[arg(long, value_name = "DURATION", value_parser = values::duration_text)]
    pub settle: Option<String>,

    /// Connections running the read probes [default: the workload's read_workers, else 2].
    #[arg(long, value_name = "N")]
    pub read_workers: Option<u32>,

    /// Connections running the write mix [default: the workload's write_workers, else 2].
    #[arg(long, value_name = "N")]
    pub write_workers: Option<u32>,

    /// Random seed for the table contents and parameters [default: the workload's seed, else
    /// 7].
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

    // Output: the text report or the whole report as JSON.
    #[command(flatten)]
    pub format: FormatArgs<TextOrJson>,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub server: ServerOptArgs,
}

impl WorkloadArgs {
    /// The dedicated setting flags given, typed, by setting key (each key's flag is named in its
    /// descriptor, and a test checks that `run` has it): the top layer of the settings
    /// (`settings::Layers`). `t` gives `--connect-timeout` and the database (`--database`, else
    /// the target URL's); `run` the run timing.
    pub fn setting_flags(
        &self,
        t: &TargetArgs,
        run: Option<&RunArgs>,
    ) -> Vec<(String, crate::workload::SettingValue)> {
        use crate::workload::SettingValue;
        let mut flags: Vec<(String, SettingValue)> = Vec::new();
        let mut flag = |k: &str, v: Option<SettingValue>| {
            if let Some(v) = v {
                flags.push((k.to_string(), v));
            }
        };
        // A number past i64 stays text, so that resolution refuses it by name.
        let int = |v: Option<u64>| {
            v.map(|v| {
                i64::try_from(v)
                    .map_or_else(|_| SettingValue::Str(v.to_string()), SettingValue::Int)
            })
        };
        let text = |v: &Option<String>| v.as_deref().map(SettingValue::from);
        flag("threads", int(self.threads.map(u64::from)));
        flag("tables", int(self.settings.tables.map(u64::from)));
        flag("table_size", int(self.settings.table_size));
        flag(
            "rand_type",
            self.settings.rand_type.map(|v| v.name().into()),
        );
        flag("seed", int(self.settings.seed));
        flag("connect_timeout", text(&t.conn.connect_timeout));
        // --database, else the target URL's; else --set, the file or the default.
        flag("database", text(&t.database()));
        if let Some(r) = run {
            flag("duration", text(&r.timing.duration));
            flag("warmup", text(&r.timing.warmup));
            flag("rate", r.timing.rate.map(SettingValue::Float));
            flag("events", int(r.events));
            flag("report_interval", text(&r.report_interval));
            flag(
                "client_threads",
                int(r.timing.client_threads.map(u64::from)),
            );
        }
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The flag a setting's descriptor names exists on `run`, and `run` has no setting flag
    /// the descriptors do not know: the descriptors are the one list.
    #[test]
    fn every_setting_flag_of_a_descriptor_is_on_run() {
        let cmd = Cli::command();
        let run = cmd.find_subcommand("run").expect("run");
        let longs: Vec<String> = run
            .get_arguments()
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect();
        for d in crate::settings::SETTINGS {
            if let Some(flag) = d.flag {
                assert!(longs.iter().any(|l| l == flag), "{} names {flag}", d.key);
            }
        }
        for long in &longs {
            let key = long.trim_start_matches("--").replace('-', "_");
            if crate::settings::descriptor(&key).is_some() {
                assert_eq!(
                    crate::settings::descriptor(&key).unwrap().flag,
                    Some(long.as_str()),
                    "{long} sets {key}: its descriptor should name it"
                );
            }
        }
    }

    /// Every flag with a fixed set of values shows them in `--help` (`[possible values: ...]`).
    #[test]
    fn every_enumerated_flag_lists_its_values_in_help() {
        fn squash(s: &str) -> String {
            s.split_whitespace().collect::<Vec<_>>().join(" ")
        }
        fn walk(cmd: &mut clap::Command, path: &str, seen: &mut Vec<String>) {
            let help = squash(&cmd.render_long_help().to_string());
            for arg in cmd.get_arguments() {
                if !arg.get_action().takes_values() {
                    continue;
                }
                let names: Vec<String> = arg
                    .get_possible_values()
                    .iter()
                    .filter(|v| !v.is_hide_set())
                    .map(|v| v.get_name().to_string())
                    .collect();
                if names.is_empty() {
                    continue;
                }
                let listed = format!("[possible values: {}]", names.join(", "));
                assert!(
                    help.contains(&listed),
                    "{path} --{}: {listed} not in its help:\n{help}",
                    arg.get_long().unwrap_or_default()
                );
                seen.push(format!("{path} --{}", arg.get_long().unwrap_or_default()));
            }
            for sub in cmd.get_subcommands_mut() {
                let p = format!("{path} {}", sub.get_name());
                walk(sub, &p, seen);
            }
        }
        let mut cmd = Cli::command();
        cmd.build();
        let mut seen = Vec::new();
        walk(&mut cmd, "loadgate", &mut seen);
        for flag in [
            "loadgate run --format",
            "loadgate run --rand-type",
            "loadgate run --fail-on",
            "loadgate runs --status",
            "loadgate history --metric",
            "loadgate gate --format",
            "loadgate compare --format",
            "loadgate bulk --strategy",
            "loadgate bulk --on-bad-row",
            "loadgate bulk --format",
            "loadgate health --fail-on",
            "loadgate monitor --fail-on",
            "loadgate index --format",
        ] {
            assert!(
                seen.iter().any(|s| s == flag),
                "{flag} not checked: {seen:?}"
            );
        }
    }

    #[test]
    fn json_is_a_shorthand_for_format_json() {
        let cli = Cli::try_parse_from(["loadgate", "runs", "--json"]).unwrap();
        let Command::Runs(a) = cli.command else {
            panic!("runs")
        };
        assert_eq!(a.format.get(), TextOrJson::Json);
        assert!(Cli::try_parse_from(["loadgate", "runs", "--json", "--format", "text"]).is_err());
        let cli = Cli::try_parse_from(["loadgate", "gate", "--format", "md"]).unwrap();
        let Command::Gate(a) = cli.command else {
            panic!("gate")
        };
        assert_eq!(a.out.format.get(), values::ReportFormat::Markdown);
    }

    #[test]
    fn thread_lists_and_durations_are_parsed_by_clap() {
        let cli =
            Cli::try_parse_from(["loadgate", "ab", "--threads", "1,4,16", "--duration", "2s"])
                .unwrap();
        let Command::Ab(a) = cli.command else {
            panic!("ab")
        };
        assert_eq!(a.trial.threads, vec![1, 4, 16]);
        // The text as typed goes on to the settings.
        assert_eq!(a.trial.timing.duration.as_deref(), Some("2s"));
        for bad in [
            vec!["loadgate", "ab", "--threads", "1,0"],
            vec!["loadgate", "run", "--duration", "soon"],
            vec!["loadgate", "index", "--settle", "-1s"],
            vec!["loadgate", "monitor", "--duration", "1x"],
        ] {
            let e = Cli::try_parse_from(&bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn health_is_found_after_global_options() {
        let args = |v: &[&str]| {
            v.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .into_iter()
        };
        assert!(invokes_health(args(&["health", "--fail-on", "x"])));
        assert!(invokes_health(args(&["--store", "health", "-q", "health"])));
        assert!(!invokes_health(args(&["run", "health"])));
        assert!(!invokes_health(args(&["--store", "health"])));
    }
}
