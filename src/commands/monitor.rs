//! Glue for the monitor: its settings on `run`, the `monitor` and `health` subcommands, and
//! turning alerts into the `--fail-on-alert` exit code.

use super::{resolve_target, runtime};
use crate::cli::{AlertArgs, HealthArgs, MonitorArgs, RunMonitorArgs};
use crate::error::{Error, Result};
use crate::monitor::config::{self, MonitorDef, MonitorFlagValues, MonitorSettings};
use crate::monitor::prometheus::{self, Exporter, Hub};
use crate::monitor::{self as mon, health, Monitor, MonitorOptions, MonitorSetup};
use crate::record::{Level, MonitorReport};
use crate::settings::parse_duration;
use crate::store::Store;
use crate::workload::Workload;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// The monitor of a run: settings from the flags over the workload's `[monitor]`, and the
/// Prometheus endpoint if asked for (serving until the returned exporter is dropped).
pub(super) fn run_setup(
    w: &Workload,
    a: &RunMonitorArgs,
    quiet: bool,
) -> Result<(MonitorSetup, Option<Exporter>)> {
    let settings = MonitorSettings::resolve(
        &w.monitor,
        &MonitorFlagValues {
            disabled: a.no_monitor,
            interval: a.monitor_interval.as_deref(),
            thresholds: &a.alerts.thresholds,
            fail_on_alert: a.alerts.fail_on.map(Level::as_str),
        },
    )
    .map_err(Error::Usage)?;
    let (hub, exporter) = serve(a.metrics_addr.as_deref(), quiet)?;
    Ok((
        MonitorSetup {
            settings,
            hub,
            server_pid: None,
        },
        exporter,
    ))
}

fn serve(
    addr: Option<&str>,
    quiet: bool,
) -> Result<(Option<std::sync::Arc<Hub>>, Option<Exporter>)> {
    let Some(addr) = addr else {
        return Ok((None, None));
    };
    let hub = Hub::new();
    let ex = prometheus::serve(addr, hub.clone())?;
    if !quiet {
        eprintln!("Prometheus metrics at http://{}/metrics", ex.addr);
    }
    Ok((Some(hub), Some(ex)))
}

/// The `--fail-on-alert` error, if the report has alerts at or above `level`.
pub(super) fn alert_error(
    what: String,
    rep: Option<&MonitorReport>,
    level: Option<Level>,
) -> Option<Error> {
    let (rep, level) = (rep?, level?);
    let hits: Vec<String> = rep
        .alerts
        .iter()
        .filter(|a| a.level >= level)
        .map(|a| format!("{} {}: {}", a.level.as_str(), a.metric, a.message))
        .collect();
    (!hits.is_empty()).then(|| Error::Alert {
        what,
        level: level.as_str(),
        alerts: hits,
    })
}

fn settings_of(a: &AlertArgs, interval: Option<&str>) -> Result<MonitorSettings> {
    MonitorSettings::resolve(
        &MonitorDef::default(),
        &MonitorFlagValues {
            disabled: false,
            interval,
            thresholds: &a.thresholds,
            fail_on_alert: a.fail_on.map(Level::as_str),
        },
    )
    .map_err(Error::Usage)
}

fn connect_timeout(s: Option<&str>) -> Result<Duration> {
    match s {
        None => Ok(crate::target::DEFAULT_CONNECT_TIMEOUT),
        Some(s) => parse_duration(s)
            .map(|v| Duration::from_secs_f64(v.max(0.1)))
            .map_err(|m| Error::Usage(format!("--connect-timeout: {m}"))),
    }
}

/// `loadgate monitor`: sample any server until `--duration` or Ctrl-C, store the session.
pub(super) fn monitor_cmd(store_path: &Path, a: MonitorArgs, quiet: bool) -> Result<()> {
    let settings = settings_of(&a.alerts, Some(&a.interval))?;
    let duration = a.duration.filter(|d| *d > 0.0);
    let timeout = connect_timeout(a.target.connect_timeout.as_deref())?;
    let mut store = Store::open(store_path)?;
    let resolved = resolve_target(&a.target, false, &[], quiet)?;
    let target = resolved.target.clone();
    let rt = runtime()?;
    // Fail fast, with the usual exit code, when the server cannot be reached.
    rt.block_on(async {
        let c = target.connect(target.opts(None, 4), timeout).await?;
        let _ = c.disconnect().await;
        Ok::<_, Error>(())
    })?;
    let (hub, _exporter) = serve(a.metrics_addr.as_deref(), quiet)?;
    if let Some(h) = &hub {
        h.set_info(&[("mode", "monitor".into()), ("target", target.redacted())]);
    }
    let mut o = MonitorOptions::new(
        target.clone(),
        Duration::from_secs_f64(settings.interval_s),
        timeout,
    );
    o.thresholds = settings.thresholds;
    o.hub = hub;
    o.print = !quiet;
    if !quiet {
        eprintln!(
            "Monitoring {} every {} s{}; Ctrl-C stops",
            target.redacted(),
            settings.interval_s,
            duration.map_or(String::new(), |d| format!(" for {d} s"))
        );
    }
    let m = Monitor::start(o);
    rt.block_on(async {
        let sleep = async {
            match duration {
                Some(d) => tokio::time::sleep(Duration::from_secs_f64(d)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    });
    let mut rep = m.stop();
    mon::finish_run_report(&mut rep, None, None);
    let id = store.insert_monitor_session(&rep)?;
    print_session(id, &rep, a.format.is_json());
    match alert_error(
        format!("monitor session {}", session_ref(id)),
        Some(&rep),
        settings.fail_on_alert,
    ) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// How a monitor session is named to people: `m82`, so it is never taken for run 82 (`loadgate
/// show m82` shows it; `show 82` is a run).
pub(super) fn session_ref(id: i64) -> String {
    format!("{SESSION_PREFIX}{id}")
}

/// The prefix of a monitor session's id on the command line and in text.
pub(super) const SESSION_PREFIX: char = 'm';

/// A stored monitor session as `monitor` printed it at its end: the text summary, or the JSON
/// report (schema `schema/monitor-v1.json`, whose `id` is the number).
pub(super) fn print_session(id: i64, rep: &crate::record::MonitorReport, json: bool) {
    if json {
        let mut v = serde_json::to_value(rep).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("schema".into(), "loadgate.monitor/v1".into());
            o.insert("id".into(), id.into());
        }
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        let mut out = format!(
            "loadgate {} — monitor session {} (`loadgate show {}`): {} ({} {}), {} samples\n",
            crate::util::VERSION,
            session_ref(id),
            session_ref(id),
            rep.target,
            rep.server.flavor,
            rep.server.version,
            rep.samples.len()
        );
        crate::report::text::render_monitor(&mut out, rep);
        let _ = std::io::stdout().lock().write_all(out.as_bytes());
    }
}

/// `loadgate health`: one check; exit 0 ok, 1 warning, 2 critical, 3 unknown.
pub(super) fn health_cmd(a: HealthArgs) -> Result<()> {
    let unknown = |e: Error| Error::Health {
        message: format!("cannot check ({e})"),
        code: health::UNKNOWN,
    };
    let mut thresholds = crate::record::Thresholds::default();
    for f in &a.alerts.thresholds {
        let (m, t) = config::parse_threshold_flag(f).map_err(|m| unknown(Error::Usage(m)))?;
        if let Some(slot) = config::threshold_mut(&mut thresholds, &m) {
            *slot = t;
        }
    }
    let fail_on = a.alerts.fail_on.unwrap_or(Level::Warning);
    let window = Duration::from_secs_f64(a.window.unwrap_or(0.0));
    let timeout = connect_timeout(a.target.connect_timeout.as_deref()).map_err(unknown)?;
    let resolved = resolve_target(&a.target, false, &[], true).map_err(unknown)?;
    let rep = runtime().map_err(unknown)?.block_on(health::check(
        &resolved.target,
        timeout,
        &thresholds,
        window,
    ));
    let text = if a.format.is_json() {
        serde_json::to_string_pretty(&rep).unwrap_or_default() + "\n"
    } else {
        crate::report::health::render_text(&rep)
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    let code = match rep.exit_code() {
        health::WARNING if fail_on == Level::Critical => health::OK,
        c => c,
    };
    if code == health::OK {
        Ok(())
    } else {
        Err(Error::Health {
            message: format!("server health is {}", rep.status.to_ascii_uppercase()),
            code,
        })
    }
}
