//! Arguments of the embedded monitor (`run`), `monitor` and `health`.

use super::values::{self, TextOrJson};
use super::{ConnectArgs, FormatArgs};
use crate::record::Level;
use clap::Args;

/// The monitor's flags on `run`.
#[derive(Debug, Args, Clone, Default)]
pub struct RunMonitorArgs {
    /// Do not run the embedded monitor (server and pool metrics, alerts).
    #[arg(long)]
    pub no_monitor: bool,

    /// Server sample interval of the embedded monitor, e.g. 1s [default: the workload's
    /// [monitor] interval, else 1s].
    #[arg(long, value_name = "DURATION", value_parser = values::duration_text)]
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

    /// Fail at this level or above: `run` and `monitor` exit 6 when such an alert was raised
    /// [default: the workload's fail_on_alert, else never]; `health` fails (non-zero exit) on
    /// such a state [default: warning; critical lets a warning exit 0, for a liveness probe].
    #[arg(
        long,
        visible_alias = "fail-on-alert",
        value_name = "LEVEL",
        value_enum
    )]
    pub fail_on: Option<Level>,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    #[command(flatten)]
    pub target: ConnectArgs,

    /// Sample interval, e.g. 1s, 500ms.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = values::duration_text)]
    pub interval: String,

    /// Stop after this long, e.g. 60s; 0 = until Ctrl-C [default: until Ctrl-C].
    #[arg(long, value_name = "DURATION", value_parser = values::seconds)]
    pub duration: Option<f64>,

    #[command(flatten)]
    pub alerts: AlertArgs,

    /// Serve Prometheus metrics on HOST:PORT (GET /metrics) while monitoring.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,

    // Output at the end: the text summary or the session as JSON.
    #[command(flatten)]
    pub format: FormatArgs<TextOrJson>,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    #[command(flatten)]
    pub target: ConnectArgs,

    /// Measure the ratios over this window instead of since the server started, e.g. 5s.
    #[arg(long, value_name = "DURATION", value_parser = values::seconds)]
    pub window: Option<f64>,

    #[command(flatten)]
    pub alerts: AlertArgs,

    #[command(flatten)]
    pub format: FormatArgs<TextOrJson>,
}
