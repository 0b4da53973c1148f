//! Monitor settings: on or off, the sample interval, alert thresholds and the `--fail-on-alert`
//! level, resolved from the command line over the workload's `[monitor]` table over defaults.
//!
//! Thresholds are named by metric; percentages are 0–100 (a trailing `%` is allowed), times
//! accept durations (`1s`, `250ms`) or bare milliseconds.

use crate::record::{Level, Threshold, Thresholds};
use crate::settings::parse_duration;
use serde::{Deserialize, Serialize};

/// Metric names as users write them, their unit, and what they mean.
pub const METRICS: &[(&str, Unit, &str)] = &[
    (
        "connection_usage",
        Unit::Percent,
        "peak Threads_connected / max_connections",
    ),
    (
        "slow_query_ratio",
        Unit::Percent,
        "Slow_queries / Questions",
    ),
    (
        "avg_statement_time",
        Unit::Millis,
        "average statement time (performance_schema)",
    ),
    (
        "buffer_pool_hit_ratio",
        Unit::Percent,
        "InnoDB buffer-pool hit ratio (alerts below the levels)",
    ),
    (
        "pool_wait",
        Unit::Millis,
        "average wait of a due transaction for a free connection (open loop)",
    ),
    (
        "error_rate",
        Unit::Percent,
        "errors per transaction attempt",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Percent,
    Millis,
}

impl Unit {
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::Percent => " %",
            Unit::Millis => " ms",
        }
    }
}

/// The unit of a metric, `None` for an unknown name.
pub fn unit_of(metric: &str) -> Option<Unit> {
    METRICS.iter().find(|(n, _, _)| *n == metric).map(|m| m.1)
}

/// True for metrics that alert when they fall *below* their levels.
pub fn alerts_below(metric: &str) -> bool {
    metric == "buffer_pool_hit_ratio"
}

fn known_metrics() -> String {
    METRICS.iter().map(|m| m.0).collect::<Vec<_>>().join(", ")
}

/// The threshold of `metric` in `t`.
pub fn threshold_mut<'a>(t: &'a mut Thresholds, metric: &str) -> Option<&'a mut Threshold> {
    Some(match metric {
        "connection_usage" => &mut t.connection_usage,
        "slow_query_ratio" => &mut t.slow_query_ratio,
        "avg_statement_time" => &mut t.avg_statement_time,
        "buffer_pool_hit_ratio" => &mut t.buffer_pool_hit_ratio,
        "pool_wait" => &mut t.pool_wait,
        "error_rate" => &mut t.error_rate,
        _ => return None,
    })
}

pub fn threshold(t: &Thresholds, metric: &str) -> Option<Threshold> {
    let mut t = *t;
    threshold_mut(&mut t, metric).map(|x| *x)
}

/// One level's value: a number in the metric's unit, a duration for times, `off` for none.
pub fn parse_level(metric: &str, text: &str) -> Result<Option<f64>, String> {
    let unit = unit_of(metric)
        .ok_or_else(|| format!("unknown metric `{metric}`; known: {}", known_metrics()))?;
    let s = text.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("off") || s.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let v = match unit {
        Unit::Percent => s
            .trim_end_matches('%')
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("`{s}` is not a percentage (e.g. 75 or 75%)"))?,
        Unit::Millis => match s.parse::<f64>() {
            Ok(ms) => ms,
            Err(_) => {
                parse_duration(s).map_err(|m| format!("{m} (or a number of milliseconds)"))?
                    * 1000.0
            }
        },
    };
    if !v.is_finite() || v < 0.0 {
        return Err(format!("`{s}` must be a number ≥ 0"));
    }
    if unit == Unit::Percent && v > 100.0 {
        return Err(format!("`{s}` is more than 100 %"));
    }
    Ok(Some(v))
}

/// `METRIC=WARNING,CRITICAL` (either may be empty or `off`), or `METRIC=off`.
pub fn parse_threshold_flag(flag: &str) -> Result<(String, Threshold), String> {
    let (metric, levels) = flag
        .split_once('=')
        .ok_or_else(|| format!("--threshold `{flag}`: expected METRIC=WARNING,CRITICAL"))?;
    let metric = metric.trim();
    let (w, c) = match levels.split_once(',') {
        Some((w, c)) => (w, c),
        None if levels.trim().eq_ignore_ascii_case("off") => ("off", "off"),
        None => {
            return Err(format!(
                "--threshold `{flag}`: give both levels, WARNING,CRITICAL (e.g. {metric}=75,90), or `off`"
            ))
        }
    };
    let t = Threshold {
        warning: parse_level(metric, w).map_err(|m| format!("--threshold `{flag}`: {m}"))?,
        critical: parse_level(metric, c).map_err(|m| format!("--threshold `{flag}`: {m}"))?,
    };
    check_order(metric, &t).map_err(|m| format!("--threshold `{flag}`: {m}"))?;
    Ok((metric.to_string(), t))
}

/// Critical must be the worse level: higher, or lower for metrics that alert below.
fn check_order(metric: &str, t: &Threshold) -> Result<(), String> {
    if let (Some(w), Some(c)) = (t.warning, t.critical) {
        let bad = if alerts_below(metric) { c > w } else { c < w };
        if bad {
            return Err(format!(
                "the critical level ({c}) must be {} the warning level ({w}) for {metric}",
                if alerts_below(metric) {
                    "at or below"
                } else {
                    "at or above"
                }
            ));
        }
    }
    Ok(())
}

/// What a workload's `[monitor]` table sets (unset fields fall through to the defaults).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonitorDef {
    pub enabled: Option<bool>,
    pub interval_s: Option<f64>,
    pub fail_on_alert: Option<Option<Level>>,
    pub thresholds: Vec<(String, Threshold)>,
}

impl MonitorDef {
    /// Apply one `key = value` of the `[monitor]` table. The error is a message without a
    /// location; the parser adds file, line and column.
    pub fn set(&mut self, key: &str, value: &toml::Value) -> Result<(), String> {
        match key {
            "enabled" => {
                self.enabled = Some(value.as_bool().ok_or("`enabled` must be true or false")?)
            }
            "interval" => {
                let s = match value {
                    toml::Value::Integer(i) if *i > 0 => *i as f64,
                    toml::Value::Float(f) if *f > 0.0 => *f,
                    toml::Value::String(s) => parse_duration(s)?,
                    _ => return Err("`interval` must be a duration such as \"1s\"".into()),
                };
                self.interval_s = Some(interval_in_range("`interval`", s)?);
            }
            "fail_on_alert" => {
                let s = value
                    .as_str()
                    .ok_or("`fail_on_alert` must be \"warning\", \"critical\" or \"none\"")?;
                self.fail_on_alert = Some(parse_fail_on(s)?);
            }
            metric if unit_of(metric).is_some() => {
                let t = match value {
                    toml::Value::String(s) if s.eq_ignore_ascii_case("off") => Threshold {
                        warning: None,
                        critical: None,
                    },
                    toml::Value::Table(tab) => {
                        let mut t = Threshold::default();
                        for (k, v) in tab {
                            let text = match v {
                                toml::Value::Integer(i) => i.to_string(),
                                toml::Value::Float(f) => f.to_string(),
                                toml::Value::String(s) => s.clone(),
                                toml::Value::Boolean(false) => "off".into(),
                                _ => {
                                    return Err(format!(
                                        "`{metric}.{k}` must be a number, a duration or \"off\""
                                    ))
                                }
                            };
                            let level = parse_level(metric, &text)?;
                            match k.as_str() {
                                "warning" => t.warning = level,
                                "critical" => t.critical = level,
                                other => {
                                    return Err(format!(
                                    "unknown key `{other}` in `{metric}`; use warning and critical"
                                ))
                                }
                            }
                        }
                        t
                    }
                    _ => {
                        return Err(format!(
                            "`{metric}` must be a table such as {{ warning = 75, critical = 90 }} or \"off\""
                        ))
                    }
                };
                check_order(metric, &t)?;
                self.thresholds.push((metric.to_string(), t));
            }
            other => {
                return Err(format!(
                "unknown key `{other}` in [monitor]; known: enabled, interval, fail_on_alert, {}",
                known_metrics()
            ))
            }
        }
        Ok(())
    }
}

/// `warning`, `critical` or `none`.
pub fn parse_fail_on(s: &str) -> Result<Option<Level>, String> {
    if s.trim().eq_ignore_ascii_case("none") || s.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    Level::parse(s)
        .map(Some)
        .ok_or_else(|| format!("`{s}` is not an alert level: use warning, critical or none"))
}

/// The resolved monitor settings of a run (stored with it through its monitor report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorSettings {
    pub enabled: bool,
    pub interval_s: f64,
    pub thresholds: Thresholds,
    /// Fail (exit 6) when an alert at this level or above was raised.
    pub fail_on_alert: Option<Level>,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings {
            enabled: true,
            interval_s: 1.0,
            thresholds: Thresholds::default(),
            fail_on_alert: None,
        }
    }
}

/// Command-line values, all optional.
#[derive(Debug, Clone, Default)]
pub struct MonitorFlagValues<'a> {
    pub disabled: bool,
    pub interval: Option<&'a str>,
    pub thresholds: &'a [String],
    pub fail_on_alert: Option<&'a str>,
}

impl MonitorSettings {
    /// Command line over the workload's `[monitor]` over defaults.
    pub fn resolve(def: &MonitorDef, flags: &MonitorFlagValues<'_>) -> Result<Self, String> {
        let mut s = MonitorSettings::default();
        if let Some(e) = def.enabled {
            s.enabled = e;
        }
        if let Some(i) = def.interval_s {
            s.interval_s = i;
        }
        if let Some(f) = def.fail_on_alert {
            s.fail_on_alert = f;
        }
        for (m, t) in &def.thresholds {
            if let Some(slot) = threshold_mut(&mut s.thresholds, m) {
                *slot = *t;
            }
        }
        if flags.disabled {
            s.enabled = false;
        }
        if let Some(i) = flags.interval {
            let v = parse_duration(i).map_err(|m| format!("--monitor-interval: {m}"))?;
            s.interval_s = interval_in_range("--monitor-interval", v)?;
        }
        for f in flags.thresholds {
            let (m, t) = parse_threshold_flag(f)?;
            if let Some(slot) = threshold_mut(&mut s.thresholds, &m) {
                *slot = t;
            }
        }
        if let Some(f) = flags.fail_on_alert {
            s.fail_on_alert = parse_fail_on(f).map_err(|m| format!("--fail-on-alert: {m}"))?;
        }
        Ok(s)
    }
}

/// `connection usage 75/90 %, ...` for the summary.
pub fn describe(t: &Thresholds) -> String {
    METRICS
        .iter()
        .map(|(name, unit, _)| {
            let th = threshold(t, name).unwrap_or_default();
            let f = |v: Option<f64>| v.map_or("off".to_string(), |v| format!("{v}"));
            format!(
                "{} {}{}/{}{}",
                name.replace('_', " "),
                if alerts_below(name) { "below " } else { "" },
                f(th.warning),
                f(th.critical),
                unit.suffix()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The shortest sample interval: shorter would have the monitor's own queries load the server.
pub const MIN_INTERVAL_S: f64 = 0.01;
/// The longest sample interval: a day.
pub const MAX_INTERVAL_S: f64 = 86_400.0;

/// `v` seconds if it is a valid sample interval ([`MIN_INTERVAL_S`]–[`MAX_INTERVAL_S`]);
/// the error names `what` (the flag or the file key).
pub fn interval_in_range(what: &str, v: f64) -> Result<f64, String> {
    if (MIN_INTERVAL_S..=MAX_INTERVAL_S).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{what} must be 10ms to 24h, got {v} s"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_flags_parse_units_and_off() {
        let (m, t) = parse_threshold_flag("avg_statement_time=1s,2500ms").unwrap();
        assert_eq!(m, "avg_statement_time");
        assert_eq!(t, Threshold::new(1000.0, 2500.0));
        let (_, t) = parse_threshold_flag("connection_usage=50%,60").unwrap();
        assert_eq!(t, Threshold::new(50.0, 60.0));
        let (_, t) = parse_threshold_flag("error_rate=off").unwrap();
        assert_eq!(t, Threshold::default());
        let (_, t) = parse_threshold_flag("pool_wait=,20").unwrap();
        assert_eq!((t.warning, t.critical), (None, Some(20.0)));
        assert!(parse_threshold_flag("nope=1,2")
            .unwrap_err()
            .contains("known: connection_usage"));
        assert!(parse_threshold_flag("connection_usage=90,75")
            .unwrap_err()
            .contains("at or above"));
        assert!(parse_threshold_flag("buffer_pool_hit_ratio=90,95")
            .unwrap_err()
            .contains("at or below"));
        assert!(parse_threshold_flag("connection_usage=120,130").is_err());
    }

    #[test]
    fn command_line_over_workload_over_defaults() {
        let mut def = MonitorDef::default();
        def.set("interval", &toml::Value::String("500ms".into()))
            .unwrap();
        let table: toml::Value = toml::from_str("t = { warning = 50, critical = 60 }").unwrap();
        def.set("connection_usage", &table["t"]).unwrap();
        def.set("slow_query_ratio", &table["t"]).unwrap();
        def.set("fail_on_alert", &toml::Value::String("critical".into()))
            .unwrap();
        let flags = vec!["slow_query_ratio=1,2".to_string()];
        let s = MonitorSettings::resolve(
            &def,
            &MonitorFlagValues {
                thresholds: &flags,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.interval_s, 0.5);
        assert_eq!(s.thresholds.connection_usage, Threshold::new(50.0, 60.0));
        assert_eq!(s.thresholds.slow_query_ratio, Threshold::new(1.0, 2.0));
        assert_eq!(
            s.thresholds.buffer_pool_hit_ratio,
            Threshold::new(95.0, 90.0)
        );
        assert_eq!(s.fail_on_alert, Some(Level::Critical));
        assert!(s.enabled);
        let off = MonitorSettings::resolve(
            &def,
            &MonitorFlagValues {
                disabled: true,
                fail_on_alert: Some("none"),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!off.enabled);
        assert_eq!(off.fail_on_alert, None);
    }

    #[test]
    fn bad_workload_keys_say_what_is_known() {
        let mut def = MonitorDef::default();
        let e = def.set("colour", &toml::Value::Boolean(true)).unwrap_err();
        assert!(e.contains("enabled, interval"), "{e}");
        let e = def
            .set("connection_usage", &toml::Value::Integer(3))
            .unwrap_err();
        assert!(e.contains("warning = 75"), "{e}");
    }
}
