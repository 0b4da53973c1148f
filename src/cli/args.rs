//! Argument groups that several commands share, flattened into each (`#[command(flatten)]`):
//! one declaration per flag, one type, one help text.

use clap::Args;
use std::path::PathBuf;

use super::values::{self, HasJson};
use crate::workload::gen::Dist;

/// How to reach a server.
#[derive(Debug, Args, Clone, Default)]
pub struct ConnectArgs {
    /// Server or proxy: mysql://user[:password]@host[:port][/database]. Without it, the server
    /// from `loadgate server start` if one is running, else (for `run`) a throwaway server.
    #[arg(long, env = "LOADGATE_TARGET", value_name = "URL")]
    pub target: Option<String>,

    /// Read the password from the first line of this file (over the URL and MYSQL_PWD).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Connect timeout, e.g. 10s, at most 1h [default: the workload's connect_timeout, else
    /// 10s].
    #[arg(long, value_name = "DURATION", value_parser = values::connect_timeout)]
    pub connect_timeout: Option<String>,
}

/// Where to connect, and the database for the workload's tables.
#[derive(Debug, Args, Clone, Default)]
pub struct TargetArgs {
    #[command(flatten)]
    pub conn: ConnectArgs,

    /// Database (schema) for the workload's tables [default: the one in --target, else the
    /// workload's, else loadgate].
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
}

impl TargetArgs {
    /// The database the flags name: `--database`, else the one in the `--target` URL (`None`:
    /// the workload's or the default decides).
    pub fn database(&self) -> Option<String> {
        self.database.clone().or_else(|| {
            self.conn
                .target
                .as_deref()
                .and_then(|u| crate::target::Target::parse(u).ok())
                .and_then(|t| t.database)
        })
    }
}

/// Options of a throwaway server started for the command.
#[derive(Debug, Args, Clone, Default)]
pub struct ServerOptArgs {
    /// Extra option for the throwaway server (repeatable), e.g. --server-arg=--performance-schema=ON.
    #[arg(long = "server-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
}

/// Settings of a SQL workload that shape its tables and data, and `--set` for any other.
#[derive(Debug, Args, Clone, Default)]
pub struct SettingArgs {
    /// Number of tables [default: the workload's tables, else 1].
    #[arg(long, value_name = "N")]
    pub tables: Option<u32>,

    /// Rows per table [default: the workload's table_size, else 10000].
    #[arg(long, value_name = "N")]
    pub table_size: Option<u64>,

    /// Default random distribution [default: the workload's rand_type, else special].
    #[arg(long, value_name = "DIST", value_enum)]
    pub rand_type: Option<Dist>,

    /// Random seed; 0 picks one per run (an A/B pair shares it). The seed used is stored
    /// [default: the workload's seed, else 0].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Override any setting, workload variables included (repeatable; both sides of an A/B
    /// job): --set range_size=50.
    #[arg(long = "set", value_name = "KEY=VALUE", long_help = crate::settings::set_help())]
    pub set: Vec<String>,
}

/// How long and how fast a run (or each trial) goes.
#[derive(Debug, Args, Clone, Default)]
pub struct TimingArgs {
    /// Measured time after the warm-up (of each trial), e.g. 30s, 2m; 0 = until --events
    /// [default: the workload's duration, else 10s].
    #[arg(long, value_name = "DURATION", value_parser = values::duration_text)]
    pub duration: Option<String>,

    /// Time before measuring; its transactions are not counted [default: the workload's
    /// warmup, else 0s].
    #[arg(long, value_name = "DURATION", value_parser = values::duration_text)]
    pub warmup: Option<String>,

    /// Open loop: target transactions per second over all workers; 0 = closed loop
    /// [default: the workload's rate, else 0].
    #[arg(long, value_name = "TPS")]
    pub rate: Option<f64>,

    /// Client runtime threads; 0 = one per worker up to 64 workers and 64 shared ones above,
    /// fewer threads each serve several workers [default: the workload's client_threads, else 0].
    #[arg(long, value_name = "N")]
    pub client_threads: Option<u32>,
}

/// `--format` and its shorthand `--json`, over the formats `F` of one command.
#[derive(Debug, Args, Clone, Default)]
pub struct FormatArgs<F: HasJson> {
    /// Output format.
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t)]
    pub format: F,

    /// Shorthand for --format json.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

impl<F: HasJson> FormatArgs<F> {
    /// The format asked for.
    pub fn get(&self) -> F {
        if self.json {
            F::JSON
        } else {
            self.format
        }
    }

    /// The JSON format of `F`.
    pub fn is_json(&self) -> bool {
        self.get() == F::JSON
    }
}
