//! One run, start to finish: preflight against the target, the engine, the summary, and the
//! store. The CLI's `run` calls it once; anything that needs several runs (trials, A/B) calls it
//! in a loop. Printing the report is the caller's business.

use crate::engine::exec::MysqlConnector;
use crate::engine::lean::{LeanConnector, OpenError};
use crate::engine::{self, EngineConfig, Hooks, LiveSink, Progress};
use crate::error::{Error, Result};
use crate::monitor::{self, Monitor, MonitorOptions, MonitorSetup};
use crate::record::{
    HistKey, HistKind, HistScope, RunFacts, RunRecord, RunSettings, RunStatus, RunStatusField,
    ServerInfo, StoredHistogram, Summary,
};
use crate::report::live;
use crate::settings::{ClientSched, Driver, Origin, ReplyWait, Settings};
use crate::store::{pending, Store, StoreError};
use crate::target::Target;
use crate::workload::plan::Plan;
use crate::workload::Workload;
use crate::{prepare, testbed};
use std::sync::Arc;
use std::time::Duration;

/// Everything one run needs.
pub struct RunJob<'a> {
    pub workload: &'a Workload,
    pub settings: &'a Settings,
    pub plan: Arc<Plan>,
    pub target: &'a Target,
    /// Groups the trials of one job.
    pub set_id: Option<String>,
    /// No live output on stderr.
    pub quiet: bool,
    /// The embedded monitor (on by default) and the Prometheus hub, if any.
    pub monitor: MonitorSetup,
    /// What the run may do with tables loadgate did not create.
    pub foreign: prepare::ForeignTables,
}

/// A finished run: stored, or (from [`run_once_keeping`]) measured but not stored.
pub struct RunDone {
    pub record: RunRecord,
    pub interrupted: bool,
    /// Why the run could not be stored, and where it was saved instead
    /// ([`StoreError::NotStored`]); `None` once it is in the store.
    pub unstored: Option<StoreError>,
}

impl RunDone {
    /// `Ok` for a complete run; the documented error (and exit code) otherwise.
    pub fn into_result(self) -> Result<()> {
        let id = self.record.id.unwrap_or(0);
        match self.record.status.0 {
            RunStatus::Complete => Ok(()),
            _ if self.interrupted => Err(Error::Interrupted { id: Some(id) }),
            status => Err(Error::Incomplete {
                id,
                status: status.as_str(),
                reason: self.record.status_reason.clone().unwrap_or_default(),
            }),
        }
    }
}

/// The record of a run about to start: what runs (`workload`, its file's hash), with which
/// settings, against which target (redacted), in which set; status `running`, this build's
/// version and commit. The caller adds what it knows of the server before storing it.
pub fn new_record(
    workload: &str,
    workload_hash: &str,
    settings: RunSettings,
    target: &Target,
    set_id: Option<String>,
) -> RunRecord {
    RunRecord {
        started_at_ms: crate::util::now_ms(),
        status: RunStatusField(RunStatus::Running),
        workload: workload.to_string(),
        workload_hash: workload_hash.to_string(),
        settings,
        target: target.redacted(),
        git_commit: testbed::git_commit(),
        tool_version: crate::util::VERSION.to_string(),
        set_id,
        ..Default::default()
    }
}

/// Run once and store the result, whatever happens. A failed preflight (unreachable target,
/// tables not prepared) is stored as a failed run and returned as the error it was; a run that
/// could not be stored at the end is the error [`StoreError::NotStored`] (saved beside the
/// store, see [`run_once_keeping`]).
pub fn run_once(job: &RunJob<'_>, store: &mut Store) -> Result<RunDone> {
    let mut done = run_once_keeping(job, store)?;
    match done.unstored.take() {
        Some(e) => Err(e.into()),
        None => Ok(done),
    }
}

/// [`run_once`], except that a run measured but not stored at the end comes back with the
/// reason in [`RunDone::unstored`], so that the caller still reports it. The store is checked
/// before the load ([`Store::check_before_run`]); if storing fails anyway, the run is saved as
/// JSON beside the store ([`pending`]), which `loadgate import` or the next open brings in.
pub fn run_once_keeping(job: &RunJob<'_>, store: &mut Store) -> Result<RunDone> {
    let (s, plan, target, quiet) = (job.settings, &job.plan, job.target, job.quiet);
    let timeout = Duration::from_secs_f64(s.connect_timeout_s);
    store.check_before_run()?;
    let rt = crate::util::runtime().map_err(Error::runtime)?;
    let mut rec = new_record(
        &job.workload.name,
        &job.workload.hash,
        RunSettings::Oltp(s.clone()),
        target,
        job.set_id.clone(),
    );
    let id = store.begin_run(&rec)?;
    rec.id = Some(id);

    let (info, vars, foreign) = match rt.block_on(preflight(job, timeout)) {
        Ok(v) => v,
        Err(e) => {
            rec.status = RunStatusField(RunStatus::Failed);
            rec.status_reason = Some(e.to_string());
            rec.ended_at_ms = Some(crate::util::now_ms());
            store.finish_run(id, &rec)?;
            return Err(e);
        }
    };
    rec.testbed = testbed::testbed(&info, &vars);
    rec.server = info;
    note_foreign(job, foreign, &mut rec.facts);
    if !quiet {
        eprintln!(
            "{}",
            live::run_header(&job.workload.name, &rec.target, &rec.server, s, id)
        );
    }
    let cfg = engine_config(s, timeout);
    let lean = LeanConnector::new(target.clone(), &s.database, plan.sql.clone(), timeout);
    let driver = rt.block_on(choose_driver(&lean, s.driver, quiet, &mut rec.facts));
    drop(rt);

    // The monitor starts before the load (its baseline precedes it) and stops after it, on its
    // own connection and thread. With the monitor off it still takes the work snapshots.
    let mon = start_monitor(job, id, timeout);
    let hub = job.monitor.hub.clone();
    let hooks = Hooks {
        live: hub.clone().map(|h| h as Arc<dyn LiveSink>),
        progress: Flush::wrap(progress(quiet, s, cfg.interval), store.path(), id),
        before_close: Some(mon.last_look_hook()),
        measure_start: Some(mon.measure_start_hook()),
    };
    let out = match driver {
        Driver::Lean => engine::run_with(cfg, plan.clone(), Arc::new(lean), hooks),
        Driver::MysqlAsync => {
            let connector =
                MysqlConnector::new(target.clone(), &s.database, plan.sql.clone(), timeout);
            engine::run_with(cfg, plan.clone(), Arc::new(connector), hooks)
        }
    };
    let mut mon_report = Some(mon.stop());
    let work = mon_report.as_mut().and_then(|r| r.work.take());
    if !job.monitor.settings.enabled {
        mon_report = None;
    }
    // The settings say `batch` or `normal` already; a refusal makes the facts say what ran.
    rec.facts.client_sched = Some(s.client_sched);
    if let Some(why) = &out.batch_refused {
        rec.facts.client_sched = Some(ClientSched::Normal);
        if !quiet {
            eprintln!("note: client threads could not run SCHED_BATCH ({why}); they ran as normal threads");
        }
        rec.facts.client_sched_refused = Some(why.clone());
    }

    let mut summary =
        engine::summary::summarize(plan, &out.totals, out.measured_s, s.rate.is_some());
    summary.schedule = out.schedule.clone();
    summary.unfinished = out.unfinished.clone();
    let (status, reason) = status_of(&out, &summary, s, target);
    rec.status = RunStatusField(status);
    rec.status_reason = reason;
    rec.ended_at_ms = Some(crate::util::now_ms());
    rec.histograms = histograms(plan, &out.totals);
    rec.intervals = out.intervals;
    rec.work = work.filter(|_| out.startup_error.is_none()).map(|mut w| {
        w.transactions = summary.transactions;
        w
    });
    rec.summary = (out.startup_error.is_none()).then_some(summary);
    if let Some(r) = &mut mon_report {
        let pool = monitor::pool_summary(u64::from(s.threads), &out.pool, &rec.intervals);
        monitor::finish_run_report(r, Some(pool), rec.summary.as_ref());
        if let Some(h) = &hub {
            h.set_alerts(&r.alerts);
        }
        if !quiet {
            for warning in &r.warnings {
                eprintln!("warning: {warning}");
            }
        }
    }
    rec.monitor = mon_report;
    let unstored = store
        .finish_run(id, &rec)
        .err()
        .map(|e| spill(store, id, &rec, e));

    Ok(RunDone {
        record: rec,
        interrupted: out.interrupted,
        unstored,
    })
}

/// Saves run `id`, which the store refused with `error`, beside the store; the error that says
/// where it went.
fn spill(store: &Store, id: i64, rec: &RunRecord, error: StoreError) -> StoreError {
    let saved = if store.path() == std::path::Path::new(":memory:") {
        Err("an in-memory store has no directory beside it".to_string())
    } else {
        pending::save(store.path(), Some(id), rec).map_err(|e| e.to_string())
    };
    StoreError::NotStored {
        source: Box::new(error),
        saved,
    }
}

/// Records in `facts` the tables the run uses that loadgate did not create, and says so (with
/// what the run does to them, and that their row count is unknown when no flag named one).
fn note_foreign(job: &RunJob<'_>, foreign: Vec<String>, facts: &mut RunFacts) {
    if foreign.is_empty() {
        return;
    }
    facts.foreign_writes = !job.plan.writing_statements().is_empty();
    if !job.quiet {
        eprintln!(
            "note: {} table(s) here were not created by loadgate ({}){}",
            foreign.len(),
            foreign.join(", "),
            if facts.foreign_writes {
                "; this workload changes their data (--allow-writes-to-foreign-tables)"
            } else {
                "; this workload only reads them"
            }
        );
        let s = job.settings;
        if matches!(
            s.origins.get("table_size"),
            Some(Origin::Default | Origin::Workload)
        ) {
            eprintln!(
                "note: their row count is not recorded on them: ids are drawn as for table_size {} ({}); pass --table-size to match them",
                s.table_size,
                if s.origins.get("table_size") == Some(&Origin::Default) {
                    "the default"
                } else {
                    "the workload's"
                }
            );
        }
    }
    facts.foreign_tables = foreign;
}

/// Reachable, who answers, its key variables, the tables prepared (and which of them loadgate
/// did not create).
async fn preflight(
    job: &RunJob<'_>,
    timeout: Duration,
) -> Result<(ServerInfo, Vec<(String, String)>, Vec<String>)> {
    let (target, s) = (job.target, job.settings);
    let mut conn = target
        .connect(target.opts(Some(&s.database), 16), timeout)
        .await?;
    let (info, vars) = testbed::probe(&mut conn, target).await?;
    let foreign = prepare::check_prepared(
        &mut conn,
        target,
        &job.plan,
        &job.workload.command_arg(),
        &s.database,
        job.foreign,
    )
    .await?;
    let _ = conn.disconnect().await;
    Ok((info, vars, foreign))
}

/// The engine's configuration for these settings.
fn engine_config(s: &Settings, timeout: Duration) -> EngineConfig {
    EngineConfig {
        workers: s.threads,
        client_threads: s.client_threads,
        block_replies: s.reply_wait == ReplyWait::Auto,
        batch_threads: s.client_sched == ClientSched::Batch,
        warmup: Duration::from_secs_f64(s.warmup_s),
        duration: (s.duration_s > 0.0).then(|| Duration::from_secs_f64(s.duration_s)),
        rate: s.rate,
        events: s.events,
        seed: s.seed,
        retry_errors: s.retry_errors.clone(),
        interval: Duration::from_secs(1),
        grace: Duration::from_secs(2),
        connect_timeout: timeout,
    }
}

/// The driver that will run: the lean executor first tries one connection, and a server that
/// wants what it does not speak (TLS, another authentication plugin) gets mysql_async instead;
/// `facts` say which ran and why.
async fn choose_driver(
    lean: &LeanConnector,
    asked: Driver,
    quiet: bool,
    facts: &mut RunFacts,
) -> Driver {
    let mut driver = asked;
    if driver == Driver::Lean {
        match lean.open().await {
            Ok(session) => engine::exec::Session::close(session).await,
            Err(OpenError::Unsupported(why)) => {
                driver = Driver::MysqlAsync;
                if !quiet {
                    eprintln!(
                        "note: the lean driver cannot serve this target ({why}); using mysql_async"
                    );
                }
                facts.driver_fallback = Some(why);
            }
            // A real failure: the workers meet it again and report it as any connect failure.
            Err(OpenError::Exec(_)) => {}
        }
    }
    facts.driver = Some(driver);
    driver
}

/// The embedded monitor of run `id`, started (and the Prometheus hub told what runs); when it
/// is off, a monitor that only takes the work snapshots.
fn start_monitor(job: &RunJob<'_>, id: i64, timeout: Duration) -> Monitor {
    let (s, target) = (job.settings, job.target);
    let ms = &job.monitor.settings;
    let hub = job.monitor.hub.clone();
    if let Some(h) = &hub {
        h.set_info(&[
            ("workload", job.workload.name.clone()),
            ("run_id", id.to_string()),
            ("target", target.redacted()),
        ]);
        h.set_pool_size(u64::from(s.threads));
    }
    let mut o = MonitorOptions::new(
        target.clone(),
        Duration::from_secs_f64(ms.interval_s),
        timeout,
    );
    o.server_pid = job.monitor.server_pid;
    if !ms.enabled {
        o.work_only = true;
        return Monitor::start(o);
    }
    o.thresholds = ms.thresholds;
    o.database = Some(s.database.clone());
    o.statements = monitor::plan_statements(&job.plan);
    o.pool_size = Some(u64::from(s.threads));
    o.hub = hub;
    Monitor::start(o)
}

/// How the run ended, and why when it is not complete.
fn status_of(
    out: &engine::Outcome,
    summary: &Summary,
    s: &Settings,
    target: &Target,
) -> (RunStatus, Option<String>) {
    let errors: u64 = summary.errors.iter().map(|e| e.count).sum();
    if let Some(e) = &out.startup_error {
        (
            RunStatus::Failed,
            Some(format!(
                "a worker could not connect to {} (error {}): {}",
                target.addr(),
                e.code,
                e.message
            )),
        )
    } else if out.interrupted {
        (
            RunStatus::Partial,
            Some("interrupted by Ctrl-C".to_string()),
        )
    } else if let (0, Some(stall)) = (summary.transactions, stalled(out)) {
        (
            RunStatus::Failed,
            Some(format!("no transaction completed: {stall}")),
        )
    } else if summary.transactions == 0 {
        let why = match s.events {
            // --events counts warm-up transactions too: all of them may have gone there.
            Some(n) if s.warmup_s > 0.0 => format!(
                "no transaction completed after the warm-up ({errors} errors); --events {n} \
                 includes the {} s warm-up's transactions: raise --events or pass --warmup 0",
                s.warmup_s
            ),
            _ => format!("no transaction completed ({errors} errors)"),
        };
        (RunStatus::Failed, Some(why))
    } else if let Some(stall) = stalled(out) {
        (RunStatus::Partial, Some(stall))
    } else if out.lost_connections > 0 {
        (
            RunStatus::Partial,
            Some(format!(
                "lost the connection to the server: {} connection error(s), {} reconnect(s)",
                out.lost_connections, summary.reconnects
            )),
        )
    } else {
        (RunStatus::Complete, None)
    }
}

/// Why the run is not complete when transactions were still in flight after the grace: the
/// server stopped answering (or answered too slowly to finish them). Says since when, how many
/// were given up on, and how many scheduled ones never started.
fn stalled(out: &engine::Outcome) -> Option<String> {
    let u = out.unfinished.as_ref().filter(|u| u.in_flight > 0)?;
    let from = u
        .oldest_in_flight_sent_s
        .map_or(String::new(), |t| format!(" from t={t:.1} s"));
    let last = u.last_completed_s.map_or_else(
        || "no transaction completed".to_string(),
        |t| format!("the last transaction completed at t={t:.1} s"),
    );
    let mut why = format!(
        "server stalled{from}: {} transaction(s) still in flight {:.1} s after the end of the run \
         ({last}); their latency counts as at least the time to the end of the grace, a lower bound",
        u.in_flight, u.grace_s
    );
    if u.not_started > 0 {
        why.push_str(&format!(
            "; {} scheduled transaction(s) never started",
            u.not_started
        ));
    }
    Some(why)
}

/// The run's histograms: all transactions, each type, each statement. Like the summary's
/// latency, they hold the transactions the run gave up on at their lower bounds.
fn histograms(plan: &Plan, totals: &engine::recorder::Totals) -> Vec<StoredHistogram> {
    let mut hists = Vec::new();
    let mut all_c = engine::recorder::new_histogram();
    let mut all_s = engine::recorder::new_histogram();
    let _ = all_c.add(&totals.not_started);
    for (p, h) in plan.txns.iter().zip(&totals.txn) {
        let (c, s) = (h.corrected_all(), h.service_all());
        let _ = all_c.add(&c);
        let _ = all_s.add(&s);
        hists.push(StoredHistogram {
            key: HistKey::new(HistScope::TxnType(p.name.clone()), HistKind::Corrected),
            bytes: crate::engine::recorder::serialize(&c),
        });
        hists.push(StoredHistogram {
            key: HistKey::new(HistScope::TxnType(p.name.clone()), HistKind::Service),
            bytes: crate::engine::recorder::serialize(&s),
        });
    }
    hists.insert(
        0,
        StoredHistogram {
            key: HistKey::new(HistScope::Txn, HistKind::Service),
            bytes: crate::engine::recorder::serialize(&all_s),
        },
    );
    hists.insert(
        0,
        StoredHistogram {
            key: HistKey::new(HistScope::Txn, HistKind::Corrected),
            bytes: crate::engine::recorder::serialize(&all_c),
        },
    );
    for (p, h) in plan.statements.iter().zip(&totals.stmt) {
        hists.push(StoredHistogram {
            key: HistKey::new(HistScope::Stmt(p.name.clone()), HistKind::Service),
            bytes: crate::engine::recorder::serialize(&h.service),
        });
    }
    hists
}

/// What a person sees while the run goes: nothing with `--quiet`, a line every
/// `report_interval`, or a progress bar when that is 0.
fn progress(quiet: bool, s: &Settings, interval: Duration) -> Option<Box<dyn Progress>> {
    if quiet {
        None
    } else if s.report_interval_s > 0.0 {
        Some(Box::new(live::Lines::new(
            s.report_interval_s,
            interval.as_secs_f64(),
            s.threads,
        )))
    } else {
        Some(Box::new(live::Bar::default()))
    }
}

/// A [`Progress`] sink that also stores each closed interval of the run as it closes, so that
/// a run whose process is killed keeps what it measured: the next open marks it `interrupted`
/// with those intervals. The engine calls it under its interval lock, so the writes happen on a
/// thread of their own with a connection of their own; a busy store is tried again with the
/// next interval, and the run's final write replaces them all.
struct Flush {
    inner: Option<Box<dyn Progress>>,
    /// New intervals for the writer: (index of the first, the intervals).
    tx: Option<std::sync::mpsc::Sender<(usize, Vec<crate::record::IntervalSample>)>>,
    writer: Option<std::thread::JoinHandle<()>>,
    /// Intervals handed to the writer so far.
    sent: usize,
}

impl Flush {
    /// `inner` wrapped in a flushing sink for run `id`, when the store is a file that a second
    /// connection can open; else `inner` as it is.
    fn wrap(
        inner: Option<Box<dyn Progress>>,
        path: &std::path::Path,
        id: i64,
    ) -> Option<Box<dyn Progress>> {
        if path == std::path::Path::new(":memory:") {
            return inner;
        }
        let mut store = match Store::open(path) {
            Ok(store) => store,
            Err(e) => {
                tracing::warn!("intervals will be stored only at the end of the run: {e}");
                return inner;
            }
        };
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Vec<crate::record::IntervalSample>)>();
        let writer = std::thread::Builder::new()
            .name("lg-flush".into())
            .spawn(move || {
                let (mut from, mut pending) = (0, Vec::new());
                for (first, batch) in rx {
                    if pending.is_empty() {
                        from = first;
                    }
                    pending.extend(batch);
                    match store.flush_intervals(id, from, &pending) {
                        Ok(()) => pending.clear(),
                        Err(e) => tracing::debug!("interval flush deferred: {e}"),
                    }
                }
            });
        match writer {
            Ok(writer) => Some(Box::new(Flush {
                inner,
                tx: Some(tx),
                writer: Some(writer),
                sent: 0,
            })),
            Err(e) => {
                tracing::warn!("intervals will be stored only at the end of the run: {e}");
                inner
            }
        }
    }
}

impl Progress for Flush {
    fn start(&mut self, total: Duration) {
        if let Some(p) = self.inner.as_mut() {
            p.start(total);
        }
    }

    fn update(&mut self, samples: &[crate::record::IntervalSample], elapsed: Duration) {
        if let Some(p) = self.inner.as_mut() {
            p.update(samples, elapsed);
        }
        let Some(new) = samples.get(self.sent..).filter(|n| !n.is_empty()) else {
            return;
        };
        if let Some(tx) = &self.tx {
            if tx.send((self.sent, new.to_vec())).is_ok() {
                self.sent = samples.len();
            }
        }
    }

    /// Waits for the writer, so that no flush lands after the run's final write.
    fn finish(&mut self) {
        if let Some(p) = self.inner.as_mut() {
            p.finish();
        }
        drop(self.tx.take());
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}
