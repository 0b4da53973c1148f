//! Deterministic tests of scheduling, retries and accounting on a mock executor (no database:
//! the integration tests in `tests/` cover the real thing).

use super::exec::{Connector, Control, ExecError, Session};
use super::*;
use crate::settings::Settings;
use crate::workload;
use mysql_async::Value;
use std::sync::atomic::{AtomicU64, Ordering};

/// A session that answers every statement after `delay`, and fails every `fail_every`-th
/// statement with `code` (0 = never).
struct Mock {
    delay: Duration,
    fail_every: u64,
    code: u16,
    calls: Arc<AtomicU64>,
    /// Sessions asked to wait for replies in the kernel.
    kernel_waits: Arc<AtomicU64>,
    /// Sessions opened on a thread that runs SCHED_BATCH.
    batch_connects: Arc<AtomicU64>,
}

struct MockSession {
    delay: Duration,
    fail_every: u64,
    code: u16,
    calls: Arc<AtomicU64>,
    kernel_waits: Arc<AtomicU64>,
}

impl Connector for Mock {
    type S = MockSession;
    async fn connect(&self) -> Result<MockSession, ExecError> {
        #[cfg(target_os = "linux")]
        // SAFETY: plain query of the calling thread's policy.
        if unsafe { libc::sched_getscheduler(0) } == libc::SCHED_BATCH {
            self.batch_connects.fetch_add(1, Ordering::Relaxed);
        }
        Ok(MockSession {
            delay: self.delay,
            fail_every: self.fail_every,
            code: self.code,
            calls: self.calls.clone(),
            kernel_waits: self.kernel_waits.clone(),
        })
    }
}

impl Session for MockSession {
    async fn exec(&mut self, _sql: usize, _params: &mut Vec<Value>) -> Result<(), ExecError> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if self.fail_every > 0 && n % self.fail_every == 0 {
            return Err(ExecError {
                code: self.code,
                message: "mock".into(),
                connection_lost: false,
            });
        }
        Ok(())
    }
    async fn control(&mut self, _c: Control) -> Result<(), ExecError> {
        Ok(())
    }
    async fn close(self) {}
    fn wait_in_kernel(&mut self, _bound: Duration) {
        self.kernel_waits.fetch_add(1, Ordering::Relaxed);
    }
}

fn plan(name: &str) -> Arc<Plan> {
    let w = workload::load(name).unwrap();
    let s = Settings::resolve(&w, &[], &[]).unwrap();
    Arc::new(Plan::compile(&w, &s).unwrap())
}

fn cfg(workers: u32) -> EngineConfig {
    EngineConfig {
        workers,
        client_threads: 1,
        block_replies: true,
        batch_threads: false,
        warmup: Duration::ZERO,
        duration: None,
        rate: None,
        events: None,
        seed: 1,
        retry_errors: vec![1213],
        interval: Duration::from_millis(100),
        grace: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(1),
    }
}

fn mock(delay_us: u64, fail_every: u64, code: u16) -> (Arc<Mock>, Arc<AtomicU64>) {
    let calls = Arc::new(AtomicU64::new(0));
    (
        Arc::new(Mock {
            delay: Duration::from_micros(delay_us),
            fail_every,
            code,
            calls: calls.clone(),
            kernel_waits: Arc::new(AtomicU64::new(0)),
            batch_connects: Arc::new(AtomicU64::new(0)),
        }),
        calls,
    )
}

#[test]
fn only_a_worker_alone_on_its_client_thread_waits_in_the_kernel() {
    // (workers, client threads, block_replies) -> sessions asked for kernel waits.
    for (workers, threads, block, expected) in [
        (3, 3, true, 3),  // one worker per thread: each waits in the kernel
        (3, 2, true, 1),  // workers 0 and 2 share a thread; worker 1 is alone
        (4, 1, true, 0),  // all on one thread: the poller
        (3, 3, false, 0), // reply_wait = poll
    ] {
        let (m, _) = mock(0, 0, 0);
        let mut c = cfg(workers);
        c.client_threads = threads;
        c.block_replies = block;
        c.events = Some(20);
        let out = run(c, plan("oltp_point_select"), m.clone());
        assert_eq!(out.completed, 20);
        assert_eq!(
            m.kernel_waits.load(Ordering::Relaxed),
            expected,
            "{workers} workers on {threads} threads, block_replies {block}"
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn batch_threads_open_every_session_under_sched_batch_and_leave_the_caller_alone() {
    for batch in [true, false] {
        let (m, _) = mock(0, 0, 0);
        let mut c = cfg(3);
        c.batch_threads = batch;
        c.events = Some(30);
        let out = run(c, plan("oltp_point_select"), m.clone());
        assert_eq!(out.completed, 30);
        assert!(out.batch_refused.is_none(), "{:?}", out.batch_refused);
        let expected = if batch { 3 } else { 0 };
        assert_eq!(
            m.batch_connects.load(Ordering::Relaxed),
            expected,
            "batch {batch}"
        );
    }
    // The coordinating thread (the caller's) keeps its policy.
    // SAFETY: plain query of the calling thread's policy.
    assert_ne!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_BATCH);
}

#[test]
fn closed_loop_runs_exactly_the_requested_events() {
    let (m, calls) = mock(0, 0, 0);
    let mut c = cfg(3);
    c.client_threads = 2;
    c.events = Some(500);
    let out = run(c, plan("oltp_read_write"), m);
    assert_eq!(out.completed, 500);
    assert_eq!(out.totals.queries.read, 500 * 14);
    assert_eq!(out.totals.queries.write, 500 * 4);
    assert_eq!(out.totals.queries.other, 500 * 2);
    // The mock saw every prepared statement execution (BEGIN/COMMIT are control, not exec).
    assert_eq!(calls.load(Ordering::Relaxed), 500 * 18);
    assert!(out.schedule.is_none());
}

#[test]
fn retryable_errors_restart_the_transaction_and_are_counted() {
    // Every 50th statement fails with a deadlock: the transaction restarts, nothing is lost.
    let (m, _) = mock(0, 50, 1213);
    let mut c = cfg(2);
    c.events = Some(200);
    let out = run(c, plan("oltp_read_write"), m);
    assert_eq!(out.completed, 200);
    assert_eq!(out.failed, 0);
    let e = &out.totals.errors[&1213];
    assert!(e.count > 0 && e.count == e.retried, "{e:?}");
    assert_eq!(out.totals.retries, e.count);
    assert_eq!(e.kind, "deadlock");
}

#[test]
fn other_errors_fail_the_transaction_and_are_classified() {
    let (m, _) = mock(0, 25, 1062);
    let mut c = cfg(2);
    c.events = Some(100);
    let out = run(c, plan("oltp_read_write"), m);
    assert_eq!(out.completed + out.failed, 100);
    assert!(out.failed > 0);
    assert_eq!(out.totals.errors[&1062].retried, 0);
    assert_eq!(out.totals.errors[&1062].kind, "other");
}

#[test]
fn open_loop_issues_the_backlog_and_accounts_for_everything() {
    // 2 workers, 2 ms per statement, 1000 tx/s: each worker manages 500/s, so the schedule
    // keeps up only just; with 1 worker it falls behind by half.
    let (m, _) = mock(2_000, 0, 0);
    let mut c = cfg(1);
    c.rate = Some(1000.0);
    c.duration = Some(Duration::from_millis(600));
    let out = run(c, plan("oltp_point_select"), m);
    let s = out.schedule.expect("open loop has a schedule");
    assert_eq!(
        s.scheduled,
        s.completed + s.failed + s.in_flight + s.not_started,
        "{s:?}"
    );
    assert!((590..=601).contains(&s.scheduled), "{s:?}");
    assert!(
        s.not_started > 200,
        "one 2 ms worker cannot keep 1000/s: {s:?}"
    );
    assert!(s.fell_behind, "{s:?}");
    // Corrected latency includes the wait for the free connection; service does not.
    let corrected = out.totals.txn[0].corrected.value_at_quantile(0.99);
    let service = out.totals.txn[0].service.value_at_quantile(0.99);
    assert!(
        corrected > 10 * service,
        "corrected {corrected} ns, service {service} ns"
    );
}

#[test]
fn open_loop_keeps_up_when_capacity_allows() {
    let (m, _) = mock(200, 0, 0);
    let mut c = cfg(4);
    c.client_threads = 2;
    c.rate = Some(500.0);
    c.duration = Some(Duration::from_millis(800));
    let out = run(c, plan("oltp_point_select"), m);
    let s = out.schedule.unwrap();
    assert_eq!(
        s.scheduled,
        s.completed + s.failed + s.in_flight + s.not_started
    );
    assert!(!s.fell_behind, "{s:?}");
    assert!(s.not_started <= 2, "{s:?}");
    let achieved = s.achieved_rate;
    assert!((achieved - 500.0).abs() < 15.0, "{achieved}");
}

#[test]
fn warmup_is_excluded_from_totals_but_kept_in_the_series() {
    let (m, _) = mock(1_000, 0, 0);
    let mut c = cfg(1);
    c.warmup = Duration::from_millis(300);
    c.duration = Some(Duration::from_millis(300));
    let out = run(c, plan("oltp_point_select"), m);
    let series: u64 = out.intervals.iter().map(|i| i.transactions).sum();
    let measured = out.totals.txn[0].service.len();
    assert!(
        series > measured + 50,
        "series {series}, measured {measured}"
    );
    assert!(out.intervals.iter().any(|i| i.warmup));
    assert!((out.measured_s - 0.3).abs() < 0.05, "{}", out.measured_s);
}

#[test]
fn a_worker_that_cannot_connect_fails_the_start() {
    struct Refuse;
    impl Connector for Refuse {
        type S = MockSession;
        async fn connect(&self) -> Result<MockSession, ExecError> {
            Err(ExecError {
                code: 1040,
                message: "Too many connections".into(),
                connection_lost: true,
            })
        }
    }
    let mut c = cfg(2);
    c.events = Some(10);
    let out = run(c, plan("oltp_point_select"), Arc::new(Refuse));
    assert_eq!(out.startup_error.as_ref().map(|e| e.code), Some(1040));
    assert_eq!(out.completed, 0);
}

#[test]
fn an_interval_closes_when_every_thread_has_handed_it_over_or_one_interval_late() {
    let mut agg = Aggregator::new(1.0, 0.0, 2);
    let acc = |idx: u64, errors: u64| {
        let mut a = IntervalAcc::new(idx);
        a.errors = errors;
        a
    };
    // In interval 1, thread 0 has handed interval 0 over, thread 1 not yet: wait.
    agg.hand_over(0, &[acc(0, 10)], 1);
    assert_eq!(agg.closable(1, u64::MAX), (0, true));
    // Thread 1's report arrives: interval 0 closes with both threads' counts (errors here).
    agg.hand_over(1, &[acc(0, 5)], 1);
    assert_eq!(agg.closable(1, u64::MAX), (1, false));
    agg.close_before(1);
    assert_eq!(agg.samples[0].errors, 15);
    // Thread 1 falls silent: interval 1 waits through interval 2, closes in interval 3, and a
    // late report then counts in the oldest open interval instead of being lost.
    agg.hand_over(0, &[acc(1, 10), acc(2, 10)], 3);
    assert_eq!(agg.closable(2, u64::MAX), (1, true));
    assert_eq!(agg.closable(3, u64::MAX), (2, true));
    agg.close_before(2);
    assert_eq!(agg.samples[1].errors, 10);
    agg.hand_over(1, &[acc(1, 7)], u64::MAX);
    assert_eq!(agg.closable(3, u64::MAX), (3, false));
    agg.close_before(3);
    assert_eq!(agg.samples[2].errors, 17);

    // The run's last interval (3 here) stays open whatever the threads report...
    agg.hand_over(0, &[acc(3, 4)], u64::MAX);
    assert_eq!(agg.closable(5, 3), (3, false));
    // ...and at the end the interval after it, the transactions in flight at the deadline, is
    // folded in; open connections are a level, not summed.
    let mut tail = acc(4, 2);
    tail.conn_open = 2;
    agg.open.get_mut(&3).unwrap().conn_open = 2;
    agg.hand_over(0, &[tail, acc(5, 1)], u64::MAX);
    agg.fold_tail(3);
    agg.close_before(6);
    assert_eq!(agg.samples[3].errors, 6);
    assert_eq!(agg.samples[3].conn_open, 2);
    assert_eq!(agg.samples[4].errors, 0, "folded into the last interval");
    assert_eq!(
        agg.samples[5].errors, 1,
        "a slower tail keeps its own interval"
    );
}

/// A server that answers its first `answers` statements at once and then never again.
struct Stalls {
    answers: u64,
    calls: Arc<AtomicU64>,
}

struct StalledSession {
    answers: u64,
    calls: Arc<AtomicU64>,
}

impl Connector for Stalls {
    type S = StalledSession;
    async fn connect(&self) -> Result<StalledSession, ExecError> {
        Ok(StalledSession {
            answers: self.answers,
            calls: self.calls.clone(),
        })
    }
}

impl Session for StalledSession {
    async fn exec(&mut self, _sql: usize, _params: &mut Vec<Value>) -> Result<(), ExecError> {
        if self.calls.fetch_add(1, Ordering::Relaxed) >= self.answers {
            std::future::pending::<()>().await;
        }
        tokio::task::yield_now().await;
        Ok(())
    }
    async fn control(&mut self, _c: Control) -> Result<(), ExecError> {
        Ok(())
    }
    async fn close(self) {}
    fn wait_in_kernel(&mut self, _bound: Duration) {}
}

fn stalls(answers: u64) -> Arc<Stalls> {
    Arc::new(Stalls {
        answers,
        calls: Arc::new(AtomicU64::new(0)),
    })
}

#[test]
fn a_server_stalled_past_the_end_leaves_lower_bounds_not_holes() {
    // Closed loop: both workers wait forever on their 51st statement or so.
    let mut c = cfg(2);
    c.client_threads = 2;
    c.duration = Some(Duration::from_millis(300));
    let grace = c.grace;
    let out = run(c, plan("oltp_point_select"), stalls(50));
    assert_eq!(out.in_flight, 2);
    let u = out
        .unfinished
        .as_ref()
        .expect("the stalled ones are accounted for");
    assert_eq!((u.in_flight, u.not_started), (2, 0));
    let cut = &out.totals.txn[0].cut_corrected;
    assert_eq!(cut.len(), 2, "both in the latency");
    // Each waited at least from its send (before the deadline) to the end of the grace.
    assert!(cut.min() >= grace.as_nanos() as u64, "{} ns", cut.min());
    assert!(u.lower_bound_from_ms >= grace.as_secs_f64() * 1e3);
    assert_eq!(out.totals.txn[0].service.len(), out.completed);
    assert!(u.oldest_in_flight_sent_s.is_some() && u.last_completed_s.is_some());
}

#[test]
fn an_open_loop_schedule_left_by_a_stalled_server_is_counted_and_bounded() {
    let mut c = cfg(2);
    c.client_threads = 2;
    c.rate = Some(1000.0);
    c.duration = Some(Duration::from_millis(300));
    let out = run(c, plan("oltp_point_select"), stalls(50));
    let s = out.schedule.clone().expect("open loop");
    assert_eq!(
        s.scheduled,
        s.completed + s.failed + s.in_flight + s.not_started,
        "{s:?}"
    );
    assert_eq!(s.in_flight, 2, "{s:?}");
    assert!(s.not_started > 150, "{s:?}");
    let u = out.unfinished.as_ref().expect("unfinished");
    assert_eq!((u.in_flight, u.not_started), (2, s.not_started));
    // Every one that never started is in the corrected latency, at a positive lower bound.
    assert_eq!(out.totals.not_started.len(), s.not_started);
    assert_eq!(out.totals.txn[0].cut_corrected.len(), 2);
}

#[test]
fn a_low_rate_measures_the_whole_duration() {
    // 4 transactions a second for 1 s: the schedule is done at 0.75 s, the window is not.
    let (m, _) = mock(0, 0, 0);
    let mut c = cfg(1);
    c.rate = Some(4.0);
    c.duration = Some(Duration::from_secs(1));
    let out = run(c, plan("oltp_point_select"), m);
    assert!((out.measured_s - 1.0).abs() < 0.02, "{}", out.measured_s);
    let s = out.schedule.expect("open loop");
    assert_eq!((s.scheduled, s.completed), (4, 4), "{s:?}");
    assert!((s.achieved_rate - 4.0).abs() < 0.1, "{s:?}");
    assert!(out.unfinished.is_none());
}

#[test]
fn a_transaction_due_just_before_the_deadline_starts_though_its_timer_wakes_after() {
    // 10/s for 300.001 ms: the 4th transaction is due 1 µs before the deadline, and no timer
    // wakes its (idle) worker that precisely.
    let (m, _) = mock(0, 0, 0);
    let mut c = cfg(1);
    c.rate = Some(10.0);
    c.duration = Some(Duration::from_micros(300_001));
    let out = run(c, plan("oltp_point_select"), m);
    let s = out.schedule.expect("open loop");
    assert_eq!(
        (s.scheduled, s.completed, s.not_started),
        (4, 4, 0),
        "{s:?}"
    );
    assert!(out.unfinished.is_none());
}
