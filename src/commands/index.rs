//! `loadgate index`: setup, before, change, EXPLAIN, after, rollback, verdict; the before and
//! after phases stored as linked runs with their evidence.

use crate::cli::IndexArgs;
use crate::error::{Error, Result};
use crate::index::spec;
use crate::index::verdict::{self, IndexReport};
use crate::index::{IndexError, IndexFlags, IndexSettings, Phase};
use crate::record::{
    HistKey, HistKind, HistScope, IndexRunSettings, NamedLatency, Qps, QueryCounts, RunRecord,
    RunSettings, RunStatus, RunStatusField, StoredHistogram, Summary,
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

fn parse_sets(sets: &[String]) -> Result<Vec<(String, String)>> {
    sets.iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| Error::Usage(format!("--set `{s}`: expected KEY=VALUE")))
        })
        .collect()
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
    let sets = parse_sets(&a.set)?;
    let spec = spec::load(&a.workload, &sets)?;
    let url_db = a
        .target
        .conn
        .target
        .as_deref()
        .and_then(|u| Target::parse(u).ok())
        .and_then(|t| t.database);
    let flags = IndexFlags {
        acceptance: a.acceptance.clone(),
        duration: a.duration.clone(),
        warmup: a.warmup.clone(),
        settle: a.settle.clone(),
        read_workers: a.read_workers,
        write_workers: a.write_workers,
        seed: a.seed,
        database: a.target.database.clone().or(url_db),
        connect_timeout: a.target.conn.connect_timeout.clone(),
        keep: a.keep,
        reuse: a.reuse,
        force: a.force,
    };
    let s = IndexSettings::resolve(&spec, &flags)?;
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
    let setup = interruptible(&rt, crate::index::setup(&t, &s, &spec, quiet))?;
    if !quiet && s.settle_s > 0.0 && !spec.writes.is_empty() {
        eprintln!(
            "Settling: the write mix alone for {:.0} s, not measured...",
            s.settle_s
        );
    }
    interruptible(&rt, crate::index::settle(&t, &s, &spec))?;
    let table_names: Vec<String> = spec.tables.iter().map(|x| x.name.clone()).collect();
    let schema_before = interruptible(&rt, async {
        let mut conn = t.connect(t.opts(None, 4), s.timeout()).await?;
        let snap = crate::index::schema_snapshot(&mut conn, &t, &s.database, &table_names).await?;
        let _ = conn.disconnect().await;
        Ok(snap)
    })?;
    let sizes_before = interruptible(&rt, crate::index::sizes(&t, &s, &spec))?;
    let explain_before = interruptible(&rt, crate::index::explain_all(&t, &s, &spec))?;

    let set_id = format!("index-{}", now_ms());
    let new_record = |phase: &str| RunRecord {
        server: info.clone(),
        testbed: testbed::testbed(&info, &vars),
        ..crate::runner::new_record(
            &spec.name,
            &spec.hash,
            RunSettings::Index(IndexRunSettings {
                settings: s.clone(),
                phase: phase.to_string(),
            }),
            &t,
            Some(set_id.clone()),
        )
    };
    // Measure a phase as a stored run.
    let phase_run = |store: &mut Store, name: &str| -> Result<(i64, Phase)> {
        let mut rec = new_record(name);
        let id = store.begin_run(&rec)?;
        rec.id = Some(id);
        let out = interruptible(&rt, crate::index::measure_phase(&t, &s, &spec, name, quiet));
        rec.ended_at_ms = Some(now_ms());
        match out {
            Ok(p) => {
                rec.status = RunStatusField(RunStatus::Complete);
                rec.summary = Some(summary_of(&p));
                rec.histograms = histograms_of(&p, &spec);
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
    };
    let (before_id, before) = phase_run(&mut store, "before")?;
    for c in &explain_before {
        store.put_evidence(
            before_id,
            "explain",
            &c.probe,
            &serde_json::to_value(c).unwrap_or_default(),
        )?;
    }

    let change = interruptible(&rt, crate::index::apply_indexes(&t, &s, &spec, quiet))?;
    // From here on the indexes exist: whatever happens, roll them back unless --keep.
    let after_part = (|| -> Result<_> {
        let sizes_after = interruptible(&rt, crate::index::sizes(&t, &s, &spec))?;
        let explain_after = interruptible(&rt, crate::index::explain_all(&t, &s, &spec))?;
        for c in explain_after.iter().filter(|c| !c.ok) {
            if !quiet {
                eprintln!(
                    "WARNING: probe `{}` does not use its index after the change: {}",
                    c.probe,
                    c.problems.join("; ")
                );
            }
        }
        let (after_id, after) = phase_run(&mut store, "after")?;
        Ok((sizes_after, explain_after, after_id, after))
    })();
    let rollback = if s.keep {
        None
    } else {
        if !quiet {
            eprintln!("Rolling back: dropping the indexes...");
        }
        match rt.block_on(crate::index::rollback(&t, &s, &spec, &schema_before)) {
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
    for c in &explain_after {
        store.put_evidence(
            after_id,
            "explain",
            &c.probe,
            &serde_json::to_value(c).unwrap_or_default(),
        )?;
    }
    let (probes, writes, verdict) = verdict::judge(&before, &after, &explain_after, s.acceptance);
    let rep = IndexReport {
        workload: spec.name.clone(),
        database: s.database.clone(),
        target: t.redacted(),
        server: format!("{} {}", info.flavor, info.version),
        setup,
        change,
        sizes_before,
        sizes_after,
        explain_before,
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
