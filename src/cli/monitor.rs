//! Arguments of the embedded monitor (`run`), `monitor` and `health`.

use super::TargetArgs;
use clap::Args;

/// The monitor's flags on `run`.
#[derive(Debug, Args, Clone, Default)]
pub struct RunMonitorArgs {
    /// Do not run the embedded monitor (server and pool metrics, alerts).
    #[arg(long)]
    pub no_monitor: bool,

    /// Server sample interval of the embedded monitor, e.g. 1s [default: 1s].
    #[arg(long, value_name = "DURATION")]
    pub monitor_interval: Option<String>,

    #[command(flatten)]
    pub alerts: AlertArgs,

    /// Serve Prometheus metrics on HOST:PORT (GET /metrics) while the run lasts.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
}

/// Thresholds and the failing level.
#[derive(Debug, Args, Clone, Default)]
pub struct AlertArgs {
    /// Alert threshold (repeatable): METRIC=WARNING,CRITICAL, or METRIC=off. Metrics:
    /// connection_usage, slow_query_ratio, error_rate (%), buffer_pool_hit_ratio (%, alerts
    /// below), avg_statement_time, pool_wait (1s, 250ms or milliseconds).
    #[arg(long = "threshold", value_name = "METRIC=WARN,CRIT")]
    pub thresholds: Vec<String>,

    /// Exit with code 6 when an alert at this level or above was raised: warning or critical.
    #[arg(long, value_name = "LEVEL")]
    pub fail_on_alert: Option<String>,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Sample interval, e.g. 1s, 500ms.
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub interval: String,

    /// Stop after this long, e.g. 60s (default: until Ctrl-C).
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,

    #[command(flatten)]
    pub alerts: AlertArgs,

    /// Serve Prometheus metrics on HOST:PORT (GET /metrics) while monitoring.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,

    /// Print the session as JSON at the end instead of the text summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Measure the ratios over this window instead of since the server started, e.g. 5s.
    #[arg(long, value_name = "DURATION")]
    pub window: Option<String>,

    /// Alert threshold (repeatable), as for `run`: METRIC=WARNING,CRITICAL or METRIC=off.
    #[arg(long = "threshold", value_name = "METRIC=WARN,CRIT")]
    pub thresholds: Vec<String>,

    /// The lowest state that fails (non-zero exit): warning (default) or critical. With
    /// critical, a warning exits 0 (for a liveness probe).
    #[arg(long, value_name = "LEVEL", default_value = "warning")]
    pub fail_on: String,

    /// JSON output.
    #[arg(long)]
    pub json: bool,
}
