//! `loadgate index`: setup, before, change, EXPLAIN, after, rollback, verdict; the before and
//! after phases stored as linked runs with their evidence.

use crate::cli::IndexArgs;
use crate::error::{Error, Result};
use crate::index::explain::ProbeCheck;
use crate::index::spec;
use crate::index::verdict::{self, IndexReport};
use crate::index::{IndexError, IndexFlags, IndexSettings, Phase, Setup, Sizes};
use crate::record::{
    HistKey, HistKind, HistScope, IndexRunSettings, NamedLatency, Qps, QueryCounts, RunRecord,
    RunSettings, RunStatus, RunStatusField, ServerInfo, StoredHistogram, Summary, Testbed,
};
use crate::report::index as report;
use crate::store::Store;
use crate::target::Target;
use crate::testbed;
use crate::util::now_ms;
use std::future::Future;
use std::path::Path;

/// A phase as a run summary: the top-level numbers are the write mix measured alone (what a
/// regression gate should watch); every probe (`probe:NAME`, measured under the write mix) and
/// write statement (`write:NAME`) is a transaction type of its own.
pub fn summary_of(p: &Phase) -> Summary {
    let w = &p.writes_alone;
    let reads: u64 = p.probes.iter().map(|x| x.count).sum();
    let queries = QueryCounts {
        read: reads,
        write: w.count,
        other: 0,
    };
    let mut by_type: Vec<NamedLatency> = p
        .probes
        .iter()
        .map(|x| NamedLatency {
            name: format!("probe:{}", x.name),
            count: x.count,
            errors: 0,
            corrected: None,
            service: x.latency.clone(),
        })
        .collect();
    by_type.extend(p.write_types.iter().map(|(n, s)| NamedLatency {
        name: format!("write:{n}"),
        count: s.count,
        errors: 0,
        corrected: None,
        service: s.latency.clone(),
    }));
    Summary {
        duration_s: w.seconds,
        transactions: w.count,
        failed_transactions: 0,
        queries,
        tps: w.per_s,
        qps: Qps {
            total: w.per_s,
            read: 0.0,
            write: w.per_s,
            other: 0.0,
        },
        latency_corrected: w.latency.clone(),
        latency_service: w.latency.clone(),
        errors: p.errors.clone(),
        retries: 0,
        reconnects: 0,
        schedule: None,
        transactions_by_type: by_type,
        statements: Vec::new(),
        unfinished: None,
    }
}

fn histograms_of(p: &Phase, spec: &spec::IndexSpec) -> Vec<StoredHistogram> {
    let mut all = crate::engine::recorder::new_histogram();
    for h in &p.write_hists {
        let _ = all.add(h);
    }
    let mut out = vec![
        StoredHistogram {
            key: HistKey::new(HistScope::Txn, HistKind::Corrected),
            bytes: crate::engine::recorder::serialize(&all),
        },
        StoredHistogram {
            key: HistKey::new(HistScope::Txn, HistKind::Service),
            bytes: crate::engine::recorder::serialize(&all),
        },
    ];
    for (probe, h) in spec.probes.iter().zip(&p.probe_hists) {
        out.push(StoredHistogram {
            key: HistKey::new(
                HistScope::TxnType(format!("probe:{}", probe.name)),
                HistKind::Service,
            ),
            bytes: crate::engine::recorder::serialize(h),
        });
    }
    for (w, h) in spec.writes.iter().zip(&p.write_hists) {
        out.push(StoredHistogram {
            key: HistKey::new(
                HistScope::TxnType(format!("write:{}", w.name)),
                HistKind::Service,
            ),
            bytes: crate::engine::recorder::serialize(h),
        });
    }
    out
}

/// Run `fut` to completion unless Ctrl-C comes first.
fn interruptible<T>(
    rt: &tokio::runtime::Runtime,
    fut: impl Future<Output = std::result::Result<T, IndexError>>,
) -> std::result::Result<T, IndexError> {
    rt.block_on(async {
        tokio::select! {
            r = fut => r,
            _ = tokio::signal::ctrl_c() => Err(IndexError::Interrupted),
        }
    })
}

/// Run `loadgate index`.
pub fn run(store_path: &Path, a: IndexArgs, quiet: bool) -> Result<()> {
    let sets = super::parse_sets(&a.set)?;
    let spec = spec::load(&a.workload, &sets)?;
    let s = IndexSettings::resolve(&spec, &flags_of(&a))?;
    let mut store = Store::open(store_path)?;
    let resolved = super::resolve_target(&a.target.conn, true, &a.server.server_args, quiet)?;
    let t = resolved.target.clone();
    let rt = crate::util::runtime().map_err(Error::runtime)?;
    let (info, vars) = interruptible(&rt, async {
        let mut conn = t.connect(t.opts(None, 4), s.timeout()).await?;
        let (info, vars) = testbed::probe(&mut conn, &t).await?;
        let _ = conn.disconnect().await;
        Ok((info, vars))
    })?;
    if !quiet {
        eprintln!(
            "Index before/after `{}` in `{}` on {} ({} {})",
            spec.name,
            s.database,
            t.redacted(),
            info.flavor,
            info.version
        );
    }
    let job = Job {
        spec: &spec,
        s: &s,
        t: &t,
        rt: &rt,
        server: &info,
        testbed: testbed::testbed(&info, &vars),
        set_id: format!("index-{}", now_ms()),
        quiet,
    };
    let ready = get_ready(&job)?;
    let (before_id, before) = stored_phase(&job, &mut store, "before")?;
    put_explains(&mut store, before_id, &ready.explain_before)?;

    let change = interruptible(&rt, crate::index::apply_indexes(&t, &s, &spec, quiet))?;
    // From here on the indexes exist: whatever happens, roll them back unless --keep.
    let after_part = after_change(&job, &mut store);
    let rollback = if s.keep {
        None
    } else {
        if !quiet {
            eprintln!("Rolling back: dropping the indexes...");
        }
        match rt.block_on(crate::index::rollback(&t, &s, &spec, &ready.schema_before)) {
            Ok(r) => Some(r),
            Err(e) => {
                // The measurement may have succeeded; the schema not being restored wins.
                if let Err(m) = &after_part {
                    eprintln!("Error: {m:#}");
                }
                return Err(e.into());
            }
        }
    };
    let (sizes_after, explain_after, after_id, after) = after_part?;
    store.link_runs(before_id, after_id, "index_after")?;
    put_explains(&mut store, after_id, &explain_after)?;
    let (probes, writes, verdict) = verdict::judge(&before, &after, &explain_after, s.acceptance);
    let rep = IndexReport {
        workload: spec.name.clone(),
        database: s.database.clone(),
        target: t.redacted(),
        server: format!("{} {}", info.flavor, info.version),
        setup: ready.setup,
        change,
        sizes_before: ready.sizes_before,
        sizes_after,
        explain_before: ready.explain_before,
        explain_after,
        probes,
        writes,
        acceptance: s.acceptance,
        verdict: verdict.clone(),
        rollback,
        kept: s.keep,
        before_run: before_id,
        after_run: after_id,
    };
    let json = serde_json::to_value(&rep).unwrap_or_default();
    store.put_evidence(after_id, "index_report", "report", &json)?;
    store.put_evidence(before_id, "index_report", "report", &json)?;
    if a.format.is_json() {
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
    } else {
        print!("{}", report::render(&rep));
    }
    drop(rt);
    drop(resolved);
    if verdict.passed {
        Ok(())
    } else {
        Err(IndexError::Verdict {
            before: before_id,
            after: after_id,
            reasons: verdict.reasons,
        }
        .into())
    }
}

/// The index flags as the settings resolution takes them.
fn flags_of(a: &IndexArgs) -> IndexFlags {
    IndexFlags {
        acceptance: a.acceptance.clone(),
        duration: a.duration.clone(),
        warmup: a.warmup.clone(),
        settle: a.settle.clone(),
        read_workers: a.read_workers,
        write_workers: a.write_workers,
        seed: a.seed,
        database: a.target.database(),
        connect_timeout: a.target.conn.connect_timeout.clone(),
        keep: a.keep,
        reuse: a.reuse,
        force: a.force,
    }
}

/// What every step of one `loadgate index` shares.
struct Job<'a> {
    spec: &'a spec::IndexSpec,
    s: &'a IndexSettings,
    t: &'a Target,
    rt: &'a tokio::runtime::Runtime,
    server: &'a ServerInfo,
    testbed: Testbed,
    set_id: String,
    quiet: bool,
}

/// The state before the change: the tables set up and settled, their schema, sizes and plans.
struct Ready {
    setup: Setup,
    schema_before: std::collections::BTreeMap<String, String>,
    sizes_before: Sizes,
    explain_before: Vec<ProbeCheck>,
}

/// Sets the tables up, lets the write mix settle, and records the schema, sizes and plans the
/// change starts from.
fn get_ready(job: &Job<'_>) -> Result<Ready> {
    let (rt, t, s, spec) = (job.rt, job.t, job.s, job.spec);
    let setup = interruptible(rt, crate::index::setup(t, s, spec, job.quiet))?;
    if !job.quiet && s.settle_s > 0.0 && !spec.writes.is_empty() {
        eprintln!(
            "Settling: the write mix alone for {:.0} s, not measured...",
            s.settle_s
        );
    }
    interruptible(rt, crate::index::settle(t, s, spec))?;
    let table_names: Vec<String> = spec.tables.iter().map(|x| x.name.clone()).collect();
    let schema_before = interruptible(rt, async {
        let mut conn = t.connect(t.opts(None, 4), s.timeout()).await?;
        let snap = crate::index::schema_snapshot(&mut conn, t, &s.database, &table_names).await?;
        let _ = conn.disconnect().await;
        Ok(snap)
    })?;
    let sizes_before = interruptible(rt, crate::index::sizes(t, s, spec))?;
    let explain_before = interruptible(rt, crate::index::explain_all(t, s, spec))?;
    Ok(Ready {
        setup,
        schema_before,
        sizes_before,
        explain_before,
    })
}

/// After the change: sizes, plans (a probe that does not use its index is warned about) and
/// the after phase.
fn after_change(job: &Job<'_>, store: &mut Store) -> Result<(Sizes, Vec<ProbeCheck>, i64, Phase)> {
    let (rt, t, s, spec) = (job.rt, job.t, job.s, job.spec);
    let sizes_after = interruptible(rt, crate::index::sizes(t, s, spec))?;
    let explain_after = interruptible(rt, crate::index::explain_all(t, s, spec))?;
    for c in explain_after.iter().filter(|c| !c.ok) {
        if !job.quiet {
            eprintln!(
                "WARNING: probe `{}` does not use its index after the change: {}",
                c.probe,
                c.problems.join("; ")
            );
        }
    }
    let (after_id, after) = stored_phase(job, store, "after")?;
    Ok((sizes_after, explain_after, after_id, after))
}

/// Measures phase `name` as a stored run of the set.
fn stored_phase(job: &Job<'_>, store: &mut Store, name: &str) -> Result<(i64, Phase)> {
    let mut rec = RunRecord {
        server: job.server.clone(),
        testbed: job.testbed.clone(),
        ..crate::runner::new_record(
            &job.spec.name,
            &job.spec.hash,
            RunSettings::Index(IndexRunSettings {
                settings: job.s.clone(),
                phase: name.to_string(),
            }),
            job.t,
            Some(job.set_id.clone()),
        )
    };
    let id = store.begin_run(&rec)?;
    rec.id = Some(id);
    let out = interruptible(
        job.rt,
        crate::index::measure_phase(job.t, job.s, job.spec, name, job.quiet),
    );
    rec.ended_at_ms = Some(now_ms());
    match out {
        Ok(p) => {
            rec.status = RunStatusField(RunStatus::Complete);
            rec.summary = Some(summary_of(&p));
            rec.histograms = histograms_of(&p, job.spec);
            store.finish_run(id, &rec)?;
            Ok((id, p))
        }
        Err(e) => {
            rec.status = RunStatusField(match e {
                IndexError::Interrupted => RunStatus::Partial,
                _ => RunStatus::Failed,
            });
            rec.status_reason = Some(e.to_string());
            store.finish_run(id, &rec)?;
            Err(match e {
                IndexError::Interrupted => Error::Interrupted { id: Some(id) },
                other => other.into(),
            })
        }
    }
}

/// Each probe's EXPLAIN check as evidence of run `id`.
fn put_explains(store: &mut Store, id: i64, checks: &[ProbeCheck]) -> Result<()> {
    for c in checks {
        store.put_evidence(
            id,
            "explain",
            &c.probe,
            &serde_json::to_value(c).unwrap_or_default(),
        )?;
    }
    Ok(())
}
