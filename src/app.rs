//! Glue between the command line and the library: each subcommand resolves its inputs, calls
//! the modules that do the work, prints, and returns an [`Error`] that `main` maps to an exit
//! code.

use crate::cli::{
    CleanupArgs, Cli, Command, PrepareArgs, RunArgs, RunsArgs, ServerArgs, ServerCommand, ShowArgs,
    TargetArgs, WorkloadArgs, WorkloadsArgs,
};
use crate::engine::exec::MysqlConnector;
use crate::engine::{self, EngineConfig, Live};
use crate::error::{Error, Result};
use crate::record::{RunRecord, RunStatus, RunStatusField, StoredHistogram};
use crate::server::{self, LocalServer, LocalServerOptions};
use crate::settings::{self, Settings};
use crate::store::{RunFilter, Store};
use crate::target::Target;
use crate::workload::plan::Plan;
use crate::workload::{self, Workload};
use crate::{prepare, report, testbed};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Run one command line.
pub fn run(cli: Cli) -> Result<()> {
    let store_path = cli.store.clone().unwrap_or_else(crate::store::default_path);
    let quiet = cli.quiet;
    match cli.command {
        Command::Workloads(a) => workloads_cmd(a),
        Command::Runs(a) => runs_cmd(&store_path, a),
        Command::Show(a) => show_cmd(&store_path, a),
        Command::Server(c) => server_cmd(c),
        Command::Prepare(a) => prepare_cmd(a, quiet),
        Command::Cleanup(a) => cleanup_cmd(a),
        Command::Run(a) => run_cmd(&store_path, a, quiet),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(anyhow::anyhow!("cannot start the async runtime: {e}")))
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

/// Load the workload and resolve settings: flags over --set over the file over defaults.
fn resolve(
    w: &WorkloadArgs,
    t: &TargetArgs,
    run: Option<&RunArgs>,
) -> Result<(Workload, Settings, Plan)> {
    let workload = workload::load(&w.workload)?;
    let sets = parse_sets(&w.set)?;
    let mut flags: Vec<(&str, String)> = Vec::new();
    let mut flag = |k: &'static str, v: Option<String>| {
        if let Some(v) = v {
            flags.push((k, v));
        }
    };
    flag("threads", w.threads.map(|v| v.to_string()));
    flag("tables", w.tables.map(|v| v.to_string()));
    flag("table_size", w.table_size.map(|v| v.to_string()));
    flag("rand_type", w.rand_type.clone());
    flag("seed", w.seed.map(|v| v.to_string()));
    flag("connect_timeout", t.connect_timeout.clone());
    // The database: --database, else the one named in the target URL, else --set/file/default.
    let url_db = t
        .target
        .as_deref()
        .and_then(|u| Target::parse(u).ok())
        .and_then(|t| t.database);
    flag("database", t.database.clone().or(url_db));
    if let Some(r) = run {
        flag("duration", r.duration.clone());
        flag("warmup", r.warmup.clone());
        flag("rate", r.rate.map(|v| v.to_string()));
        flag("events", r.events.map(|v| v.to_string()));
        flag("report_interval", r.report_interval.clone());
        flag("client_threads", r.client_threads.map(|v| v.to_string()));
    }
    let settings = Settings::resolve(&workload, &sets, &flags)?;
    let plan = Plan::compile(&workload, &settings)?;
    Ok((workload, settings, plan))
}

/// Where a command connects.
struct Resolved {
    target: Target,
    /// A throwaway server started for this command; stopped when dropped.
    _server: Option<LocalServer>,
    throwaway: bool,
}

fn resolve_target(
    args: &TargetArgs,
    allow_throwaway: bool,
    server_args: &[String],
    quiet: bool,
) -> Result<Resolved> {
    let env_pwd = std::env::var("MYSQL_PWD").ok();
    if let Some(url) = &args.target {
        let mut t = Target::parse(url)?;
        t.resolve_password(args.password_file.as_deref(), env_pwd)?;
        return Ok(Resolved {
            target: t,
            _server: None,
            throwaway: false,
        });
    }
    if let Ok(Some(state)) = server::status_detached(&server::default_state_dir()) {
        let mut t = Target::parse(&state.url)?;
        t.resolve_password(args.password_file.as_deref(), env_pwd)?;
        if !quiet {
            eprintln!(
                "Using the local server from `loadgate server start`: {}",
                t.redacted()
            );
        }
        return Ok(Resolved {
            target: t,
            _server: None,
            throwaway: false,
        });
    }
    if !allow_throwaway {
        return Err(Error::Usage(
            "no target: pass --target mysql://user@host:port/db (or set LOADGATE_TARGET), or start a local server with `loadgate server start`".into(),
        ));
    }
    if !quiet {
        eprintln!("No --target given: starting a throwaway local server...");
    }
    let opts = LocalServerOptions {
        extra_args: server_args.to_vec(),
        ..Default::default()
    };
    let srv = LocalServer::start(&opts)?;
    let t = Target::parse(&srv.url())?;
    if !quiet {
        eprintln!(
            "Throwaway server ready at {} (removed when the run ends)",
            t.redacted()
        );
    }
    Ok(Resolved {
        target: t,
        _server: Some(srv),
        throwaway: true,
    })
}

fn timeout_of(s: &Settings) -> Duration {
    Duration::from_secs_f64(s.connect_timeout_s)
}

fn prepare_cmd(a: PrepareArgs, quiet: bool) -> Result<()> {
    let (w, s, plan) = resolve(&a.workload, &a.target, None)?;
    let r = resolve_target(&a.target, false, &[], quiet)?;
    let rep = runtime()?.block_on(prepare::prepare(
        &r.target,
        &plan,
        &w.name,
        &s.database,
        a.force,
        s.seed,
        timeout_of(&s),
        quiet,
    ))?;
    println!(
        "Prepared {} table(s) in `{}` on {} ({} rows each, {:.1} s): {}",
        rep.tables.len(),
        rep.database,
        r.target.redacted(),
        rep.rows_per_table.first().copied().unwrap_or(0),
        rep.seconds,
        rep.tables.join(", ")
    );
    Ok(())
}

fn cleanup_cmd(a: CleanupArgs) -> Result<()> {
    let (w, s, plan) = resolve(&a.workload, &a.target, None)?;
    let r = resolve_target(&a.target, false, &[], true)?;
    let rep = runtime()?.block_on(prepare::cleanup(
        &r.target,
        &plan,
        &w.name,
        &s.database,
        timeout_of(&s),
    ))?;
    if rep.dropped.is_empty() {
        println!("Nothing to drop in `{}`.", s.database);
    } else {
        println!(
            "Dropped {} table(s) in `{}`: {}",
            rep.dropped.len(),
            s.database,
            rep.dropped.join(", ")
        );
    }
    if !rep.left_alone.is_empty() {
        println!(
            "Left alone (not created by loadgate): {}",
            rep.left_alone.join(", ")
        );
    }
    Ok(())
}

fn serialize_hist(h: &hdrhistogram::Histogram<u64>) -> Vec<u8> {
    use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
    let mut out = Vec::new();
    let _ = V2DeflateSerializer::new().serialize(h, &mut out);
    out
}

fn run_cmd(store_path: &Path, a: RunArgs, quiet: bool) -> Result<()> {
    let (w, s, plan) = resolve(&a.workload, &a.target, Some(&a))?;
    // Open the store first: a run that cannot be stored is not started.
    let mut store = Store::open(store_path)?;
    let resolved = resolve_target(&a.target, true, &a.server_args, quiet)?;
    let target = resolved.target.clone();
    let rt = runtime()?;
    if resolved.throwaway {
        let rep = rt.block_on(prepare::prepare(
            &target,
            &plan,
            &w.name,
            &s.database,
            false,
            s.seed,
            timeout_of(&s),
            true,
        ))?;
        if !quiet {
            eprintln!(
                "Prepared {} table(s) x {} rows in {:.1} s",
                rep.tables.len(),
                rep.rows_per_table.first().copied().unwrap_or(0),
                rep.seconds
            );
        }
    }

    let mut rec = RunRecord {
        started_at_ms: now_ms(),
        status: RunStatusField(RunStatus::Running),
        workload: w.name.clone(),
        workload_hash: w.hash.clone(),
        settings: serde_json::to_value(&s).unwrap_or_default(),
        target: target.redacted(),
        git_commit: testbed::git_commit(),
        tool_version: VERSION.to_string(),
        ..Default::default()
    };
    let id = store.begin_run(&rec)?;
    rec.id = Some(id);

    // Preflight: reachable, who answers, tables prepared.
    let preflight = rt.block_on(async {
        let mut conn = target
            .connect(target.opts(Some(&s.database), 16), timeout_of(&s))
            .await?;
        let info = testbed::server_info(&mut conn, &target).await?;
        let vars = testbed::key_variables(&mut conn, &target)
            .await
            .unwrap_or_default();
        prepare::check_prepared(&mut conn, &target, &plan, &w.name, &s.database).await?;
        let _ = conn.disconnect().await;
        Ok::<_, Error>((info, vars))
    });
    let (info, vars) = match preflight {
        Ok(v) => v,
        Err(e) => {
            rec.status = RunStatusField(RunStatus::Failed);
            rec.status_reason = Some(e.to_string());
            rec.ended_at_ms = Some(now_ms());
            store.finish_run(id, &rec)?;
            return Err(e);
        }
    };
    rec.testbed = testbed::testbed(&info, &vars);
    rec.server = info;

    if !quiet {
        eprintln!(
            "Running {} on {} ({} {}): {} threads, {}, {} s{} — run {id}",
            w.name,
            target.redacted(),
            rec.server.flavor,
            rec.server.version,
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
        );
    }
    let cfg = EngineConfig {
        workers: s.threads,
        client_threads: s.client_threads,
        warmup: Duration::from_secs_f64(s.warmup_s),
        duration: (s.duration_s > 0.0).then(|| Duration::from_secs_f64(s.duration_s)),
        rate: s.rate,
        events: s.events,
        seed: s.seed,
        retry_errors: s.retry_errors.clone(),
        live: if quiet {
            Live::Quiet
        } else if s.report_interval_s > 0.0 {
            Live::Lines(s.report_interval_s)
        } else {
            Live::Bar
        },
        interval: Duration::from_secs(1),
        grace: Duration::from_secs(2),
        connect_timeout: timeout_of(&s),
    };
    drop(rt);
    let plan = Arc::new(plan);
    let connector = Arc::new(MysqlConnector::new(
        target.clone(),
        &s.database,
        plan.sql.clone(),
        timeout_of(&s),
    ));
    let out = engine::run(cfg, plan.clone(), connector);

    let mut summary =
        engine::summary::summarize(&plan, &out.totals, out.measured_s, s.rate.is_some());
    summary.schedule = out.schedule.clone();
    let errors: u64 = summary.errors.iter().map(|e| e.count).sum();
    let (status, reason) = if let Some(e) = &out.startup_error {
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
    } else if summary.transactions == 0 {
        (
            RunStatus::Failed,
            Some(format!("no transaction completed ({errors} errors)")),
        )
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
    };
    rec.status = RunStatusField(status);
    rec.status_reason = reason.clone();
    rec.ended_at_ms = Some(now_ms());
    let mut hists = Vec::new();
    let mut all_c = engine::recorder::new_histogram();
    let mut all_s = engine::recorder::new_histogram();
    for (p, h) in plan.txns.iter().zip(&out.totals.txn) {
        let _ = all_c.add(&h.corrected);
        let _ = all_s.add(&h.service);
        hists.push(StoredHistogram {
            scope: format!("txn:{}", p.name),
            kind: "corrected".into(),
            bytes: serialize_hist(&h.corrected),
        });
        hists.push(StoredHistogram {
            scope: format!("txn:{}", p.name),
            kind: "service".into(),
            bytes: serialize_hist(&h.service),
        });
    }
    hists.insert(
        0,
        StoredHistogram {
            scope: "txn".into(),
            kind: "service".into(),
            bytes: serialize_hist(&all_s),
        },
    );
    hists.insert(
        0,
        StoredHistogram {
            scope: "txn".into(),
            kind: "corrected".into(),
            bytes: serialize_hist(&all_c),
        },
    );
    for (p, h) in plan.statements.iter().zip(&out.totals.stmt) {
        hists.push(StoredHistogram {
            scope: format!("stmt:{}", p.name),
            kind: "service".into(),
            bytes: serialize_hist(&h.service),
        });
    }
    rec.histograms = hists;
    rec.intervals = out.intervals;
    rec.summary = (out.startup_error.is_none()).then_some(summary);
    store.finish_run(id, &rec)?;

    emit(&rec, a.json, a.output.as_deref())?;
    drop(resolved);
    match status {
        RunStatus::Complete => Ok(()),
        _ if out.interrupted => Err(Error::Interrupted { id: Some(id) }),
        _ => Err(Error::Incomplete {
            id,
            status: status.as_str(),
            reason: reason.unwrap_or_default(),
        }),
    }
}

fn emit(rec: &RunRecord, json: bool, output: Option<&Path>) -> Result<()> {
    let text = if json {
        report::json::to_string(rec) + "\n"
    } else {
        report::text::render(rec)
    };
    match output {
        Some(p) => std::fs::write(p, text).map_err(|source| Error::Output {
            path: p.to_path_buf(),
            source,
        }),
        None => {
            let mut so = std::io::stdout().lock();
            let _ = so.write_all(text.as_bytes());
            Ok(())
        }
    }
}

fn show_cmd(store_path: &Path, a: ShowArgs) -> Result<()> {
    let store = Store::open(store_path)?;
    let id = if a.run == "last" {
        store
            .last_run_id()?
            .ok_or_else(|| Error::Usage(format!("no runs stored in {}", store_path.display())))?
    } else {
        a.run.parse::<i64>().map_err(|_| {
            Error::Usage(format!(
                "`{}` is not a run id (a number, or `last`); see `loadgate runs`",
                a.run
            ))
        })?
    };
    let rec = store.get_run(id).map_err(|e| match e {
        crate::store::StoreError::RunNotFound(_) => Error::Usage(format!(
            "no run {id} in {}; see `loadgate runs`",
            store_path.display()
        )),
        other => other.into(),
    })?;
    emit(&rec, a.json, None)
}

fn runs_cmd(store_path: &Path, a: RunsArgs) -> Result<()> {
    let store = Store::open(store_path)?;
    let status = match a.status.as_deref() {
        None => None,
        Some(s) => Some(RunStatus::parse(s).ok_or_else(|| {
            Error::Usage(format!(
                "--status `{s}`: use complete, partial, failed or running"
            ))
        })?),
    };
    let items = store.list_runs(&RunFilter {
        workload: a.workload.clone(),
        status,
        set_id: None,
        limit: Some(a.limit),
    })?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&items).unwrap_or_default()
        );
        return Ok(());
    }
    if items.is_empty() {
        println!("No runs stored in {}.", store_path.display());
        return Ok(());
    }
    println!(
        "{:>5}  {:<24} {:<9} {:<20} {:>10} {:>10}  target",
        "id", "started", "status", "workload", "tps", "p99 ms"
    );
    for r in items {
        println!(
            "{:>5}  {:<24} {:<9} {:<20} {:>10.1} {:>10.2}  {}",
            r.id,
            report::rfc3339(r.started_at_ms),
            r.status.as_str(),
            r.workload,
            r.tps.unwrap_or(0.0),
            r.p99_corrected_ms.unwrap_or(0.0),
            r.target
        );
    }
    Ok(())
}

fn workloads_cmd(a: WorkloadsArgs) -> Result<()> {
    #[derive(serde::Serialize)]
    struct Item {
        name: String,
        source: String,
        description: String,
        error: Option<String>,
    }
    let mut items = Vec::new();
    for (name, text) in workload::BUILTIN {
        let w = workload::parse::parse(text, workload::Source::Builtin)?;
        items.push(Item {
            name: name.to_string(),
            source: "built-in".into(),
            description: w.description,
            error: None,
        });
    }
    for f in workload::workload_files(&a.dir) {
        let stem = f
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if workload::BUILTIN.iter().any(|(n, _)| *n == stem) {
            continue;
        }
        match workload::load(&f.display().to_string()) {
            Ok(w) => items.push(Item {
                name: w.name,
                source: f.display().to_string(),
                description: w.description,
                error: None,
            }),
            Err(e) => items.push(Item {
                name: stem,
                source: f.display().to_string(),
                description: String::new(),
                error: Some(e.to_string()),
            }),
        }
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&items).unwrap_or_default()
        );
        return Ok(());
    }
    for i in items {
        match i.error {
            None => println!(
                "{:<22} {:<10} {}",
                i.name,
                if i.source == "built-in" {
                    "built-in"
                } else {
                    "file"
                },
                i.description
            ),
            Some(e) => println!("{:<22} {:<10} INVALID: {e}", i.name, "file"),
        }
    }
    Ok(())
}

fn server_cmd(c: ServerCommand) -> Result<()> {
    let (a, which) = match c {
        ServerCommand::Start(a) => (a, 0),
        ServerCommand::Stop(a) => (a, 1),
        ServerCommand::Status(a) => (a, 2),
    };
    let ServerArgs {
        state_dir,
        server_args,
        json,
    } = a;
    let dir: PathBuf = state_dir.unwrap_or_else(server::default_state_dir);
    let print = |s: Option<&server::DetachedState>, verb: &str| {
        if json {
            println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
        } else {
            match s {
                Some(s) => println!(
                    "{verb}: {} (pid {}, {} {}, data in {})",
                    s.url,
                    s.pid,
                    s.flavor,
                    s.version,
                    s.datadir.display()
                ),
                None => println!("No local server is running (state in {}).", dir.display()),
            }
        }
    };
    match which {
        0 => {
            let opts = LocalServerOptions {
                extra_args: server_args,
                ..Default::default()
            };
            let s = server::start_detached(&opts, &dir)?;
            print(Some(&s), "Started");
            if !json {
                println!("Use it with: --target {}   (loadgate prepare/run/cleanup pick it up without --target)", s.url);
            }
        }
        1 => {
            let s = server::stop_detached(&dir)?;
            match s {
                Some(s) => print(Some(&s), "Stopped"),
                None => print(None, ""),
            }
        }
        _ => {
            let s = server::status_detached(&dir)?;
            print(s.as_ref(), "Running");
        }
    }
    let _ = settings::KNOWN;
    Ok(())
}
