//! `loadgate bulk`: resolve the workload, settings and target, run each strategy, store every
//! sync as a run (with its result as evidence), print.

use crate::bulk::spec;
use crate::bulk::sync::{self, SyncResult};
use crate::bulk::Strategy;
use crate::bulk::{BulkError, BulkFlags, BulkSettings};
use crate::cli::values::BulkFormat;
use crate::cli::BulkArgs;
use crate::error::{Error, Result};
use crate::record::{
    HistKey, HistKind, HistScope, NamedLatency, Qps, QueryCounts, RunRecord, RunSettings,
    RunStatus, RunStatusField, StoredHistogram, Summary,
};
use crate::record::{ServerInfo, Testbed};
use crate::report::bulk as report;
use crate::store::Store;
use crate::target::Target;
use crate::testbed;
use crate::util::now_ms;
use std::path::Path;
use std::time::Duration;

/// The run summary of a sync: a batch is a transaction, its statements are writes.
pub fn summary_of(r: &SyncResult) -> Summary {
    let per_s = |n: u64| {
        if r.seconds > 0.0 {
            n as f64 / r.seconds
        } else {
            0.0
        }
    };
    let queries = QueryCounts {
        read: 0,
        write: r.statements,
        other: 2 * r.batches,
    };
    Summary {
        duration_s: r.seconds,
        transactions: r.batches,
        failed_transactions: 0,
        queries,
        tps: per_s(r.batches),
        qps: Qps {
            total: per_s(queries.total()),
            read: 0.0,
            write: per_s(queries.write),
            other: per_s(queries.other),
        },
        latency_corrected: r.batch_latency.clone(),
        latency_service: r.batch_latency.clone(),
        errors: r.errors.clone(),
        retries: r.retries,
        reconnects: 0,
        schedule: None,
        transactions_by_type: vec![NamedLatency {
            name: format!("batch:{}", r.strategy.name()),
            count: r.batches,
            errors: 0,
            corrected: None,
            service: r.batch_latency.clone(),
        }],
        statements: Vec::new(),
        unfinished: None,
    }
}

/// The largest packet buffer the driver keeps for reuse, unless the user set
/// `MYSQL_ASYNC_BUFFER_SIZE_CAP`: at most 8 MiB kept in its 128 slots.
const DRIVER_BUFFER_CAP: &str = "65536";

/// mysql_async keeps up to 128 packet buffers of up to 4 MiB each for the whole process, and the
/// syncs of `--strategy all` or `--repeats` run one after another in this process: a strategy
/// would start with the buffers of the one before it (up to ~100 MiB after `values`) and report
/// them as its own peak RSS. Keeping only buffers of up to 64 KiB makes each sync's figure its
/// own; the speed did not change measurably here. Must run before the driver's first use.
fn limit_driver_buffers() {
    if std::env::var_os("MYSQL_ASYNC_BUFFER_SIZE_CAP").is_none() {
        std::env::set_var("MYSQL_ASYNC_BUFFER_SIZE_CAP", DRIVER_BUFFER_CAP);
    }
}

/// Run `loadgate bulk`.
pub fn run(store_path: &Path, a: BulkArgs, quiet: bool) -> Result<()> {
    limit_driver_buffers();
    let format = a.output_format();
    let spec = spec::load(&a.workload)?;
    let settings = BulkSettings::resolve(&spec, &flags_of(&a)?).map_err(Error::from)?;
    let source = source_of(&a)?;
    if let Some(path) = &a.dump_tsv {
        return dump_tsv(&spec, &settings, path, quiet);
    }
    let mut store = Store::open(store_path)?;
    let resolved = super::resolve_target(&a.target.conn, true, &a.server.server_args, quiet)?;
    let target = resolved.target.clone();
    if let Some(src) = &source {
        check_source_is_not_target(src, &target, &settings, &spec)?;
    }
    let rt = crate::util::runtime().map_err(Error::runtime)?;
    let timeout = Duration::from_secs_f64(settings.connect_timeout_s);
    let (info, vars) = rt.block_on(async {
        let mut conn = target.connect(target.opts(None, 16), timeout).await?;
        let (info, vars) = testbed::probe(&mut conn, &target).await?;
        let _ = conn.disconnect().await;
        Ok::<_, Error>((info, vars))
    })?;
    let rounds = settings.repeats.max(1) as usize;
    let single = settings.strategies.len() == 1 && rounds == 1;
    if !quiet {
        eprintln!(
            "Bulk sync `{}` into `{}`.`{}` on {} ({} {}): {}{}",
            spec.name,
            settings.database,
            spec.table,
            target.redacted(),
            info.flavor,
            info.version,
            settings
                .strategies
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", "),
            if rounds > 1 {
                format!(", {rounds} rounds, the order rotated each round")
            } else {
                String::new()
            }
        );
    }
    let job = Job {
        spec: &spec,
        settings: &settings,
        target: &target,
        source: source.as_ref(),
        server: &info,
        testbed: testbed::testbed(&info, &vars),
        set_id: (!single).then(|| format!("bulk-{}", now_ms())),
        rounds,
        quiet,
    };
    let mut results: Vec<(i64, SyncResult)> = Vec::new();
    let mut first_error: Option<Error> = None;
    'rounds: for round in 0..rounds {
        for strategy in crate::bulk::round_order(&settings.strategies, round) {
            let (id, r, error) = stored_sync(&job, &rt, &mut store, round, strategy)?;
            let started = !r.method.is_empty();
            if !started || format == BulkFormat::Json {
                // Failed before any row was sent: the error says why.
            } else if single {
                print!("{}", report::render_one(&r, Some(id)));
            } else if !quiet {
                eprint!("{}", report::render_one(&r, Some(id)));
            }
            results.push((id, r));
            if let Some(e) = error {
                let interrupted = matches!(e, BulkError::Interrupted);
                let err = error_of(e, id);
                if interrupted || single {
                    first_error = Some(err);
                    break 'rounds;
                }
                eprintln!("Error: strategy {}: {err:#}", strategy.name());
                first_error.get_or_insert(err);
            }
        }
    }
    drop(rt);
    if format == BulkFormat::Json {
        let v: Vec<serde_json::Value> = results
            .iter()
            .map(|(id, r)| serde_json::json!({ "run_id": id, "round": r.round, "result": r }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else if !single {
        print_comparison(&job, &results, format == BulkFormat::Markdown);
    }
    drop(resolved);
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The bulk flags as the settings resolution takes them.
fn flags_of(a: &BulkArgs) -> Result<BulkFlags> {
    Ok(BulkFlags {
        strategy: if a.strategy.is_empty() {
            None
        } else {
            Some(crate::cli::values::strategies(&a.strategy).map_err(Error::Usage)?)
        },
        repeats: a.repeats,
        rows: a.rows,
        batch_size: a.batch_size,
        workers: a.workers,
        on_bad_row: a.on_bad_row,
        database: a.target.database(),
        seed: a.seed,
        revision: a.revision,
        changed_pct: a.changed_pct,
        bad_rows: a.bad_rows,
        fault_every: a.fault_every,
        fresh: a.fresh,
        force: a.force,
        source: a.source.clone(),
        source_table: a.source_table.clone(),
        connect_timeout: a.target.conn.connect_timeout.clone(),
    })
}

/// `--source`: the server and database to read from, with its password.
fn source_of(a: &BulkArgs) -> Result<Option<Target>> {
    let Some(u) = &a.source else {
        return Ok(None);
    };
    let mut t = Target::parse(u)?;
    t.resolve_password(None, std::env::var("MYSQL_PWD").ok())?;
    if t.database.is_none() {
        return Err(Error::Usage(format!(
            "--source {}: name the database in the URL (mysql://user@host:port/DATABASE)",
            t.redacted()
        )));
    }
    Ok(Some(t))
}

/// A source that is the target table itself would sync a table onto itself.
fn check_source_is_not_target(
    src: &Target,
    target: &Target,
    settings: &BulkSettings,
    spec: &spec::BulkSpec,
) -> Result<()> {
    if (
        src.host.as_str(),
        src.port,
        src.database.as_deref(),
        settings.source_table.as_str(),
    ) == (
        target.host.as_str(),
        target.port,
        Some(settings.database.as_str()),
        spec.table.as_str(),
    ) {
        return Err(Error::Usage(format!(
            "--source names the target table itself (`{}`.`{}` on {}): sync from another schema or server",
            settings.database,
            spec.table,
            target.addr()
        )));
    }
    Ok(())
}

/// What every sync of one `loadgate bulk` shares.
struct Job<'a> {
    spec: &'a spec::BulkSpec,
    settings: &'a BulkSettings,
    target: &'a Target,
    source: Option<&'a Target>,
    server: &'a ServerInfo,
    testbed: Testbed,
    set_id: Option<String>,
    rounds: usize,
    quiet: bool,
}

/// One strategy's sync as a stored run with its result as evidence. Returns the run id, the
/// result, and the error that stopped the sync, if one did.
fn stored_sync(
    job: &Job<'_>,
    rt: &tokio::runtime::Runtime,
    store: &mut Store,
    round: usize,
    strategy: Strategy,
) -> Result<(i64, SyncResult, Option<BulkError>)> {
    let (spec, settings) = (job.spec, job.settings);
    let mut one = settings.clone();
    one.strategies = vec![strategy];
    let mut rec = RunRecord {
        server: job.server.clone(),
        testbed: job.testbed.clone(),
        ..crate::runner::new_record(
            &spec.name,
            &spec.hash,
            RunSettings::Bulk(one),
            job.target,
            job.set_id.clone(),
        )
    };
    let id = store.begin_run(&rec)?;
    rec.id = Some(id);
    if !job.quiet {
        eprintln!(
            "Syncing with strategy {} — run {id}{}",
            strategy.name(),
            if job.rounds > 1 {
                format!(" (round {}/{})", round + 1, job.rounds)
            } else {
                String::new()
            }
        );
    }
    let out = rt.block_on(sync::sync(
        spec,
        settings,
        strategy,
        job.target,
        job.source,
        settings.fresh,
        job.quiet,
    ));
    let mut r = out.result;
    r.round = round as u32 + 1;
    rec.status = RunStatusField(match (&out.error, r.interrupted) {
        (None, _) => RunStatus::Complete,
        (Some(_), true) => RunStatus::Partial,
        (Some(_), false) => RunStatus::Failed,
    });
    rec.status_reason = r.failure.clone();
    rec.ended_at_ms = Some(now_ms());
    rec.summary = (r.batches > 0 || out.error.is_none()).then(|| summary_of(&r));
    if let Some(h) = &r.histogram {
        let bytes = crate::engine::recorder::serialize(h);
        rec.histograms = vec![
            StoredHistogram {
                key: HistKey::new(HistScope::Txn, HistKind::Corrected),
                bytes: bytes.clone(),
            },
            StoredHistogram {
                key: HistKey::new(HistScope::Txn, HistKind::Service),
                bytes,
            },
        ];
    }
    store.finish_run(id, &rec)?;
    store.put_evidence(
        id,
        "bulk_sync",
        strategy.name(),
        &serde_json::to_value(&r).unwrap_or_default(),
    )?;
    Ok((id, r, out.error))
}

/// The crate error for a sync of run `id` that stopped on `e`: bad input and an unusable
/// target as themselves, Ctrl-C as an interrupt, anything else as an incomplete run.
fn error_of(e: BulkError, id: i64) -> Error {
    match e {
        BulkError::LocalInfileOff { .. }
        | BulkError::Refused(_)
        | BulkError::Usage(_)
        | BulkError::Target(_)
        | BulkError::Workload(_) => Error::from(e),
        BulkError::Interrupted => Error::Interrupted { id: Some(id) },
        other => Error::Incomplete {
            id,
            status: "failed",
            reason: other.to_string(),
        },
    }
}

/// Several syncs side by side (text or Markdown).
fn print_comparison(job: &Job<'_>, results: &[(i64, SyncResult)], markdown: bool) {
    let (settings, rounds) = (job.settings, job.rounds);
    let rs: Vec<SyncResult> = results.iter().map(|(_, r)| r.clone()).collect();
    if !markdown {
        println!(
            "Strategies compared on a fresh `{}`.`{}`, {} rows, {} worker(s){} (runs {}):",
            settings.database,
            job.spec.table,
            rs.first().map_or(0, |r| r.rows),
            settings.workers,
            if rounds > 1 {
                format!(", {rounds} rounds with the order rotated each round")
            } else {
                String::new()
            },
            results
                .iter()
                .map(|(id, _)| id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    print!(
        "{}",
        report::render_table(&rs, &settings.strategies, rounds, markdown)
    );
    if !markdown {
        println!("{}", report::TABLE_NOTE);
        if rounds > 1 {
            println!("{}", report::REPEATS_NOTE);
        }
    }
}

/// `--dump-tsv`: the generated rows as LOAD DATA input.
fn dump_tsv(spec: &spec::BulkSpec, s: &BulkSettings, path: &Path, quiet: bool) -> Result<()> {
    use std::io::Write;
    let g = sync::row_gen(spec, s);
    let file = std::fs::File::create(path).map_err(|source| Error::Output {
        path: path.to_path_buf(),
        source,
    })?;
    let mut w = std::io::BufWriter::new(file);
    let mut buf = Vec::with_capacity(1 << 16);
    for n in 1..=s.rows {
        buf.clear();
        crate::bulk::gen::push_tsv_line(&mut buf, &g.row(n));
        w.write_all(&buf).map_err(|source| Error::Output {
            path: path.to_path_buf(),
            source,
        })?;
    }
    w.flush().map_err(|source| Error::Output {
        path: path.to_path_buf(),
        source,
    })?;
    if !quiet {
        eprintln!(
            "Wrote {} rows to {} (columns: {}); load them with: LOAD DATA LOCAL INFILE '{}' INTO TABLE {} CHARACTER SET utf8mb4 ({})",
            s.rows,
            path.display(),
            spec.column_names().join(", "),
            path.display(),
            spec.table,
            spec.column_names().join(", ")
        );
    }
    Ok(())
}
