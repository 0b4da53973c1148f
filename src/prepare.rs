//! `prepare` and `cleanup`: creating, filling and dropping the tables a workload owns, and
//! refusing to touch anything else.
//!
//! Ownership is written into the server: every table `prepare` creates gets the comment
//! `loadgate:owned workload=<name> rows=<N>`. `prepare` refuses a schema that holds other
//! tables unless forced, and never replaces a same-named table it did not create, forced or
//! not. `cleanup` drops only tables of the workload that carry the mark, so a user's table of
//! the same name survives. A run may read tables it did not create (a workload whose statements
//! only read, [`crate::workload::plan::only_reads`]); one that writes to them needs
//! [`ForeignTables::allow_writes`]. The row count in the mark lets `run` refuse (and `gate` reload)
//! tables prepared at another size: their ids would not be the ones the run draws.
//!
//! A table is marked `state=loading` while `prepare` creates and fills it, and gets the plain
//! mark (which says it is complete) only after its last row and its `after_load` statements
//! (the secondary indexes) are in: a `prepare` that is interrupted or killed leaves a table
//! that says it is half-prepared, which `run` refuses with the command that reloads it. Marks
//! written before the state existed carry no state and are complete.

use crate::error::Error;
use crate::target::{Target, TargetError};
use crate::workload::plan::{Plan, TableGroup};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use std::time::{Duration, Instant};

/// The comment prefix that marks a table as loadgate's.
pub const OWNER_MARK: &str = "loadgate:owned";

/// Rows per multi-row INSERT while loading.
const LOAD_BATCH: usize = 1000;

/// The token a table's mark carries while `prepare` is still filling it.
const LOADING: &str = "state=loading";

/// The mark of a table whose rows and indexes are all in.
fn mark(workload: &str, rows: i64) -> String {
    format!("{OWNER_MARK} workload={workload} rows={rows}")
}

/// The mark of a table `prepare` has created but not finished loading.
fn loading_mark(workload: &str, rows: i64) -> String {
    format!("{} {LOADING}", mark(workload, rows))
}

/// What a table comment says about the table.
#[derive(Debug, Clone, PartialEq)]
struct Mark {
    /// `Some(workload)` when loadgate created the table.
    owner: Option<String>,
    /// The rows `prepare` loads into it (missing on tables prepared before it was recorded).
    rows: Option<i64>,
    /// False while `prepare` is (or was, when it was stopped) still loading it.
    complete: bool,
}

/// Reads a table comment: owner, row count and whether loading finished. A comment without
/// loadgate's prefix is a user's table; a mark without a state is complete (marks written
/// before the state existed).
fn parse_mark(comment: &str) -> Mark {
    let Some(rest) = comment.strip_prefix(OWNER_MARK) else {
        return Mark {
            owner: None,
            rows: None,
            complete: true,
        };
    };
    let mut owner = String::new();
    let mut rows = None;
    let mut complete = true;
    for token in rest.split_whitespace() {
        if let Some(w) = token.strip_prefix("workload=") {
            owner = w.to_string();
        } else if let Some(n) = token.strip_prefix("rows=") {
            rows = n.parse().ok();
        } else if token.starts_with("state=") {
            // Any state but the absent one means not finished (only `loading` is written).
            complete = false;
        }
    }
    Mark {
        owner: Some(owner),
        rows,
        complete,
    }
}

/// A table found in the target schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ExistingTable {
    pub name: String,
    /// `Some(workload)` when loadgate created it.
    pub owner: Option<String>,
    /// The rows `prepare` loaded (or was loading), when the mark records them.
    pub rows: Option<i64>,
    /// False when `prepare` had not finished loading it (interrupted or killed): rows or
    /// indexes may be missing. True for tables without loadgate's mark.
    pub complete: bool,
}

/// Tables in `database`, with their owner mark.
pub async fn list_tables(
    conn: &mut Conn,
    target: &Target,
    database: &str,
) -> Result<Vec<ExistingTable>, TargetError> {
    let q = "SELECT TABLE_NAME, TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME";
    let rows: Vec<(String, String)> = conn
        .exec(q, (database,))
        .await
        .map_err(|e| target.classify(e, Some(q)))?;
    Ok(rows
        .into_iter()
        .map(|(name, comment)| {
            let Mark {
                owner,
                rows,
                complete,
            } = parse_mark(&comment);
            ExistingTable {
                name,
                owner,
                rows,
                complete,
            }
        })
        .collect())
}

async fn exec(conn: &mut Conn, target: &Target, sql: &str) -> Result<(), TargetError> {
    conn.query_drop(sql)
        .await
        .map_err(|e| target.classify(e, Some(&crate::util::abbreviate(sql, 160, 157))))
}

/// What `prepare` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PrepareReport {
    pub database: String,
    pub tables: Vec<String>,
    pub rows_per_table: Vec<i64>,
    pub seconds: f64,
}

/// How `prepare` behaves.
#[derive(Debug, Clone, Copy)]
pub struct PrepareOptions {
    /// Prepare beside tables the workload does not own.
    pub force: bool,
    /// Seed for the row generators.
    pub seed: u64,
    pub timeout: Duration,
    /// No progress lines on stderr.
    pub quiet: bool,
}

/// Create the database if needed, check ownership, create and fill every table.
#[allow(clippy::too_many_arguments)]
pub async fn prepare(
    target: &Target,
    plan: &Plan,
    workload: &str,
    database: &str,
    opts: PrepareOptions,
) -> Result<PrepareReport, Error> {
    let PrepareOptions {
        force,
        seed,
        timeout,
        quiet,
    } = opts;
    let started = Instant::now();
    let mut conn = target.connect(target.opts(None, 16), timeout).await?;
    exec(
        &mut conn,
        target,
        &format!("CREATE DATABASE IF NOT EXISTS `{database}`"),
    )
    .await?;
    exec(&mut conn, target, &format!("USE `{database}`")).await?;
    let existing = list_tables(&mut conn, target, database).await?;
    let ours = plan.table_names();
    let clash: Vec<&ExistingTable> = existing
        .iter()
        .filter(|t| ours.contains(&t.name) && t.owner.is_none())
        .collect();
    if !clash.is_empty() {
        return Err(Error::Refused(format!(
            "`{database}` already has table(s) {} that loadgate did not create; it will not replace them, forced or not. Use another database (--database or --set database=...) or drop them yourself.",
            clash.iter().map(|t| format!("`{}`", t.name)).collect::<Vec<_>>().join(", ")
        )));
    }
    let foreign: Vec<&ExistingTable> = existing
        .iter()
        .filter(|t| !ours.contains(&t.name) && t.owner.is_none())
        .collect();
    if !foreign.is_empty() && !force {
        let names: Vec<String> = foreign
            .iter()
            .take(10)
            .map(|t| format!("`{}`", t.name))
            .collect();
        return Err(Error::Refused(format!(
            "`{database}` holds {} table(s) this workload does not own ({}{}); refusing to prepare there. Use an empty database (--database NAME) or pass --force to prepare beside them (they are never touched).",
            foreign.len(),
            names.join(", "),
            if foreign.len() > 10 { ", ..." } else { "" }
        )));
    }
    drop(conn);
    if !quiet {
        for t in existing
            .iter()
            .filter(|t| ours.contains(&t.name) && t.owner.is_some() && !t.complete)
        {
            eprintln!(
                "note: `{database}`.`{}` is half-prepared (an earlier prepare stopped before it was complete); reloading it",
                t.name
            );
        }
    }

    let mut report = PrepareReport {
        database: database.to_string(),
        tables: Vec::new(),
        rows_per_table: Vec::new(),
        seconds: 0.0,
    };
    for (gi, group) in plan.groups.iter().enumerate() {
        // One connection per table, all tables of the group at once (bounded to 8).
        let mut set = tokio::task::JoinSet::new();
        for (ti, _) in group.tables.iter().enumerate() {
            let (target, group, database, workload) = (
                target.clone(),
                group.clone(),
                database.to_string(),
                workload.to_string(),
            );
            let was_ours = existing.iter().any(|t| t.name == group.tables[ti].name);
            let seed = seed ^ ((gi as u64) << 32 | ti as u64);
            set.spawn(async move {
                load_table(
                    &target, &group, ti, &database, &workload, was_ours, seed, timeout, quiet,
                )
                .await
            });
            while set.len() >= 8 {
                if let Some(r) = set.join_next().await {
                    r.map_err(|e| Error::Other(anyhow::anyhow!("loader task failed: {e}")))??;
                }
            }
        }
        while let Some(r) = set.join_next().await {
            r.map_err(|e| Error::Other(anyhow::anyhow!("loader task failed: {e}")))??;
        }
        for t in &group.tables {
            report.tables.push(t.name.clone());
            report.rows_per_table.push(t.rows);
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn load_table(
    target: &Target,
    group: &TableGroup,
    ti: usize,
    database: &str,
    workload: &str,
    was_ours: bool,
    seed: u64,
    timeout: Duration,
    quiet: bool,
) -> Result<(), Error> {
    use rand::SeedableRng;
    let t = &group.tables[ti];
    let mut conn = target
        .connect(target.opts(Some(database), 16), timeout)
        .await?;
    if was_ours {
        exec(
            &mut conn,
            target,
            &format!("DROP TABLE IF EXISTS `{}`", t.name),
        )
        .await?;
    }
    if !quiet {
        eprintln!("Creating table '{}'...", t.name);
    }
    exec(&mut conn, target, &t.create).await?;
    // Owned but not complete until the last row and index are in.
    set_mark(&mut conn, target, &t.name, &loading_mark(workload, t.rows)).await?;
    if !quiet {
        eprintln!("Inserting {} records into '{}'", t.rows, t.name);
    }
    let cols: Vec<&str> = group.columns.iter().map(|(n, _)| n.as_str()).collect();
    let head = format!("INSERT INTO `{}` ({}) VALUES ", t.name, cols.join(", "));
    let dist = crate::settings::Settings::dist_for_load();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut left = t.rows as usize;
    let mut sql = String::with_capacity(head.len() + LOAD_BATCH * 200);
    while left > 0 {
        let n = left.min(LOAD_BATCH);
        sql.clear();
        sql.push_str(&head);
        for r in 0..n {
            if r > 0 {
                sql.push(',');
            }
            sql.push('(');
            for (ci, (_, g)) in group.columns.iter().enumerate() {
                if ci > 0 {
                    sql.push(',');
                }
                sql.push_str(&g.value(&dist, &mut rng, &[]).as_sql(false));
            }
            sql.push(')');
        }
        exec(&mut conn, target, &sql).await?;
        left -= n;
    }
    for q in &t.after_load {
        if !quiet {
            eprintln!(
                "Running '{}' on '{}'...",
                crate::util::abbreviate(q, 160, 157),
                t.name
            );
        }
        exec(&mut conn, target, q).await?;
    }
    set_mark(&mut conn, target, &t.name, &mark(workload, t.rows)).await?;
    let _ = conn.disconnect().await;
    Ok(())
}

/// Writes `mark` as the comment of `table` (a metadata-only change: no rows are copied).
async fn set_mark(
    conn: &mut Conn,
    target: &Target,
    table: &str,
    mark: &str,
) -> Result<(), TargetError> {
    exec(
        conn,
        target,
        &format!("ALTER TABLE `{table}` COMMENT = '{mark}'"),
    )
    .await
}

/// What `cleanup` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CleanupReport {
    pub dropped: Vec<String>,
    /// Same-named tables that loadgate did not create: left alone.
    pub left_alone: Vec<String>,
}

/// Drop the workload's tables that loadgate created; leave everything else.
pub async fn cleanup(
    target: &Target,
    plan: &Plan,
    workload: &str,
    database: &str,
    timeout: Duration,
) -> Result<CleanupReport, Error> {
    let mut conn = target.connect(target.opts(None, 16), timeout).await?;
    let existing = list_tables(&mut conn, target, database).await?;
    let ours = plan.table_names();
    let mut report = CleanupReport {
        dropped: Vec::new(),
        left_alone: Vec::new(),
    };
    for t in existing.iter().filter(|t| ours.contains(&t.name)) {
        match &t.owner {
            Some(w) if w == workload || is_sysbench_family(w, workload) => {
                exec(
                    &mut conn,
                    target,
                    &format!("DROP TABLE `{database}`.`{}`", t.name),
                )
                .await?;
                report.dropped.push(t.name.clone());
            }
            _ => report.left_alone.push(t.name.clone()),
        }
    }
    Ok(report)
}

/// The four built-in OLTP workloads share one table layout, so tables prepared by any of them
/// belong to all of them (as in sysbench, where any oltp script runs on any prepared set).
pub fn is_sysbench_family(a: &str, b: &str) -> bool {
    const F: &[&str] = &[
        "oltp_read_write",
        "oltp_read_only",
        "oltp_write_only",
        "oltp_point_select",
    ];
    F.contains(&a) && F.contains(&b)
}

/// What a run may do with tables that exist but that loadgate did not create: a workload that
/// only reads ([`Plan::writing_statements`] is empty) may always read them; one that writes
/// needs `allow_writes` (`run --allow-writes-to-foreign-tables`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForeignTables {
    pub allow_writes: bool,
}

/// The tables a run would use, looked at: what is left to prepare (as in [`needs_prepare`]) and
/// which of them are not loadgate's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableCheck {
    pub missing: Option<String>,
    pub foreign: Vec<String>,
}

/// What `prepare` still has to do before the workload can run here: `None` when every table it
/// needs exists and is loadgate's holding the row count the run expects (where the mark records
/// it), or is a table loadgate did not create that [`ForeignTables`] lets it use; otherwise
/// what is missing or of another size, with the command that fixes it (`gate` prepares on
/// that). `prepare_as` is what names the workload in that command (a file workload's path). A
/// user's table that a writing workload would change is [`Error::Refused`].
pub async fn needs_prepare(
    conn: &mut Conn,
    target: &Target,
    plan: &Plan,
    prepare_as: &str,
    database: &str,
    policy: ForeignTables,
) -> Result<Option<String>, Error> {
    Ok(
        check_tables(conn, target, plan, prepare_as, database, policy)
            .await?
            .missing,
    )
}

/// [`needs_prepare`] with the foreign tables it let through.
pub async fn check_tables(
    conn: &mut Conn,
    target: &Target,
    plan: &Plan,
    prepare_as: &str,
    database: &str,
    policy: ForeignTables,
) -> Result<TableCheck, Error> {
    let existing = list_tables(conn, target, database).await?;
    let mut check = TableCheck::default();
    for want in plan.tables() {
        let (name, expected) = (&want.name, want.rows);
        match existing.iter().find(|t| &t.name == name) {
            None => {
                check.missing = Some(format!(
                    "table `{database}`.`{name}` does not exist on {}: run `loadgate prepare {prepare_as}` with the same --target and table settings first",
                    target.addr()
                ));
                return Ok(check);
            }
            Some(t) if t.owner.is_none() => {
                refuse_foreign_writes(plan, database, name, policy)?;
                check.foreign.push(name.clone());
            }
            Some(t) if !t.complete => {
                let rows = t.rows.unwrap_or(expected);
                check.missing = Some(format!(
                    "table `{database}`.`{name}` on {} is half-prepared: `loadgate prepare` stopped before its last row and index were in (it was loading {rows} rows), so its rows and indexes are not what a run expects: run `loadgate prepare {prepare_as} --table-size {rows}` with the same --target and table settings to reload it",
                    target.addr()
                ));
                return Ok(check);
            }
            Some(ExistingTable {
                rows: Some(rows), ..
            }) if *rows != expected => {
                check.missing = Some(format!(
                    "table `{database}`.`{name}` on {} was prepared with {rows} rows, but this run expects {expected} (--table-size, or the workload's row count): pass --table-size {rows}, or run `loadgate prepare {prepare_as} --table-size {expected}` to reload it",
                    target.addr()
                ));
                return Ok(check);
            }
            _ => {}
        }
    }
    Ok(check)
}

/// Refuses a workload that writes on `table`, which loadgate did not create, unless allowed.
fn refuse_foreign_writes(
    plan: &Plan,
    database: &str,
    table: &str,
    policy: ForeignTables,
) -> Result<(), Error> {
    let writers = plan.writing_statements();
    let Some((stmt, sql)) = writers.first().filter(|_| !policy.allow_writes) else {
        return Ok(());
    };
    Err(Error::Refused(format!(
        "table `{database}`.`{table}` was not created by loadgate, and this workload changes data: statement `{stmt}` (`{}`){}; refusing to run it there. A workload whose statements only read (SELECT, SHOW, EXPLAIN) may run on any tables; to let this one change data loadgate does not own, pass --allow-writes-to-foreign-tables, or use another database.",
        crate::util::abbreviate(sql, 120, 117),
        match writers.len() {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        }
    )))
}

/// The row count `prepare` recorded on every table the plan uses, when they all exist, are
/// loadgate's, are complete and record the same one.
pub async fn recorded_rows(
    conn: &mut Conn,
    target: &Target,
    plan: &Plan,
    database: &str,
) -> Result<Option<i64>, Error> {
    let existing = list_tables(conn, target, database).await?;
    let mut found = None;
    for want in plan.tables() {
        let rows = existing
            .iter()
            .find(|t| t.name == want.name && t.owner.is_some() && t.complete)
            .and_then(|t| t.rows);
        match (rows, found) {
            (None, _) => return Ok(None),
            (Some(r), Some(f)) if r != f => return Ok(None),
            (Some(r), _) => found = Some(r),
        }
    }
    Ok(found)
}

/// [`check_tables`] for a run: anything left to prepare is a usage error that says what to
/// do; otherwise the tables it will use that loadgate did not create.
pub async fn check_prepared(
    conn: &mut Conn,
    target: &Target,
    plan: &Plan,
    prepare_as: &str,
    database: &str,
    policy: ForeignTables,
) -> Result<Vec<String>, Error> {
    let check = check_tables(conn, target, plan, prepare_as, database, policy).await?;
    match check.missing {
        None => Ok(check.foreign),
        Some(what) => Err(Error::Usage(what)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(workload: &str, rows: Option<i64>, complete: bool) -> Mark {
        Mark {
            owner: Some(workload.to_string()),
            rows,
            complete,
        }
    }

    #[test]
    fn the_mark_round_trips_owner_and_rows() {
        assert_eq!(
            parse_mark(&mark("oltp_read_write", 10_000)),
            owned("oltp_read_write", Some(10_000), true)
        );
        // Marked before the row count was recorded.
        assert_eq!(
            parse_mark("loadgate:owned workload=bulk_sync"),
            owned("bulk_sync", None, true)
        );
        let user = Mark {
            owner: None,
            rows: None,
            complete: true,
        };
        assert_eq!(parse_mark("a user's table"), user);
        assert_eq!(parse_mark(""), user);
    }

    #[test]
    fn a_table_being_loaded_is_not_complete_until_its_final_mark() {
        assert_eq!(
            parse_mark(&loading_mark("oltp_read_write", 300_000)),
            owned("oltp_read_write", Some(300_000), false)
        );
        // The complete mark is the one written before the state existed: old tables stay
        // complete, and an older loadgate reads new complete tables as before.
        assert_eq!(
            mark("oltp_read_write", 300_000),
            "loadgate:owned workload=oltp_read_write rows=300000"
        );
    }
}
