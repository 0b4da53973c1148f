//! What a person sees while a run is going: a sysbench-like line every `report_interval`, or a
//! progress bar, both on stderr. The engine hands its closed intervals to an
//! [`engine::Progress`](crate::engine::Progress) and never prints; these are the two it gets.

use crate::engine::Progress;
use crate::record::{IntervalSample, ServerInfo};
use crate::settings::Settings;
use std::time::Duration;

/// A line every `every_s` seconds (grouping that many closed intervals).
pub struct Lines {
    per: usize,
    printed: usize,
    workers: u32,
    interval_s: f64,
}

impl Lines {
    pub fn new(every_s: f64, interval_s: f64, workers: u32) -> Lines {
        Lines {
            per: (every_s / interval_s).round().max(1.0) as usize,
            printed: 0,
            workers,
            interval_s,
        }
    }
}

impl Progress for Lines {
    fn update(&mut self, samples: &[IntervalSample], _elapsed: Duration) {
        while samples.len() >= self.printed + self.per {
            eprintln!(
                "{}",
                line(
                    &samples[self.printed..self.printed + self.per],
                    self.workers,
                    self.interval_s
                )
            );
            self.printed += self.per;
        }
    }
}

/// A progress bar over warm-up plus duration, with the last interval's throughput and p99.
#[derive(Default)]
pub struct Bar {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress for Bar {
    fn start(&mut self, total: Duration) {
        let b = indicatif::ProgressBar::with_draw_target(
            Some(total.as_secs().max(1)),
            indicatif::ProgressDrawTarget::stderr(),
        );
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {pos}/{len}s {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        self.bar = Some(b);
    }

    fn update(&mut self, samples: &[IntervalSample], elapsed: Duration) {
        if let Some(b) = &self.bar {
            b.set_position(elapsed.as_secs());
            if let Some(s) = samples.last() {
                b.set_message(format!(
                    "{:.0} tps, p99 {:.2} ms",
                    s.tps, s.corrected_p99_ms
                ));
            }
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// The line a run starts with: what runs where, how, and the run's id.
pub fn run_header(
    workload: &str,
    target: &str,
    server: &ServerInfo,
    s: &Settings,
    id: i64,
) -> String {
    format!(
        "Running {} on {} ({} {}): {} threads, {}, {} s{} — run {id}",
        workload,
        target,
        server.flavor,
        server.version,
        s.threads,
        s.rate.map_or("closed loop".to_string(), |r| format!(
            "open loop at {r} tx/s"
        )),
        s.duration_s,
        if s.warmup_s > 0.0 {
            format!(" after {} s warm-up", s.warmup_s)
        } else {
            String::new()
        },
    )
}

/// One live line over `samples` (consecutive intervals of `interval_s` seconds each).
pub fn line(samples: &[IntervalSample], workers: u32, interval_s: f64) -> String {
    let secs = samples.len() as f64 * interval_s;
    let last = samples.last().map_or(0.0, |s| s.t);
    let txns: u64 = samples.iter().map(|s| s.transactions).sum();
    let (r, w, o) = samples.iter().fold((0, 0, 0), |a, s| {
        (
            a.0 + s.queries.read,
            a.1 + s.queries.write,
            a.2 + s.queries.other,
        )
    });
    let errors: u64 = samples.iter().map(|s| s.errors).sum();
    let reconn: u64 = samples.iter().map(|s| s.reconnects).sum();
    let p95 = samples
        .iter()
        .map(|s| s.corrected_p95_ms)
        .fold(0.0, f64::max);
    let p99 = samples
        .iter()
        .map(|s| s.corrected_p99_ms)
        .fold(0.0, f64::max);
    let warm = if samples.iter().all(|s| s.warmup) {
        " (warm-up)"
    } else {
        ""
    };
    format!(
        "[ {last:>4.0}s ] thds: {workers} tps: {:.2} qps: {:.2} (r/w/o: {:.2}/{:.2}/{:.2}) lat (ms) p95: {p95:.2} p99: {p99:.2} err/s: {:.2} reconn/s: {:.2}{warm}",
        txns as f64 / secs,
        (r + w + o) as f64 / secs,
        r as f64 / secs,
        w as f64 / secs,
        o as f64 / secs,
        errors as f64 / secs,
        reconn as f64 / secs,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_groups_intervals_into_rates() {
        let s = IntervalSample {
            t: 2.0,
            transactions: 100,
            queries: crate::record::QueryCounts {
                read: 1400,
                write: 400,
                other: 200,
            },
            corrected_p95_ms: 3.0,
            corrected_p99_ms: 4.5,
            ..Default::default()
        };
        let l = line(&[s.clone(), s], 4, 1.0);
        assert_eq!(
            l,
            "[    2s ] thds: 4 tps: 100.00 qps: 2000.00 (r/w/o: 1400.00/400.00/200.00) lat (ms) p95: 3.00 p99: 4.50 err/s: 0.00 reconn/s: 0.00"
        );
    }
}
