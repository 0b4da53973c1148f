//! Thresholds applied to measured values: which alerts a run, a monitor session or a health
//! check raises. Pure; the values come from the server samples, the pool and the run summary.

use super::config::{alerts_below, threshold, unit_of, Unit, METRICS};
use crate::record::{Alert, IdleCheck, Level, PoolSummary, ServerSample, Summary, Thresholds};

/// Fewest buffer-pool read requests for the hit ratio to be judged: a freshly started server's
/// first reads all miss.
pub const MIN_PAGE_REQUESTS: u64 = 10_000;
/// Fewest statements for the slow-query ratio to be judged.
pub const MIN_QUESTIONS: u64 = 100;

/// The value of each metric, where it could be measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Measured {
    pub connection_usage: Option<f64>,
    pub slow_query_ratio: Option<f64>,
    pub avg_statement_time: Option<f64>,
    pub buffer_pool_hit_ratio: Option<f64>,
    pub pool_wait: Option<f64>,
    pub error_rate: Option<f64>,
}

impl Measured {
    pub fn get(&self, metric: &str) -> Option<f64> {
        match metric {
            "connection_usage" => self.connection_usage,
            "slow_query_ratio" => self.slow_query_ratio,
            "avg_statement_time" => self.avg_statement_time,
            "buffer_pool_hit_ratio" => self.buffer_pool_hit_ratio,
            "pool_wait" => self.pool_wait,
            "error_rate" => self.error_rate,
            _ => None,
        }
    }

    /// The server's side, from a sample or the whole window. Ratios over too few events to
    /// mean anything (a server's first page reads, a handful of statements) are not judged.
    pub fn from_server(s: &ServerSample) -> Measured {
        Measured {
            connection_usage: s.connection_usage_pct,
            slow_query_ratio: s
                .slow_query_ratio_pct
                .filter(|_| s.questions >= MIN_QUESTIONS),
            avg_statement_time: s.avg_statement_ms,
            buffer_pool_hit_ratio: s
                .buffer_pool_hit_pct
                .filter(|_| s.buffer_pool_read_requests >= MIN_PAGE_REQUESTS),
            ..Measured::default()
        }
    }

    /// Adds the client's side: pool waits and the error rate.
    pub fn with_client(mut self, pool: Option<&PoolSummary>, summary: Option<&Summary>) -> Self {
        self.pool_wait = pool
            .filter(|p| p.wait_avg_ms.is_finite())
            .map(|p| p.wait_avg_ms);
        self.error_rate = summary.and_then(|s| {
            let errors: u64 = s.errors.iter().map(|e| e.count).sum();
            let attempts = s.transactions + errors;
            (attempts > 0).then(|| 100.0 * errors as f64 / attempts as f64)
        });
        self
    }
}

/// The level `value` reaches for `metric` under threshold levels `(warning, critical)`.
pub fn level_of(
    metric: &str,
    value: f64,
    warning: Option<f64>,
    critical: Option<f64>,
) -> Option<(Level, f64)> {
    let crossed = |limit: f64| {
        if alerts_below(metric) {
            value < limit
        } else {
            value >= limit
        }
    };
    if let Some(c) = critical.filter(|c| crossed(*c)) {
        return Some((Level::Critical, c));
    }
    warning.filter(|w| crossed(*w)).map(|w| (Level::Warning, w))
}

fn fmt_value(metric: &str, v: f64) -> String {
    match unit_of(metric) {
        Some(Unit::Millis) if v >= 1000.0 => format!("{:.2} s", v / 1000.0),
        Some(Unit::Millis) => format!("{v:.2} ms"),
        _ => format!("{v:.2} %"),
    }
}

fn message(metric: &str, value: f64, level: Level, limit: f64) -> String {
    let v = fmt_value(metric, value);
    let l = fmt_value(metric, limit);
    let what = match metric {
        "connection_usage" => format!("connection usage peaked at {v} of max_connections"),
        "slow_query_ratio" => format!("{v} of the statements were slow (Slow_queries / Questions)"),
        "avg_statement_time" => format!("statements took {v} on average on the server"),
        "buffer_pool_hit_ratio" => format!(
            "the InnoDB buffer-pool hit ratio was {v}: reads went to disk (innodb_buffer_pool_size too small for the data?)"
        ),
        "pool_wait" => format!(
            "due transactions waited {v} on average for a free connection: too few connections for the rate"
        ),
        "error_rate" => format!("{v} of the transaction attempts ended in an error"),
        _ => format!("{metric} was {v}"),
    };
    let side = if alerts_below(metric) {
        "below"
    } else {
        "at or above"
    };
    format!("{what} ({} {side} {l})", level.as_str())
}

/// Every threshold crossed by `m`, in the order of [`METRICS`].
pub fn evaluate(t: &Thresholds, m: &Measured) -> Vec<Alert> {
    let mut out = Vec::new();
    for (metric, _, _) in METRICS {
        let (Some(value), Some(th)) = (m.get(metric), threshold(t, metric)) else {
            continue;
        };
        if let Some((level, limit)) = level_of(metric, value, th.warning, th.critical) {
            out.push(Alert {
                metric: metric.to_string(),
                level,
                value,
                threshold: limit,
                message: message(metric, value, level, limit),
            });
        }
    }
    out
}

/// A connection leak: more idle connections of the harness user after the run than the pool
/// holds.
pub fn idle_leak(c: &IdleCheck) -> Option<Alert> {
    (c.idle > c.pool_size).then(|| Alert {
        metric: "idle_connections".into(),
        level: Level::Critical,
        value: c.idle as f64,
        threshold: c.pool_size as f64,
        message: format!(
            "SHOW PROCESSLIST shows {} idle connections of user `{}` after the run, more than the pool's {}: connections are leaking",
            c.idle, c.user, c.pool_size
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorCount, Threshold};

    #[test]
    fn levels_above_and_below() {
        assert_eq!(
            level_of("connection_usage", 74.9, Some(75.0), Some(90.0)),
            None
        );
        assert_eq!(
            level_of("connection_usage", 75.0, Some(75.0), Some(90.0)),
            Some((Level::Warning, 75.0))
        );
        assert_eq!(
            level_of("connection_usage", 95.0, Some(75.0), Some(90.0)),
            Some((Level::Critical, 90.0))
        );
        assert_eq!(
            level_of("buffer_pool_hit_ratio", 99.0, Some(95.0), Some(90.0)),
            None
        );
        assert_eq!(
            level_of("buffer_pool_hit_ratio", 92.0, Some(95.0), Some(90.0)),
            Some((Level::Warning, 95.0))
        );
        assert_eq!(
            level_of("buffer_pool_hit_ratio", 80.0, Some(95.0), Some(90.0)),
            Some((Level::Critical, 90.0))
        );
        assert_eq!(level_of("error_rate", 50.0, None, None), None);
    }

    #[test]
    fn evaluates_every_measured_metric_against_the_defaults() {
        let m = Measured {
            connection_usage: Some(90.0),
            slow_query_ratio: Some(0.0),
            avg_statement_time: None,
            buffer_pool_hit_ratio: Some(93.0),
            pool_wait: Some(0.0),
            error_rate: Some(1.5),
        };
        let a = evaluate(&Thresholds::default(), &m);
        let got: Vec<(&str, Level)> = a.iter().map(|a| (a.metric.as_str(), a.level)).collect();
        assert_eq!(
            got,
            [
                ("connection_usage", Level::Critical),
                ("buffer_pool_hit_ratio", Level::Warning),
                ("error_rate", Level::Warning),
            ]
        );
        assert!(a[1].message.contains("93.00 %") && a[1].message.contains("below 95.00 %"));
        let t = Thresholds {
            connection_usage: Threshold::default(),
            ..Thresholds::default()
        };
        assert_eq!(
            evaluate(&t, &m).len(),
            2,
            "a disabled threshold raises nothing"
        );
    }

    #[test]
    fn too_few_events_are_not_judged() {
        let s = ServerSample {
            questions: 99,
            slow_query_ratio_pct: Some(50.0),
            buffer_pool_read_requests: 914,
            buffer_pool_hit_pct: Some(81.9),
            ..ServerSample::default()
        };
        let m = Measured::from_server(&s);
        assert_eq!((m.slow_query_ratio, m.buffer_pool_hit_ratio), (None, None));
    }

    #[test]
    fn error_rate_counts_errors_per_attempt() {
        let s = Summary {
            transactions: 97,
            errors: vec![ErrorCount {
                code: 1213,
                kind: "deadlock".into(),
                count: 3,
                retried: 3,
                example: String::new(),
            }],
            ..Summary::default()
        };
        let m = Measured::default().with_client(None, Some(&s));
        assert_eq!(m.error_rate, Some(3.0));
        assert_eq!(m.pool_wait, None);
    }

    #[test]
    fn a_leak_is_more_idle_connections_than_the_pool() {
        let mut c = IdleCheck {
            user: "bench".into(),
            idle: 4,
            total: 4,
            pool_size: 4,
        };
        assert!(idle_leak(&c).is_none());
        c.idle = 5;
        let a = idle_leak(&c).unwrap();
        assert_eq!(a.level, Level::Critical);
        assert!(a.message.contains("leaking"));
    }
}
