//! Glue between the command line and the library: each subcommand resolves its inputs, calls
//! the modules that do the work, prints, and returns an [`Error`] that `main` maps to an exit
//! code.

use crate::cli::{
    CleanupArgs, Cli, Command, ConnectArgs, PrepareArgs, RunArgs, RunsArgs, ServerArgs,
    ServerCommand, ShowArgs, TargetArgs, WorkloadArgs, WorkloadsArgs,
};
use crate::error::{Error, Result};
use crate::record::RunRecord;
use crate::server::{self, LocalServer, LocalServerOptions};
use crate::settings::{Layers, Origin, Settings};
use crate::store::{RunFilter, Store, StoreError, StoreLocation};
use crate::target::Target;
use crate::workload::plan::Plan;
use crate::workload::{self, SettingValue, Workload};
use crate::{prepare, regress, report, runner};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod baseline;
mod bulk;
mod calibrate;
pub mod gate;
mod generate;
mod history;
mod import;
mod index;
mod monitor;
mod trials;

pub use crate::util::VERSION;

/// Run one command line.
pub fn run(cli: Cli) -> Result<()> {
    let loc = StoreLocation::of_process(cli.store.clone());
    let store_path = loc.path.clone();
    let quiet = cli.quiet;
    match cli.command {
        Command::Workloads(a) => workloads_cmd(a),
        Command::Runs(a) => runs_cmd(&loc, a, quiet),
        Command::Show(a) => show_cmd(&loc, a),
        Command::Import(a) => import::command(&store_path, a),
        Command::Server(c) => server_cmd(c),
        Command::Prepare(a) => prepare_cmd(a, quiet),
        Command::Cleanup(a) => cleanup_cmd(a),
        Command::Run(a) => run_cmd(&store_path, a, quiet),
        Command::Monitor(a) => monitor::monitor_cmd(&store_path, a, quiet),
        Command::Health(a) => monitor::health_cmd(a),
        Command::Baseline(c) => baseline::command(&loc, c),
        Command::Compare(a) => gate::compare_cmd(&loc, a, quiet),
        Command::Ab(a) => gate::ab_cmd(&store_path, a, quiet),
        Command::Gate(a) => gate::gate_cmd(&store_path, a, quiet),
        Command::History(a) => history::command(&loc, a),
        Command::Calibrate(a) => calibrate::command(&store_path, a, quiet),
        Command::Bulk(a) => bulk::run(&store_path, a, quiet),
        Command::Index(a) => index::run(&store_path, a, quiet),
        Command::Completions(a) => generate::completions(a),
        Command::Man(a) => generate::man(a),
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    crate::util::runtime().map_err(Error::runtime)
}

/// Run `fut` to completion unless Ctrl-C comes first; then return `Error::Interrupted`, so
/// the caller unwinds normally (a throwaway server is stopped and its datadir removed).
fn interruptible<T>(
    rt: &tokio::runtime::Runtime,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    rt.block_on(async {
        tokio::select! {
            r = fut => r,
            _ = tokio::signal::ctrl_c() => Err(Error::Interrupted { id: None }),
        }
    })
}

pub(crate) fn parse_sets(sets: &[String]) -> Result<Vec<(String, String)>> {
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
pub(crate) fn resolve(
    w: &WorkloadArgs,
    t: &TargetArgs,
    run: Option<&RunArgs>,
) -> Result<(Workload, Settings, Plan)> {
    let workload = workload::load(&w.workload)?;
    let (settings, plan) = settings_of(&workload, w, t, run)?;
    Ok((workload, settings, plan))
}

/// The settings and plan of a loaded workload under the command's flags.
fn settings_of(
    workload: &Workload,
    w: &WorkloadArgs,
    t: &TargetArgs,
    run: Option<&RunArgs>,
) -> Result<(Settings, Plan)> {
    let sets = parse_sets(&w.settings.set)?;
    let flags = w.setting_flags(t, run);
    let sets = sets
        .into_iter()
        .map(|(k, v)| (k, SettingValue::Str(v)))
        .collect();
    let settings = Layers::default()
        .layer(Origin::Set, sets)
        .layer(Origin::Flag, flags)
        .resolve(workload)?;
    let plan = Plan::compile(workload, &settings)?;
    Ok((settings, plan))
}

/// Where a command connects.
pub(crate) struct Resolved {
    pub(crate) target: Target,
    /// A throwaway server started for this command; stopped when dropped.
    _server: Option<LocalServer>,
    pub(crate) throwaway: bool,
}

impl Resolved {
    /// The throwaway server's process, when this command started one.
    pub(crate) fn server_pid(&self) -> Option<u32> {
        self._server.as_ref().map(LocalServer::pid)
    }
}

/// The target of a command: `--target`, else the server from `loadgate server start`, else (if
/// allowed) a throwaway local server that lives as long as the returned value.
pub(crate) fn resolve_target(
    args: &ConnectArgs,
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
        extra_args: crate::monitor::throwaway_server_args(server_args),
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

pub(crate) fn timeout_of(s: &Settings) -> Duration {
    Duration::from_secs_f64(s.connect_timeout_s)
}

fn prepare_cmd(a: PrepareArgs, quiet: bool) -> Result<()> {
    let (w, s, plan) = resolve(&a.workload_args(), &a.target, None)?;
    let r = resolve_target(&a.target.conn, false, &[], quiet)?;
    let rep = interruptible(
        &runtime()?,
        prepare::prepare(
            &r.target,
            &plan,
            &w.name,
            &s.database,
            prepare::PrepareOptions {
                force: a.force,
                seed: s.seed,
                timeout: timeout_of(&s),
                quiet,
            },
        ),
    )?;
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
    let (w, s, plan) = resolve(&a.workload_args(), &a.target, None)?;
    let r = resolve_target(&a.target.conn, false, &[], true)?;
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

/// When nothing on the command line names a table size (`--table-size`, `--set table_size`)
/// and the tables hold another row count than the plan expects, a run takes the count
/// `prepare` recorded on them: `prepare --table-size 1000000` then `run` measures the million
/// rows. A size named on the command line is kept, and `run` refuses tables of another size
/// ([`prepare::needs_prepare`]). Anything that stops the look (an unreachable server) is left
/// for the run's preflight.
fn adopt_prepared_size(
    rt: &tokio::runtime::Runtime,
    a: &RunArgs,
    target: &Target,
    w: &Workload,
    (s, plan): (Settings, Plan),
    quiet: bool,
) -> Result<(Settings, Plan)> {
    if !matches!(
        s.origins.get("table_size"),
        Some(Origin::Default | Origin::Workload)
    ) {
        return Ok((s, plan));
    }
    let recorded = rt.block_on(async {
        let mut conn = target
            .connect(target.opts(Some(&s.database), 16), timeout_of(&s))
            .await
            .ok()?;
        let rows = prepare::recorded_rows(&mut conn, target, &plan, &s.database).await;
        let _ = conn.disconnect().await;
        rows.ok().flatten()
    });
    let Some(rows) = recorded.filter(|r| plan.tables().any(|t| t.rows != *r)) else {
        return Ok((s, plan));
    };
    let mut sized = a.workload.clone();
    sized.settings.table_size = Some(rows as u64);
    let (mut s2, plan2) = settings_of(w, &sized, &a.target, Some(a))?;
    // Only when the size is what decides the tables' rows (a workload may size them otherwise).
    if !plan2.tables().all(|t| t.rows == rows) {
        return Ok((s, plan));
    }
    s2.origins.insert("table_size".into(), Origin::Prepared);
    if !quiet {
        eprintln!(
            "note: table size {rows}, as prepared (the workload's default is {}; pass --table-size to choose)",
            s.table_size
        );
    }
    Ok((s2, plan2))
}

fn run_cmd(store_path: &Path, a: RunArgs, quiet: bool) -> Result<()> {
    let (w, s, plan) = resolve(&a.workload, &a.target, Some(&a))?;
    let (mut monitor_setup, _exporter) = monitor::run_setup(&w, &a.monitor, quiet)?;
    let fail_on = monitor_setup.settings.fail_on_alert;
    // Open the store first: a run that cannot be stored is not started.
    let mut store = Store::open(store_path)?;
    let resolved = resolve_target(&a.target.conn, true, &a.server.server_args, quiet)?;
    monitor_setup.server_pid = resolved.server_pid();
    let target = resolved.target.clone();
    let rt = runtime()?;
    if resolved.throwaway {
        let rep = interruptible(
            &rt,
            prepare::prepare(
                &target,
                &plan,
                &w.name,
                &s.database,
                prepare::PrepareOptions {
                    force: false,
                    seed: s.seed,
                    timeout: timeout_of(&s),
                    quiet: true,
                },
            ),
        )?;
        if !quiet {
            eprintln!(
                "Prepared {} table(s) x {} rows in {:.1} s",
                rep.tables.len(),
                rep.rows_per_table.first().copied().unwrap_or(0),
                rep.seconds
            );
        }
    }

    let (s, plan) = if resolved.throwaway {
        (s, plan)
    } else {
        adopt_prepared_size(&rt, &a, &target, &w, (s, plan), quiet)?
    };
    drop(rt);
    let foreign = prepare::ForeignTables {
        allow_writes: a.allow_writes_to_foreign_tables,
    };
    if let Some(n) = a.trials {
        let spec = regress::trials::TrialSpec {
            workload: &w,
            settings: &s,
            plan: Arc::new(plan),
            target: &target,
            quiet,
            foreign,
            server_pid: resolved.server_pid(),
        };
        let r = trials::run(
            &mut store,
            &spec,
            n,
            a.format.is_json(),
            a.output.as_deref(),
        );
        drop(resolved);
        return r;
    }
    let job = runner::RunJob {
        workload: &w,
        settings: &s,
        plan: Arc::new(plan),
        target: &target,
        set_id: None,
        quiet,
        monitor: monitor_setup,
        foreign,
    };
    let mut done = runner::run_once_keeping(&job, &mut store)?;
    // Reported even when it could not be stored: what was measured is never thrown away.
    emit(&done.record, a.format.is_json(), a.output.as_deref())?;
    drop(resolved);
    if let Some(e) = done.unstored.take() {
        return Err(e.into());
    }
    let alert = monitor::alert_error(
        format!("run {}", done.record.id.unwrap_or(0)),
        done.record.monitor.as_ref(),
        fail_on,
    );
    done.into_result()?;
    alert.map_or(Ok(()), Err)
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

/// The store a command that only reads opens: the one at `loc` if it exists, else an empty one
/// in memory (so the command answers as on an empty store: no runs, no baseline `x`, exit 2),
/// after a note on stderr saying that there is no store at `loc` and how it was looked for.
/// Never creates a file.
pub(crate) fn open_for_reading(loc: &StoreLocation) -> Result<Store> {
    match Store::open_existing(loc) {
        Ok(s) => Ok(s),
        Err(e @ StoreError::Missing(_)) => {
            eprintln!("note: {e}");
            Ok(Store::open_in_memory()?)
        }
        Err(e) => Err(e.into()),
    }
}

fn show_cmd(loc: &StoreLocation, a: ShowArgs) -> Result<()> {
    let store_path = loc.path.as_path();
    let store = open_for_reading(loc)?;
    if let Some(n) = a.run.strip_prefix(monitor::SESSION_PREFIX) {
        return show_session(&store, store_path, n, a.format.is_json());
    }
    let id = if a.run == "last" {
        store
            .last_run_id()?
            .ok_or_else(|| Error::Usage(format!("no runs stored in {}", store_path.display())))?
    } else {
        a.run.parse::<i64>().map_err(|_| {
            Error::Usage(format!(
                "`{}` is not a run id (a number, or `last`; `m` and a number is a monitor session); see `loadgate runs`",
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
    emit(&rec, a.format.is_json(), None)
}

/// `show mN`: monitor session N, as `monitor` printed it.
fn show_session(store: &Store, store_path: &Path, n: &str, json: bool) -> Result<()> {
    let id: i64 = n.parse().map_err(|_| {
        Error::Usage(format!(
            "`{}{n}` is not a monitor session id (`m` and a number, as `loadgate monitor` prints it)",
            monitor::SESSION_PREFIX
        ))
    })?;
    let rep = store.get_monitor_session(id)?.ok_or_else(|| {
        Error::Usage(format!(
            "no monitor session {} in {}",
            monitor::session_ref(id),
            store_path.display()
        ))
    })?;
    monitor::print_session(id, &rep, json);
    Ok(())
}

fn runs_cmd(loc: &StoreLocation, a: RunsArgs, quiet: bool) -> Result<()> {
    let store_path = loc.path.as_path();
    let store = open_for_reading(loc)?;
    // Which store was read, on stderr so that `runs --json` stays a JSON array on stdout.
    if !quiet && store.path() == store_path {
        eprintln!("store: {} ({})", store_path.display(), loc.origin);
    }
    let items = store.list_runs(&RunFilter {
        workload: a.workload.clone(),
        status: a.status,
        set_id: a.run_set.clone(),
        limit: Some(a.limit),
    })?;
    if a.format.is_json() {
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
    let sets = items.iter().any(|r| r.set_id.is_some());
    println!(
        "{:>5}  {:<24} {:<11} {:<20} {:>20} {:>10}  {}target",
        "id",
        "started",
        "status",
        "workload",
        "rate",
        "p99 ms",
        if sets {
            format!("{:<24} ", "set")
        } else {
            String::new()
        }
    );
    for r in items {
        println!(
            "{:>5}  {:<24} {:<11} {:<20} {:>20} {:>10.2}  {}{}",
            r.id,
            crate::util::rfc3339(r.started_at_ms),
            r.status.as_str(),
            r.workload,
            format!("{:.1} {}", r.tps.unwrap_or(0.0), r.rate_unit),
            r.p99_corrected_ms.unwrap_or(0.0),
            if sets {
                format!("{:<24} ", r.set_id.as_deref().unwrap_or("-"))
            } else {
                String::new()
            },
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
    for (name, text) in special_builtins() {
        let (_, description) = describe_special(text, workload::Source::Builtin)?;
        items.push(Item {
            name: name.to_string(),
            source: "built-in".into(),
            description,
            error: None,
        });
    }
    for f in workload::workload_files(&a.dir) {
        let stem = f
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if workload::BUILTIN.iter().any(|(n, _)| *n == stem)
            || special_builtins().iter().any(|(n, _)| *n == stem)
        {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        if workload::kind_of(&text).is_some_and(|k| workload::special_command(&k).is_some()) {
            match describe_special(&text, workload::Source::File(f.clone())) {
                Ok((name, description)) => items.push(Item {
                    name,
                    source: f.display().to_string(),
                    description,
                    error: None,
                }),
                Err(e) => items.push(Item {
                    name: stem,
                    source: f.display().to_string(),
                    description: String::new(),
                    error: Some(e.to_string()),
                }),
            }
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
    if a.format.is_json() {
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

/// Built-in workloads of the special kinds (bulk sync, index before/after): `(name, text)`.
fn special_builtins() -> Vec<(&'static str, &'static str)> {
    vec![crate::bulk::spec::BUILTIN, crate::index::spec::BUILTIN]
}

/// Name and description of a special-kind workload, shown with the command that runs it.
fn describe_special(text: &str, source: workload::Source) -> Result<(String, String)> {
    let kind = workload::kind_of(text).unwrap_or_default();
    match kind.as_str() {
        crate::bulk::spec::KIND => {
            let s = crate::bulk::spec::parse(text, source)?;
            Ok((s.name, format!("{} (loadgate bulk)", s.description)))
        }
        crate::index::spec::KIND => {
            let s = crate::index::spec::parse(text, source, &[])?;
            Ok((s.name, format!("{} (loadgate index)", s.description)))
        }
        other => Err(Error::Usage(format!("unknown workload kind `{other}`"))),
    }
}

fn server_cmd(c: ServerCommand) -> Result<()> {
    let (a, server_args, which) = match c {
        ServerCommand::Start(a) => (a.common, a.server.server_args, 0),
        ServerCommand::Stop(a) => (a, Vec::new(), 1),
        ServerCommand::Status(a) => (a, Vec::new(), 2),
    };
    let ServerArgs { state_dir, format } = a;
    let json = format.is_json();
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
                extra_args: crate::monitor::throwaway_server_args(&server_args),
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
    Ok(())
}
