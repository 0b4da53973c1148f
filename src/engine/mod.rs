//! The load engine: workers, schedules, client threads, live output.
//!
//! Layout: `client_threads` OS threads, each running one tokio `current_thread` runtime with a
//! `LocalSet`; workers (one connection each) are spread over them round-robin. Each thread owns
//! one [`recorder::Recorder`] shared by its workers through `Rc<RefCell<_>>`, so recording costs
//! no atomic operation and no lock; threads hand finished intervals to the [`Aggregator`] once
//! per interval. On these 2-core machines the layout decides client CPU per query, so it is a
//! setting (`client_threads`) rather than a guess (docs/design.md, "Client speed").
//!
//! Waiting for replies: a worker that is alone on its client thread (the default layout, one
//! thread per worker) asks its session to wait in the kernel's blocking receive, as sysbench's
//! client does, instead of parking the runtime in `epoll_wait` and reading afterwards: two
//! system calls per query instead of three, and less client CPU per query
//! (docs/measurements/2026-12-06-compare-sysbench.md). The receive is bounded
//! ([`REPLY_BLOCK_BOUND`]): a reply slower than that
//! falls back to the poller, so the thread's ticker, Ctrl-C and the hard stop are served all
//! the same. Connections that share a thread always use the poller: one blocked connection
//! must not hold up the others.
//!
//! Intervals: a worker's first completion past an interval boundary hands its thread's finished
//! intervals to the [`Aggregator`] (the ticker does it for a thread that completes nothing). A
//! thread whose replies all arrive without a wait runs its ticker only every few hundred
//! queries, so the ticker alone handed intervals over late. The main thread closes an interval
//! once every thread has handed it over, or one interval late at the latest; a report after
//! that counts in the oldest open interval. The run's last interval stays open until the end:
//! the transactions in flight at the deadline complete just after it and count in it.
//!
//! Closed loop: each worker runs transactions back to back; latency is measured from the send.
//! Open loop (`rate`): transaction `n` has intended start `start + n / rate`, whatever happened
//! before. A worker takes the next sequence number when it is free, sleeps until its intended
//! start if it is early, and sends at once if it is late, so the backlog is issued rather than
//! skipped and the wait for a free connection is part of the corrected latency (completion −
//! intended start). The service latency (completion − actual send) is kept beside it. At the
//! end every scheduled transaction is accounted for: completed, failed, in flight, or not
//! started.
//!
//! The end: at the deadline (or Ctrl-C) no new transaction starts; the ones in flight get the
//! grace, then the hard stop drops them, however long the server takes. Nothing is left out of
//! the latency: each transaction still in flight at the hard stop counts at the time from its
//! intended start (and its send) to the hard stop, and in open loop each one due before the end
//! that never started at the time from its intended start to the end; both are lower bounds,
//! kept apart from the completions (so counts and rates hold completions only) and described by
//! [`Outcome::unfinished`]. A run on a duration lasts its duration even when every worker is
//! done before it (an open-loop schedule at a low rate): the window is the duration asked for.
//!
//! The pool (one connection per worker) is measured the same way: each thread's recorder counts
//! connections opened (and how long that took), discarded, busy time and open-loop waits, merged
//! at interval boundaries. Two hooks serve the embedded monitor ([`Hooks`]): a [`LiveSink`]
//! that sees every closed interval (the Prometheus endpoint), and `before_close`, called once
//! after the load has stopped and before the workers close their connections, so the server's
//! per-connection statement statistics can still be read.

pub mod exec;
pub mod lean;
pub mod recorder;
pub mod summary;
pub mod timer;

use crate::record::{IntervalSample, Schedule, Unfinished};
use crate::workload::plan::Plan;
use crate::workload::Kind;
use exec::{Connector, Control, ErrKind, ExecError, Session};
use mysql_async::Value;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use recorder::{record, IntervalAcc, PoolTotals, Recorder, Totals};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sees the run's progress, from the coordinating thread, never from the hot path: the engine
/// never prints; what a person sees while a run goes (`report::live`) is one of these.
pub trait Progress: Send {
    /// The clock has started; the run is meant to take `total` (warm-up plus duration; zero
    /// when it ends on an event count).
    fn start(&mut self, _total: Duration) {}
    /// The intervals closed so far (each call sees the previous ones and maybe more), `elapsed`
    /// since the clock started.
    fn update(&mut self, _samples: &[IntervalSample], _elapsed: Duration) {}
    /// The run has ended.
    fn finish(&mut self) {}
}

/// What the engine needs to know; built from [`crate::settings::Settings`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub workers: u32,
    pub client_threads: u32,
    /// A worker alone on its client thread asks its session to wait for replies in the kernel
    /// ([`Session::wait_in_kernel`]); see the module docs.
    pub block_replies: bool,
    /// Client threads run SCHED_BATCH (see [`crate::settings::ClientSched`]).
    pub batch_threads: bool,
    pub warmup: Duration,
    /// `None`: run until `events` are done.
    pub duration: Option<Duration>,
    pub rate: Option<f64>,
    pub events: Option<u64>,
    pub seed: u64,
    pub retry_errors: Vec<u16>,
    /// Time series resolution.
    pub interval: Duration,
    /// How long to wait for in-flight transactions after the end or Ctrl-C.
    pub grace: Duration,
    pub connect_timeout: Duration,
}

/// Sees every interval when it closes, with its histograms (nanoseconds). Called from the
/// engine's coordinating thread once per interval, never from the hot path.
pub trait LiveSink: Send + Sync {
    fn interval(
        &self,
        sample: &IntervalSample,
        corrected: &hdrhistogram::Histogram<u64>,
        service: &hdrhistogram::Histogram<u64>,
    );
}

/// Optional hooks for the embedded monitor.
#[derive(Default)]
pub struct Hooks {
    pub live: Option<Arc<dyn LiveSink>>,
    /// What a person sees while the run goes (live lines, a progress bar).
    pub progress: Option<Box<dyn Progress>>,
    /// Called once when every worker has stopped issuing transactions and before any connection
    /// is closed (not called when the run never started). The connections wait for it, at most
    /// [`CLOSE_GATE_MAX`].
    pub before_close: Option<Box<dyn FnOnce() + Send>>,
    /// Called once when the clock starts, with the instant the warm-up ends (the measured
    /// window's start); it must not block. Not called when the run never started.
    pub measure_start: Option<Box<dyn FnOnce(Instant) + Send>>,
}

/// Longest time workers keep their connections open waiting for `before_close`.
pub const CLOSE_GATE_MAX: Duration = Duration::from_secs(30);

/// What a run measured.
pub struct Outcome {
    pub totals: Totals,
    pub intervals: Vec<IntervalSample>,
    /// Seconds of the measured window actually covered.
    pub measured_s: f64,
    pub schedule: Option<Schedule>,
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    pub in_flight: u64,
    pub interrupted: bool,
    /// Connection-level errors happened (server gone, reconnects).
    pub lost_connections: u64,
    /// A worker could not open its first connection: the run did not start.
    pub startup_error: Option<ExecError>,
    /// The pool's counters over the whole run, warm-up included.
    pub pool: PoolTotals,
    /// Why the client threads could not be switched to SCHED_BATCH, when asked; they ran
    /// as normal threads.
    pub batch_refused: Option<String>,
    /// The transactions the run gave up on (in flight when the grace ran out, or due and never
    /// started), whose latencies `totals` holds as lower bounds.
    pub unfinished: Option<Unfinished>,
}

/// A transaction on its way: its type, intended start and send.
#[derive(Clone, Copy)]
struct Flight {
    txn: usize,
    intended: Instant,
    send: Instant,
}

/// Counters one thread reports besides its recorder.
#[derive(Default, Clone)]
struct ThreadCounts {
    started: u64,
    completed: u64,
    failed: u64,
    lost: u64,
    max_lag_ns: u64,
    /// Per worker of the thread: the transaction it has in flight.
    flying: Vec<Option<Flight>>,
    /// Open loop: sequence numbers a worker took and then did not start (the run ended first).
    abandoned: Vec<u64>,
    /// The last completion (or failure) on the thread.
    last_done: Option<Instant>,
    /// The send of the oldest transaction still in flight when the run gave up on them.
    oldest_cut: Option<Instant>,
}

impl ThreadCounts {
    fn add(&mut self, c: &ThreadCounts) {
        self.started += c.started;
        self.completed += c.completed;
        self.failed += c.failed;
        self.lost += c.lost;
        self.max_lag_ns = self.max_lag_ns.max(c.max_lag_ns);
        self.abandoned.extend_from_slice(&c.abandoned);
        self.last_done = self.last_done.max(c.last_done);
        self.oldest_cut = match (self.oldest_cut, c.oldest_cut) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// Started and neither completed nor failed: still in flight when the run stopped.
    fn in_flight(&self) -> u64 {
        self.started.saturating_sub(self.completed + self.failed)
    }
}

struct Shared {
    stop: AtomicBool,
    /// Ctrl-C came (`stop` is set too).
    interrupted: AtomicBool,
    next_seq: AtomicU64,
    ready: AtomicUsize,
    startup_error: Mutex<Option<ExecError>>,
    batch_refused: Mutex<Option<String>>,
    agg: Mutex<Aggregator>,
}

#[derive(Clone, Copy)]
struct Clock {
    start: Instant,
    warmup_end: Instant,
    end: Option<Instant>,
    interval_ns: u64,
}

impl Clock {
    #[inline]
    fn idx(&self, t: Instant) -> u64 {
        (t.saturating_duration_since(self.start).as_nanos() as u64) / self.interval_ns
    }

    /// When interval `idx` begins.
    fn start_of(&self, idx: u64) -> Instant {
        self.start + Duration::from_nanos(idx * self.interval_ns)
    }

    /// The interval holding the last instant before `end`: a run ending on a boundary ends in
    /// the interval before it.
    fn last_idx(&self, end: Instant) -> u64 {
        self.idx(end.checked_sub(Duration::from_nanos(1)).unwrap_or(end))
    }
}

/// Merges interval accumulators from all threads and turns closed intervals into samples.
pub struct Aggregator {
    open: BTreeMap<u64, IntervalAcc>,
    closed_before: u64,
    /// Per client thread: every interval before this index has been handed over.
    reported: Vec<u64>,
    pub samples: Vec<IntervalSample>,
    interval_s: f64,
    warmup_s: f64,
    live: Option<Arc<dyn LiveSink>>,
}

impl Aggregator {
    fn new(interval_s: f64, warmup_s: f64, threads: usize) -> Self {
        Aggregator {
            open: BTreeMap::new(),
            closed_before: 0,
            reported: vec![0; threads],
            samples: Vec::new(),
            interval_s,
            warmup_s,
            live: None,
        }
    }

    fn add(&mut self, acc: &IntervalAcc) {
        // A late report for a closed interval goes into the oldest open one: counted, not lost.
        let idx = acc.idx.max(self.closed_before);
        self.open
            .entry(idx)
            .or_insert_with(|| IntervalAcc::new(idx))
            .merge(acc);
    }

    /// Thread `t`'s finished intervals; it has now handed over everything before `upto`.
    fn hand_over(&mut self, t: usize, fin: &[IntervalAcc], upto: u64) {
        for f in fin {
            self.add(f);
        }
        if let Some(r) = self.reported.get_mut(t) {
            *r = (*r).max(upto);
        }
    }

    /// The intervals to close (all before the returned index) at a tick in interval `now`:
    /// those every thread has handed over, and at the latest, one interval late, those before
    /// the previous one (a thread that has not reported by then is starved or stuck; what it
    /// hands over later goes into the oldest open interval). Never `last`, the run's last
    /// interval: it closes at the end, with the transactions in flight at the deadline
    /// ([`Aggregator::fold_tail`]). The second value is true when an ended interval that may
    /// close is still waiting for a thread.
    fn closable(&self, now: u64, last: u64) -> (u64, bool) {
        let all = self.reported.iter().copied().min().unwrap_or(u64::MAX);
        let upto = now.min(all.max(now.saturating_sub(1))).min(last);
        (upto, upto < now.min(last))
    }

    /// At the end: the interval right after `last`, the run's last, holds the transactions that
    /// were in flight at the deadline and completed just after it; they count in `last` rather
    /// than make an interval of their own that shows a few transactions over a whole interval
    /// (a collapse that never happened). Later intervals (a slow tail) keep their own.
    fn fold_tail(&mut self, last: u64) {
        if last < self.closed_before {
            return;
        }
        if let Some(tail) = self.open.remove(&(last + 1)) {
            self.open
                .entry(last)
                .or_insert_with(|| IntervalAcc::new(last))
                .merge_later(&tail);
        }
    }

    /// Close every interval before `idx`, filling gaps with empty samples.
    fn close_before(&mut self, idx: u64) {
        while self.closed_before < idx {
            let i = self.closed_before;
            let acc = self.open.remove(&i).unwrap_or_else(|| IntervalAcc::new(i));
            let sample = summary::interval_sample(&acc, self.interval_s, self.warmup_s);
            if let Some(l) = &self.live {
                l.interval(&sample, &acc.corrected, &acc.service);
            }
            self.samples.push(sample);
            self.closed_before += 1;
        }
    }
}

struct WorkerCtx<C: Connector> {
    /// Alone on its client thread, and the config asks for kernel waits.
    wait_in_kernel: bool,
    /// The worker's index among its thread's workers (its slot in `counts.flying`).
    slot: usize,
    /// The workers of a thread open their first connections one at a time: a burst of
    /// simultaneous connects from many workers per thread overflows the server's listen
    /// backlog, and the retransmitted SYNs outlast the connect timeout.
    connecting: Rc<tokio::sync::Semaphore>,
    /// The client thread's index (its slot in the aggregator).
    thread: usize,
    plan: Arc<Plan>,
    connector: Arc<C>,
    shared: Arc<Shared>,
    cfg: Arc<EngineConfig>,
    rec: Rc<RefCell<Recorder>>,
    counts: Rc<RefCell<ThreadCounts>>,
    clock: tokio::sync::watch::Receiver<Option<Clock>>,
}

impl<C: Connector> WorkerCtx<C> {
    /// A session just opened, set up for this worker's thread: replies awaited in the kernel
    /// when the worker is alone on it.
    fn adopt(&self, mut s: C::S) -> C::S {
        if self.wait_in_kernel {
            s.wait_in_kernel(REPLY_BLOCK_BOUND);
        }
        s
    }
}

/// Run the workload. Blocks until the run ends (deadline, event count, or Ctrl-C).
pub fn run<C>(cfg: EngineConfig, plan: Arc<Plan>, connector: Arc<C>) -> Outcome
where
    C: Connector + Send + Sync + 'static,
{
    run_with(cfg, plan, connector, Hooks::default())
}

/// [`run`] with the monitor's hooks.
pub fn run_with<C>(cfg: EngineConfig, plan: Arc<Plan>, connector: Arc<C>, hooks: Hooks) -> Outcome
where
    C: Connector + Send + Sync + 'static,
{
    let Hooks {
        live,
        mut before_close,
        progress,
        measure_start,
    } = hooks;
    let cfg = Arc::new(cfg);
    let nthreads = cfg.client_threads.clamp(1, cfg.workers.max(1));
    let mut agg = Aggregator::new(
        cfg.interval.as_secs_f64(),
        cfg.warmup.as_secs_f64(),
        nthreads as usize,
    );
    agg.live = live;
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        interrupted: AtomicBool::new(false),
        next_seq: AtomicU64::new(0),
        ready: AtomicUsize::new(0),
        startup_error: Mutex::new(None),
        batch_refused: Mutex::new(None),
        agg: Mutex::new(agg),
    });
    let (clock_tx, clock_rx) = tokio::sync::watch::channel::<Option<Clock>>(None);
    let (hard_tx, hard_rx) = tokio::sync::watch::channel(false);
    let (gate_tx, gate_rx) = tokio::sync::watch::channel(false);
    let (done_tx, done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();

    let handles: Vec<_> = (0..nthreads)
        .map(|t| {
            let ctx = ThreadCtx {
                thread: t as usize,
                workers: (0..cfg.workers).filter(|w| w % nthreads == t).collect(),
                plan: plan.clone(),
                connector: connector.clone(),
                shared: shared.clone(),
                cfg: cfg.clone(),
                clock: clock_rx.clone(),
                hard: hard_rx.clone(),
                gate: gate_rx.clone(),
                done: done_tx.clone(),
            };
            std::thread::Builder::new()
                .name(format!("lg-client-{t}"))
                .spawn(move || client_thread(ctx))
                .expect("the OS starts a client thread")
        })
        .collect();
    drop(done_tx);

    let signals = Coordinator {
        clock: clock_tx,
        hard: hard_tx,
        done: done_rx,
        measure_start,
    };
    let ran = coordinate(&cfg, &shared, nthreads, signals, progress);

    // Every thread has flushed (or the run never started): last look, then let them close.
    if ran.clock.is_some() {
        if let Some(hook) = before_close.take() {
            hook();
        }
    }
    let _ = gate_tx.send(true);
    let mut totals = Totals::new(plan.txns.len(), plan.statements.len());
    let mut counts = ThreadCounts::default();
    let mut pool = PoolTotals::default();
    for h in handles {
        if let Ok((t, c, p)) = h.join() {
            totals.merge(&t);
            pool.merge(&p);
            counts.add(&c);
        }
    }
    let startup_error = shared.startup_error.lock().ok().and_then(|e| e.clone());
    let (measured_s, intervals, schedule, unfinished) = match ran.clock {
        None => (0.0, Vec::new(), None, None),
        Some(clock) => {
            let (m, i, s) = close_series(&cfg, &shared, clock, ran.stopped_at, &counts, &totals);
            let end = run_end(clock, ran.stopped_at, Instant::now());
            let not_started = s.as_ref().map_or(0, |s| s.not_started);
            cut_not_started(&cfg, &shared, clock, end, &counts, not_started, &mut totals);
            let u = unfinished(&cfg, clock, &counts, not_started, &totals);
            (m, i, s, u)
        }
    };
    let batch_refused = shared.batch_refused.lock().unwrap().take();
    Outcome {
        totals,
        intervals,
        measured_s,
        schedule,
        started: counts.started,
        completed: counts.completed,
        failed: counts.failed,
        in_flight: counts.in_flight(),
        interrupted: ran.interrupted,
        lost_connections: counts.lost,
        startup_error,
        pool,
        batch_refused,
        unfinished,
    }
}

/// What one client thread needs: its workers, and the signals from the coordinating thread.
struct ThreadCtx<C> {
    thread: usize,
    workers: Vec<u32>,
    plan: Arc<Plan>,
    connector: Arc<C>,
    shared: Arc<Shared>,
    cfg: Arc<EngineConfig>,
    /// The run's clock, once every worker has connected (`None`: the run does not start).
    clock: tokio::sync::watch::Receiver<Option<Clock>>,
    /// The hard stop: the grace after the end or Ctrl-C is over.
    hard: tokio::sync::watch::Receiver<bool>,
    /// The monitor's last look is done: connections may close.
    gate: tokio::sync::watch::Receiver<bool>,
    /// Sent when the thread has handed over everything it measured.
    done: tokio::sync::mpsc::UnboundedSender<()>,
}

/// One client thread: its workers on one current-thread runtime sharing one recorder, until
/// they finish or the hard stop; then everything held goes to the aggregator and, once the
/// monitor has had its last look, the connections close. Returns what the thread measured.
fn client_thread<C>(ctx: ThreadCtx<C>) -> (Totals, ThreadCounts, PoolTotals)
where
    C: Connector + Send + Sync + 'static,
{
    let ThreadCtx {
        thread: t,
        workers,
        plan,
        connector,
        shared,
        cfg,
        clock,
        mut hard,
        mut gate,
        done,
    } = ctx;
    let wait_in_kernel = cfg.block_replies && workers.len() == 1;
    timer::tighten_timer_slack();
    if cfg.batch_threads {
        if let Err(e) = timer::batch_this_thread() {
            shared
                .batch_refused
                .lock()
                .unwrap()
                .get_or_insert(e.to_string());
        }
    }
    let rt = crate::util::runtime().expect("a current-thread runtime builds");
    let local = tokio::task::LocalSet::new();
    let rec = Rc::new(RefCell::new(Recorder::new(
        plan.txns.len(),
        plan.statements.len(),
    )));
    let counts = Rc::new(RefCell::new(ThreadCounts {
        flying: vec![None; workers.len()],
        ..ThreadCounts::default()
    }));
    let mut joins = Vec::new();
    let connecting = Rc::new(tokio::sync::Semaphore::new(1));
    for (slot, w) in workers.into_iter().enumerate() {
        let ctx = WorkerCtx {
            wait_in_kernel,
            slot,
            connecting: connecting.clone(),
            thread: t,
            plan: plan.clone(),
            connector: connector.clone(),
            shared: shared.clone(),
            cfg: cfg.clone(),
            rec: rec.clone(),
            counts: counts.clone(),
            clock: clock.clone(),
        };
        joins.push(local.spawn_local(worker(w, ctx)));
    }
    let ticker = local.spawn_local(ticker(
        t,
        rec.clone(),
        shared.clone(),
        clock.clone(),
        cfg.rate.map(|r| (r, cfg.events.unwrap_or(u64::MAX))),
    ));
    let kept = RefCell::new(Vec::new());
    let gave_up = rt.block_on(local.run_until(async {
        let all = async {
            for j in joins {
                if let Ok(Some(s)) = j.await {
                    kept.borrow_mut().push(s);
                }
            }
        };
        tokio::select! {
            _ = all => false,
            _ = hard.wait_for(|v| *v) => true,
        }
    }));
    ticker.abort();
    if gave_up {
        cut_in_flight(&rec, &counts);
    }
    {
        let _guard = rt.enter();
        drop(local);
    }
    // Final flush: everything still held goes to the aggregator.
    {
        let mut r = rec.borrow_mut();
        let cur_idx = r.current.idx;
        r.rotate_to(cur_idx + 1);
    }
    hand_over(&rec, &shared, t, u64::MAX);
    let _ = done.send(());
    // The monitor takes its last look at the server while the connections are still open
    // (per-connection statement statistics vanish with them), then they close.
    rt.block_on(async {
        let _ = tokio::time::timeout(CLOSE_GATE_MAX, gate.wait_for(|v| *v)).await;
        // All at once: each close waits at most its own bound, however many share the thread.
        futures_util::future::join_all(kept.into_inner().into_iter().map(|s| s.close())).await;
    });
    let (totals, pool) = match Rc::try_unwrap(rec) {
        Ok(r) => {
            let r = r.into_inner();
            (r.totals, r.pool)
        }
        Err(rc) => {
            let r = rc.borrow();
            (r.totals.clone(), r.pool)
        }
    };
    let c = counts.borrow();
    (totals, c.clone(), pool)
}

/// The hard stop came with transactions still in flight: each counts, at the time from its
/// intended start (corrected) and its send (service) to now, as a lower bound of its latency.
fn cut_in_flight(rec: &RefCell<Recorder>, counts: &RefCell<ThreadCounts>) {
    let now = Instant::now();
    let mut c = counts.borrow_mut();
    let mut r = rec.borrow_mut();
    let mut oldest = c.oldest_cut;
    for f in c.flying.iter().flatten() {
        if let Some(t) = r.totals.txn.get_mut(f.txn) {
            record(
                &mut t.cut_corrected,
                now.duration_since(f.intended).as_nanos() as u64,
            );
            record(
                &mut t.cut_service,
                now.duration_since(f.send).as_nanos() as u64,
            );
        }
        oldest = Some(oldest.map_or(f.send, |o: Instant| o.min(f.send)));
    }
    c.oldest_cut = oldest;
}

/// The coordinating thread's ends of the signals to the client threads.
struct Coordinator {
    clock: tokio::sync::watch::Sender<Option<Clock>>,
    hard: tokio::sync::watch::Sender<bool>,
    done: tokio::sync::mpsc::UnboundedReceiver<()>,
    measure_start: Option<Box<dyn FnOnce(Instant) + Send>>,
}

/// How the coordinating thread saw the run end.
struct Coordinated {
    /// `None` when the run never started (a worker could not connect, or Ctrl-C first).
    clock: Option<Clock>,
    /// When the deadline or Ctrl-C stopped new transactions.
    stopped_at: Option<Instant>,
    interrupted: bool,
}

/// The coordinating thread: waits for every worker to connect, starts the clock, then closes
/// intervals as the threads hand them over (feeding `progress`), stops new transactions at the
/// deadline or Ctrl-C and sends the hard stop after the grace, until every thread is done.
fn coordinate(
    cfg: &EngineConfig,
    shared: &Shared,
    nthreads: u32,
    signals: Coordinator,
    mut progress: Option<Box<dyn Progress>>,
) -> Coordinated {
    let Coordinator {
        clock: clock_tx,
        hard: hard_tx,
        done: mut done_rx,
        measure_start,
    } = signals;
    let mut ran = Coordinated {
        clock: None,
        stopped_at: None,
        interrupted: false,
    };
    let rt = crate::util::runtime().expect("a current-thread runtime builds");
    rt.block_on(async {
        // 1. Wait for every worker to connect (or one to fail).
        let connect_deadline = Instant::now()
            + cfg.connect_timeout
            + Duration::from_secs(5)
            + cfg.connect_timeout * (cfg.workers / 64);
        loop {
            if shared.ready.load(Relaxed) >= cfg.workers as usize {
                break;
            }
            if shared
                .startup_error
                .lock()
                .map(|e| e.is_some())
                .unwrap_or(true)
                || Instant::now() > connect_deadline
            {
                shared.stop.store(true, Relaxed);
                let _ = hard_tx.send(true);
                let _ = clock_tx.send(None);
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                _ = tokio::signal::ctrl_c() => {
                    ran.interrupted = true;
                    shared.interrupted.store(true, Relaxed);
                    shared.stop.store(true, Relaxed);
                    let _ = hard_tx.send(true);
                    return;
                }
            }
        }
        // 2. Start the clock.
        let start = Instant::now();
        let warmup_end = start + cfg.warmup;
        let end = cfg.duration.map(|d| warmup_end + d);
        let clock = Clock {
            start,
            warmup_end,
            end,
            interval_ns: cfg.interval.as_nanos().max(1) as u64,
        };
        ran.clock = Some(clock);
        let _ = clock_tx.send(Some(clock));
        if let Some(hook) = measure_start {
            hook(warmup_end);
        }
        if let Some(p) = progress.as_mut() {
            p.start(cfg.warmup + cfg.duration.unwrap_or_default());
        }

        // 3. Close intervals until every thread is done.
        let mut next_tick = start + cfg.interval + TICK_RECHECK;
        let last_open = end.map_or(u64::MAX, |e| clock.last_idx(e));
        let mut threads_left = nthreads as usize;
        let mut ctrl_c = Box::pin(tokio::signal::ctrl_c());
        loop {
            // Every thread is done. A run on a duration still ends at its deadline: an
            // open-loop schedule can run out early (a low rate), and the rate and the measured
            // window are over the duration asked for.
            let window_over = ran.stopped_at.is_some() || end.is_none() || cfg.events.is_some();
            if threads_left == 0 && window_over {
                break;
            }
            let stop_at = ran.stopped_at.map(|s| s + cfg.grace);
            let end_at = end.filter(|_| ran.stopped_at.is_none());
            tokio::select! {
                _ = &mut ctrl_c, if !ran.interrupted => {
                    ran.interrupted = true;
                    shared.interrupted.store(true, Relaxed);
                    shared.stop.store(true, Relaxed);
                    ran.stopped_at = Some(Instant::now());
                }
                _ = sleep_until_opt(end_at) => {
                    shared.stop.store(true, Relaxed);
                    ran.stopped_at = Some(Instant::now());
                }
                _ = sleep_until_opt(stop_at) => {
                    let _ = hard_tx.send(true);
                }
                d = done_rx.recv(), if threads_left > 0 => {
                    threads_left = if d.is_none() { 0 } else { threads_left - 1 };
                }
                _ = tokio::time::sleep_until(next_tick.into()) => {
                    let now = Instant::now();
                    let mut agg = shared.agg.lock().unwrap_or_else(|e| e.into_inner());
                    let (upto, waiting) = agg.closable(clock.idx(now), last_open);
                    agg.close_before(upto);
                    // An interval that not every thread has handed over yet: look again soon.
                    next_tick = if waiting {
                        now + TICK_RECHECK
                    } else {
                        clock.start_of(clock.idx(now) + 1) + TICK_RECHECK
                    };
                    if let Some(p) = progress.as_mut() {
                        p.update(&agg.samples, start.elapsed());
                    }
                }
            }
        }
        if let Some(p) = progress.as_mut() {
            p.finish();
        }
    });
    ran
}

/// After every thread is done: folds what came after the run's end into its last interval,
/// closes the series, and accounts for the open-loop schedule. Returns the measured seconds,
/// the intervals and the schedule (open loop).
fn close_series(
    cfg: &EngineConfig,
    shared: &Shared,
    clock: Clock,
    stopped_at: Option<Instant>,
    counts: &ThreadCounts,
    totals: &Totals,
) -> (f64, Vec<IntervalSample>, Option<Schedule>) {
    let now = Instant::now();
    let run_end = run_end(clock, stopped_at, now);
    let measured = run_end
        .saturating_duration_since(clock.warmup_end)
        .as_secs_f64();
    let mut agg = shared.agg.lock().unwrap_or_else(|e| e.into_inner());
    let last_in = clock.last_idx(run_end);
    agg.fold_tail(last_in);
    let last = clock.idx(now.max(run_end)) + 1;
    let last = agg
        .open
        .keys()
        .next_back()
        .map_or(last, |k| last.max(k + 1));
    agg.close_before(last);
    // Drop trailing empty intervals after the run's end.
    while agg.samples.len() as u64 > last_in + 1
        && agg
            .samples
            .last()
            .is_some_and(|s| s.transactions == 0 && s.errors == 0)
    {
        agg.samples.pop();
    }
    let schedule = cfg.rate.map(|rate| {
        let window = clock.end.map_or(f64::INFINITY, |e| {
            e.duration_since(clock.start).as_secs_f64()
        });
        let due_by_end = {
            let until = run_end
                .duration_since(clock.start)
                .as_secs_f64()
                .min(window);
            let n = (until * rate).ceil() as u64;
            cfg.events.map_or(n, |e| n.min(e))
        };
        let scheduled = due_by_end.max(counts.started);
        Schedule {
            rate,
            scheduled,
            started: counts.started,
            completed: counts.completed,
            failed: counts.failed,
            in_flight: counts.in_flight(),
            not_started: scheduled - counts.started,
            max_start_lag_ms: counts.max_lag_ns as f64 / 1e6,
            // The backlog left at the end is a queue too (a stalled server starts nothing, so
            // no start measures it).
            max_queue_depth: agg
                .samples
                .iter()
                .map(|s| s.queue_depth)
                .max()
                .unwrap_or(0)
                .max(scheduled - counts.started),
            achieved_rate: if measured > 0.0 {
                totals.txn.iter().map(|t| t.service.len()).sum::<u64>() as f64 / measured
            } else {
                0.0
            },
            // Behind by more than a second at some point, or a backlog of more than 100 ms
            // worth of transactions left at the end.
            fell_behind: counts.max_lag_ns > 1_000_000_000
                || (scheduled - counts.started) as f64 > (rate * 0.1).max(cfg.workers as f64),
        }
    });
    (measured, std::mem::take(&mut agg.samples), schedule)
}

/// The end of the measured window: the deadline, or Ctrl-C if that came first; `now` for a
/// run that ends on its event count.
fn run_end(clock: Clock, stopped_at: Option<Instant>, now: Instant) -> Instant {
    match (clock.end, stopped_at) {
        (Some(e), Some(s)) => e.min(s),
        (Some(e), None) => e.min(now),
        (None, Some(s)) => s,
        (None, None) => now,
    }
}

/// Open loop: the transactions due before `end` that never started (taken by a worker and
/// left, or never taken) count in the corrected latency at the time from their intended start
/// to `end`, a lower bound. `not_started` is how many the schedule says there are.
fn cut_not_started(
    cfg: &EngineConfig,
    shared: &Shared,
    clock: Clock,
    end: Instant,
    counts: &ThreadCounts,
    not_started: u64,
    totals: &mut Totals,
) {
    let Some(rate) = cfg.rate.filter(|_| not_started > 0) else {
        return;
    };
    let period_ns = 1e9 / rate;
    // As `close_series` counts the schedule.
    let due = (end.duration_since(clock.start).as_secs_f64() * rate).ceil() as u64;
    let due = cfg.events.map_or(due, |e| due.min(e));
    let taken = shared.next_seq.load(Relaxed).min(due);
    let left = counts.abandoned.iter().copied().filter(|&q| q < due);
    for seq in left.chain(taken..due).take(not_started as usize) {
        let intended = clock.start + Duration::from_nanos((seq as f64 * period_ns) as u64);
        let ns = end.saturating_duration_since(intended).as_nanos() as u64;
        record(&mut totals.not_started, ns);
    }
}

/// What the run gave up on, from the counts and the lower bounds in `totals`; `None` when
/// nothing was left.
fn unfinished(
    cfg: &EngineConfig,
    clock: Clock,
    counts: &ThreadCounts,
    not_started: u64,
    totals: &Totals,
) -> Option<Unfinished> {
    let in_flight = counts.in_flight();
    if in_flight == 0 && not_started == 0 {
        return None;
    }
    let lowest = totals
        .txn
        .iter()
        .flat_map(|t| [&t.cut_corrected, &t.cut_service])
        .chain(std::iter::once(&totals.not_started))
        .filter(|h| !h.is_empty())
        .map(|h| h.min())
        .min()
        .unwrap_or(0);
    let since_start = |t: Instant| t.saturating_duration_since(clock.start).as_secs_f64();
    Some(Unfinished {
        in_flight,
        not_started,
        lower_bound_from_ms: lowest as f64 / 1e6,
        oldest_in_flight_sent_s: counts.oldest_cut.map(since_start),
        last_completed_s: counts.last_done.map(since_start),
        grace_s: cfg.grace.as_secs_f64(),
    })
}

/// How long after an interval boundary the main thread first looks for the interval's reports,
/// and how often it looks again while a thread's are missing.
const TICK_RECHECK: Duration = Duration::from_millis(20);

/// The longest a kernel wait for a reply blocks its client thread before the wait moves to the
/// poller: how late the thread can serve Ctrl-C, the hard stop or its ticker. Each expiry costs
/// a wake-up and a pass through the poller; at 10 ms, 64 read/write workers (replies queued
/// behind lock waits) made about 0.13 more wake-ups per query than at 100 ms, with 5 % less
/// throughput. Intervals do not wait on it: workers hand them over themselves.
pub const REPLY_BLOCK_BOUND: Duration = Duration::from_millis(100);

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Rotates this thread's recorder at interval boundaries and hands finished intervals over,
/// for a thread whose workers complete nothing (they hand over themselves otherwise). In open
/// loop (`schedule`: the rate and the event count) it also notes the queue (due and not taken)
/// at each boundary: when the server stalls no transaction starts, and starts are where the
/// queue is measured otherwise.
async fn ticker(
    thread: usize,
    rec: Rc<RefCell<Recorder>>,
    shared: Arc<Shared>,
    mut clock: tokio::sync::watch::Receiver<Option<Clock>>,
    schedule: Option<(f64, u64)>,
) {
    let Ok(c) = clock.wait_for(|c| c.is_some()).await.map(|c| *c) else {
        return;
    };
    let Some(c) = c else { return };
    let mut next = c.start_of(1);
    loop {
        tokio::time::sleep_until(next.into()).await;
        next += Duration::from_nanos(c.interval_ns);
        let at = Instant::now();
        let now = c.idx(at);
        rec.borrow_mut().rotate_to(now);
        if let Some((rate, events)) = schedule {
            let until = c.end.map_or(at, |e| e.min(at));
            let due = (until.duration_since(c.start).as_secs_f64() * rate).ceil() as u64;
            let due = due.min(events);
            let depth = due.saturating_sub(shared.next_seq.load(Relaxed));
            let mut r = rec.borrow_mut();
            r.current.queue_depth = r.current.queue_depth.max(depth);
        }
        hand_over(&rec, &shared, thread, now);
    }
}

/// Hands this thread's finished intervals to the aggregator and says that everything before
/// `upto` is in.
fn hand_over(rec: &RefCell<Recorder>, shared: &Shared, thread: usize, upto: u64) {
    let fin = std::mem::take(&mut rec.borrow_mut().finished);
    {
        let mut agg = shared.agg.lock().unwrap_or_else(|e| e.into_inner());
        agg.hand_over(thread, &fin, upto);
    }
    rec.borrow_mut().recycle(fin);
}

/// One worker. Returns its connection, still open, for the thread to close after the
/// monitor's last look.
async fn worker<C: Connector>(w: u32, mut ctx: WorkerCtx<C>) -> Option<C::S> {
    let cfg = ctx.cfg.clone();
    let plan = ctx.plan.clone();
    let mut rng =
        SmallRng::seed_from_u64(cfg.seed ^ (w as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut scratch = Scratch {
        slots: vec![0i64; plan.max_slots.max(1)],
        params: Vec::new(),
    };

    // First connection, before the clock starts; one at a time per thread.
    let permit = ctx.connecting.acquire().await;
    let t0 = Instant::now();
    let first = ctx.connector.connect().await;
    drop(permit);
    let mut session = match first {
        Ok(s) => {
            ctx.rec
                .borrow_mut()
                .conn_opened(t0.elapsed().as_nanos() as u64);
            Some(ctx.adopt(s))
        }
        Err(e) => {
            if let Ok(mut slot) = ctx.shared.startup_error.lock() {
                slot.get_or_insert(e);
            }
            return None;
        }
    };
    ctx.shared.ready.fetch_add(1, Relaxed);
    let clock = match ctx.clock.wait_for(|c| c.is_some()).await {
        Ok(c) => c.expect("checked by wait_for"),
        Err(_) => return session,
    };
    let period_ns = cfg.rate.map(|r| 1e9 / r);
    let total_sched = match (period_ns, clock.end) {
        (Some(p), Some(end)) => {
            let n = (end.duration_since(clock.start).as_nanos() as f64 / p).ceil() as u64;
            cfg.events.map_or(n, |e| n.min(e))
        }
        (Some(_), None) => cfg.events.unwrap_or(u64::MAX),
        (None, _) => cfg.events.unwrap_or(u64::MAX),
    };
    let mut backoff = Duration::from_millis(50);
    let mut was_connected = true;
    let mut sleeper = timer::Sleeper::new();

    loop {
        if ctx.shared.stop.load(Relaxed) {
            break;
        }
        // (Re)connect.
        if session.is_none() {
            if clock.end.is_some_and(|e| Instant::now() >= e) {
                break;
            }
            let t0 = Instant::now();
            let attempt = tokio::select! {
                r = ctx.connector.connect() => Some(r),
                _ = stopped(&ctx.shared) => None,
            };
            match attempt {
                None => break,
                Some(Ok(s)) => {
                    session = Some(ctx.adopt(s));
                    backoff = Duration::from_millis(50);
                    let now = Instant::now();
                    {
                        let mut r = ctx.rec.borrow_mut();
                        r.rotate_to(clock.idx(now));
                        r.conn_opened(now.duration_since(t0).as_nanos() as u64);
                    }
                    if !was_connected {
                        let mut r = ctx.rec.borrow_mut();
                        r.current.reconnects += 1;
                        if now >= clock.warmup_end {
                            r.totals.reconnects += 1;
                        }
                    }
                    was_connected = true;
                }
                Some(Err(e)) => {
                    note_error(&ctx.rec, &clock, &e, false);
                    ctx.counts.borrow_mut().lost += 1;
                    let now = Instant::now();
                    let wake = clock
                        .end
                        .map_or(now + backoff, |end| end.min(now + backoff));
                    tokio::select! {
                        _ = tokio::time::sleep_until(wake.into()) => {}
                        _ = stopped(&ctx.shared) => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            }
        }
        let Some(s) = session.as_mut() else { continue };

        // When should this transaction start? (Open loop: its place on the schedule.)
        let mut slept = false;
        let (intended, seq) = match period_ns {
            None => {
                if cfg.events.is_some() && ctx.shared.next_seq.fetch_add(1, Relaxed) >= total_sched
                {
                    break;
                }
                (Instant::now(), None)
            }
            Some(p) => {
                let seq = ctx.shared.next_seq.fetch_add(1, Relaxed);
                if seq >= total_sched {
                    break;
                }
                let t = clock.start + Duration::from_nanos((seq as f64 * p) as u64);
                if t > Instant::now() {
                    tokio::select! {
                        _ = sleeper.sleep_until(t) => slept = true,
                        _ = stopped(&ctx.shared) => {
                            ctx.counts.borrow_mut().abandoned.push(seq);
                            break;
                        }
                    }
                }
                (t, Some(seq))
            }
        };
        // Closed loop: the intended start is the send (one clock read, not two, per transaction).
        let send = if period_ns.is_none() {
            intended
        } else {
            Instant::now()
        };
        // A transaction due before the deadline, whose worker was free and waited for it, starts
        // even when the timer woke the worker just past the deadline: the lateness is the
        // timer's, not a backlog's (only Ctrl-C stops it).
        let on_time = slept
            && clock.end.is_some_and(|e| intended < e)
            && !ctx.shared.interrupted.load(Relaxed);
        if !on_time && (clock.end.is_some_and(|e| send >= e) || ctx.shared.stop.load(Relaxed)) {
            ctx.counts.borrow_mut().abandoned.extend(seq);
            break;
        }
        let lag = send.saturating_duration_since(intended).as_nanos() as u64;
        let txn = plan.pick_txn(&mut rng);
        {
            let mut c = ctx.counts.borrow_mut();
            c.started += 1;
            c.max_lag_ns = c.max_lag_ns.max(lag);
            c.flying[ctx.slot] = Some(Flight {
                txn,
                intended,
                send,
            });
        }
        if let Some(p) = period_ns {
            let due = ((send.duration_since(clock.start).as_nanos() as f64 / p) as u64 + 1)
                .min(total_sched);
            let taken = ctx.shared.next_seq.load(Relaxed);
            let depth = due.saturating_sub(taken);
            let mut r = ctx.rec.borrow_mut();
            r.rotate_to(clock.idx(send));
            r.current.queue_depth = r.current.queue_depth.max(depth);
            r.waited(lag);
        }

        // A retryable error restarts the transaction even after the deadline or Ctrl-C: the
        // transaction was started, and sysbench finishes it too. Only the hard stop (the
        // grace) ends a transaction that keeps failing.
        let result = loop {
            match run_txn(s, &plan, txn, &mut rng, &mut scratch, &ctx.rec, &clock).await {
                Ok(()) => break Ok(()),
                Err(e) if !e.connection_lost && cfg.retry_errors.contains(&e.code) => {
                    note_error(&ctx.rec, &clock, &e, true);
                    if let Err(e2) = s.control(Control::Rollback).await {
                        break Err(e2);
                    }
                }
                Err(e) => break Err(e),
            }
        };
        let done = Instant::now();
        let measuring = done >= clock.warmup_end;
        let done_idx = clock.idx(done);
        let interval_ended = {
            let mut r = ctx.rec.borrow_mut();
            r.rotate_to(done_idx);
            r.current.busy_ns += done.duration_since(send).as_nanos() as u64;
            match &result {
                Ok(()) => {
                    let corrected = done.duration_since(intended).as_nanos() as u64;
                    let service = done.duration_since(send).as_nanos() as u64;
                    record(&mut r.current.corrected, corrected);
                    record(&mut r.current.service, service);
                    if measuring {
                        let th = &mut r.totals.txn[txn];
                        record(&mut th.corrected, corrected);
                        record(&mut th.service, service);
                    }
                }
                Err(e) => {
                    r.error(e.code, e.kind().name(), &e.message, false, measuring);
                    if measuring {
                        r.totals.txn[txn].failed += 1;
                    }
                }
            }
            !r.finished.is_empty()
        };
        // The first completion past an interval boundary hands the thread's finished intervals
        // over at once, so the main thread can close them on time (the ticker may only run
        // after many more replies when every one arrives without a wait).
        if interval_ended {
            hand_over(&ctx.rec, &ctx.shared, ctx.thread, done_idx);
        }
        let lost = {
            let mut c = ctx.counts.borrow_mut();
            c.flying[ctx.slot] = None;
            c.last_done = Some(done);
            match &result {
                Ok(()) => {
                    c.completed += 1;
                    false
                }
                Err(e) => {
                    c.failed += 1;
                    let lost = e.connection_lost || e.kind() == ErrKind::ServerGone;
                    if lost {
                        c.lost += 1;
                    }
                    lost
                }
            }
        };
        if lost {
            session = None;
            was_connected = false;
            ctx.rec.borrow_mut().conn_closed(true);
        } else if result.is_err() {
            let _ = s.control(Control::Rollback).await;
        }
        if period_ns.is_none() && clock.end.is_some_and(|e| done >= e) {
            break;
        }
    }
    if session.is_some() {
        ctx.rec.borrow_mut().conn_closed(false);
    }
    session
}

/// Count an error in the interval it happened in (and in the totals after warm-up).
fn note_error(rec: &RefCell<Recorder>, clock: &Clock, e: &ExecError, retried: bool) {
    let now = Instant::now();
    let mut r = rec.borrow_mut();
    r.rotate_to(clock.idx(now));
    r.error(
        e.code,
        e.kind().name(),
        &e.message,
        retried,
        now >= clock.warmup_end,
    );
}

async fn stopped(shared: &Shared) {
    while !shared.stop.load(Relaxed) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A worker's reusable buffers: a step's `let` values and a statement's parameters.
struct Scratch {
    slots: Vec<i64>,
    params: Vec<Value>,
}

async fn run_txn<S: Session>(
    s: &mut S,
    plan: &Plan,
    txn: usize,
    rng: &mut SmallRng,
    scratch: &mut Scratch,
    rec: &RefCell<Recorder>,
    clock: &Clock,
) -> Result<(), ExecError> {
    let Scratch { slots, params } = scratch;
    let t = &plan.txns[txn];
    if t.begin {
        s.control(Control::Begin).await?;
        rec.borrow_mut()
            .count_query(Kind::Other, Instant::now() >= clock.warmup_end);
    }
    for step in &t.steps {
        let table = plan.pick_table(step.group, rng);
        for _ in 0..step.repeat {
            for (i, g) in step.lets.iter().enumerate() {
                slots[i] = g.int(&plan.dist, rng, &[]);
            }
            for call in &step.calls {
                params.truncate(call.params.len());
                for (i, p) in call.params.iter().enumerate() {
                    match params.get_mut(i) {
                        Some(v) => p.value_into(&plan.dist, rng, slots, v),
                        None => params.push(p.value(&plan.dist, rng, slots)),
                    }
                }
                let t0 = Instant::now();
                let r = s.exec(call.sql_base + table, params).await;
                let t1 = Instant::now();
                let measuring = t1 >= clock.warmup_end;
                let mut rec = rec.borrow_mut();
                match r {
                    Ok(()) => {
                        rec.count_query(call.kind, measuring);
                        if measuring {
                            record(
                                &mut rec.totals.stmt[call.stmt].service,
                                t1.duration_since(t0).as_nanos() as u64,
                            );
                        }
                    }
                    Err(e) => {
                        if measuring {
                            rec.totals.stmt[call.stmt].errors += 1;
                        }
                        return Err(e);
                    }
                }
            }
        }
    }
    if t.begin {
        s.control(Control::Commit).await?;
        rec.borrow_mut()
            .count_query(Kind::Other, Instant::now() >= clock.warmup_end);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
