//! Per-statement numbers from performance_schema, snapshotted before and after the load.
//!
//! loadgate sends its workload as server-side prepared statements, and neither MariaDB 10.11
//! nor MySQL 8 gives binary-protocol executions a row in `events_statements_summary_by_digest`
//! (MySQL bug #80173; MariaDB counts them only as `statement/com/Execute`). Their numbers live in
//! `prepared_statements_instances`, one row per connection and statement, which vanishes when
//! the connection closes — so the engine keeps its connections open until the monitor has taken
//! its last look (`engine::Hooks::before_close`). MariaDB fills that table only while the
//! `events_statements_current` consumer is on (MySQL's default, not MariaDB's). The engine
//! prepares `BEGIN` and `COMMIT` too (as sysbench does), so they come from the same table; the
//! text statements (`ROLLBACK`, and `BEGIN`/`COMMIT` from an executor that sends them as text)
//! come from the digest table, filtered by the run's schema. Column sets differ between servers
//! and versions, so the columns present are read from `information_schema.COLUMNS` and missing
//! ones come back as NULL.

use crate::record::StatementStat;
use std::collections::BTreeMap;

pub const PREPARED_TABLE: &str = "prepared_statements_instances";
pub const DIGEST_TABLE: &str = "events_statements_summary_by_digest";

/// The numbers of one row (a prepared statement on one connection, or one digest).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub text: String,
    pub digest: Option<String>,
    pub count: u64,
    /// Picoseconds.
    pub sum_ps: u64,
    pub max_ps: u64,
    pub lock_ps: Option<u64>,
    pub rows_examined: Option<u64>,
    pub rows_sent: Option<u64>,
    pub no_index_used: Option<u64>,
    pub tmp_disk_tables: Option<u64>,
    pub errors: Option<u64>,
}

/// Rows keyed by identity: `(thread, statement id)` or `(schema, digest)`.
pub type Snap = BTreeMap<(String, String), Row>;

/// Which table, and the columns it has on this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Prepared,
    Digest,
}

/// The value columns read, per source: (count, total time, max time) then the optional ones.
fn value_columns(src: Source) -> [&'static str; 10] {
    match src {
        Source::Prepared => [
            "COUNT_EXECUTE",
            "SUM_TIMER_EXECUTE",
            "MAX_TIMER_EXECUTE",
            "SUM_LOCK_TIME",
            "SUM_ROWS_EXAMINED",
            "SUM_ROWS_SENT",
            "SUM_NO_INDEX_USED",
            "SUM_CREATED_TMP_DISK_TABLES",
            "SUM_ERRORS",
            "SQL_TEXT",
        ],
        Source::Digest => [
            "COUNT_STAR",
            "SUM_TIMER_WAIT",
            "MAX_TIMER_WAIT",
            "SUM_LOCK_TIME",
            "SUM_ROWS_EXAMINED",
            "SUM_ROWS_SENT",
            "SUM_NO_INDEX_USED",
            "SUM_CREATED_TMP_DISK_TABLES",
            "SUM_ERRORS",
            "DIGEST_TEXT",
        ],
    }
}

fn key_columns(src: Source) -> [&'static str; 2] {
    match src {
        Source::Prepared => ["OWNER_THREAD_ID", "STATEMENT_ID"],
        Source::Digest => ["SCHEMA_NAME", "DIGEST"],
    }
}

/// The columns a query needs that this server lacks (empty: the source is usable).
pub fn missing_required(src: Source, available: &[String]) -> Vec<&'static str> {
    let has = |c: &str| available.iter().any(|a| a.eq_ignore_ascii_case(c));
    let v = value_columns(src);
    key_columns(src)
        .into_iter()
        .chain([v[0], v[1], v[9]])
        .filter(|c| !has(c))
        .collect()
}

/// `SELECT` for `src`, with NULL in place of optional columns this server does not have.
/// `database` restricts the digest table to the run's schema and its transaction-control
/// statements.
pub fn query(src: Source, available: &[String], database: Option<&str>) -> String {
    let has = |c: &str| available.iter().any(|a| a.eq_ignore_ascii_case(c));
    let cols: Vec<String> = key_columns(src)
        .into_iter()
        .chain(value_columns(src))
        .map(|c| {
            if has(c) {
                c.to_string()
            } else {
                format!("NULL AS {c}")
            }
        })
        .collect();
    let table = match src {
        Source::Prepared => PREPARED_TABLE,
        Source::Digest => DIGEST_TABLE,
    };
    let mut q = format!("SELECT {} FROM performance_schema.{table}", cols.join(", "));
    if src == Source::Digest {
        // The database name was checked as an identifier (letters, digits, `_`, `$`).
        let db = database.unwrap_or("").replace('\'', "");
        q.push_str(&format!(
            " WHERE SCHEMA_NAME = '{db}' AND TRIM(DIGEST_TEXT) IN ('BEGIN', 'COMMIT', 'ROLLBACK')"
        ));
    }
    q
}

/// One result row as text cells (NULL as `None`), in the order of [`query`].
pub fn parse_row(cells: &[Option<String>]) -> Option<((String, String), Row)> {
    let num = |i: usize| -> Option<u64> {
        let s = cells.get(i)?.as_deref()?.trim();
        s.parse::<u64>()
            .ok()
            .or_else(|| s.parse::<f64>().ok().map(|f| f.max(0.0) as u64))
    };
    let key = (
        cells.first()?.clone().unwrap_or_default(),
        cells.get(1)?.clone().unwrap_or_default(),
    );
    Some((
        key.clone(),
        Row {
            text: cells
                .get(11)?
                .clone()
                .unwrap_or_default()
                .trim()
                .to_string(),
            digest: None,
            count: num(2).unwrap_or(0),
            sum_ps: num(3).unwrap_or(0),
            max_ps: num(4).unwrap_or(0),
            lock_ps: num(5),
            rows_examined: num(6),
            rows_sent: num(7),
            no_index_used: num(8),
            tmp_disk_tables: num(9),
            errors: num(10),
        },
    ))
}

fn sub(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    a.map(|a| a.saturating_sub(b.unwrap_or(0)))
}

/// What changed from `before` to `after`: rows that appeared count whole; a row whose count
/// went down (reused identity) counts from zero. The max stays the later max (a maximum cannot
/// be differenced).
pub fn deltas(before: &Snap, after: &Snap) -> Vec<((String, String), Row)> {
    let mut out = Vec::new();
    for (k, a) in after {
        let d = match before.get(k) {
            Some(b) if a.count >= b.count => Row {
                text: a.text.clone(),
                digest: a.digest.clone(),
                count: a.count - b.count,
                sum_ps: a.sum_ps.saturating_sub(b.sum_ps),
                max_ps: a.max_ps,
                lock_ps: sub(a.lock_ps, b.lock_ps),
                rows_examined: sub(a.rows_examined, b.rows_examined),
                rows_sent: sub(a.rows_sent, b.rows_sent),
                no_index_used: sub(a.no_index_used, b.no_index_used),
                tmp_disk_tables: sub(a.tmp_disk_tables, b.tmp_disk_tables),
                errors: sub(a.errors, b.errors),
            },
            _ => a.clone(),
        };
        if d.count > 0 {
            out.push((k.clone(), d));
        }
    }
    out
}

fn add(a: &mut Option<u64>, b: Option<u64>) {
    if let Some(b) = b {
        *a = Some(a.unwrap_or(0) + b);
    }
}

/// True when `server_text` is `sql`, allowing for the server's truncation of long texts.
fn same_sql(server_text: &str, sql: &str) -> bool {
    let s = server_text.trim();
    s == sql.trim() || (s.len() >= 1000 && sql.trim().starts_with(s.trim_end_matches("...")))
}

/// Per-statement numbers for the run: the prepared statements whose text is one of the
/// workload's (`sql_names`: SQL text → statement name, every table of a family), summed over
/// connections and tables, in the workload's order; then `BEGIN`/`COMMIT`/`ROLLBACK`: from their
/// prepared statements when there are any, else from the digest table.
pub fn statement_stats(
    prepared: &[((String, String), Row)],
    digests: &[((String, String), Row)],
    sql_names: &[(String, String)],
) -> Vec<StatementStat> {
    let ps_to_ms = |ps: u64| ps as f64 / 1e9;
    let mut order: Vec<String> = Vec::new();
    let mut acc: BTreeMap<String, (String, Row)> = BTreeMap::new();
    for (sql, name) in sql_names {
        if !order.contains(name) {
            order.push(name.clone());
        }
        for (_, r) in prepared.iter().filter(|(_, r)| same_sql(&r.text, sql)) {
            let e = acc
                .entry(name.clone())
                .or_insert_with(|| (sql.clone(), Row::default()));
            e.1.count += r.count;
            e.1.sum_ps += r.sum_ps;
            e.1.max_ps = e.1.max_ps.max(r.max_ps);
            add(&mut e.1.lock_ps, r.lock_ps);
            add(&mut e.1.rows_examined, r.rows_examined);
            add(&mut e.1.rows_sent, r.rows_sent);
            add(&mut e.1.no_index_used, r.no_index_used);
            add(&mut e.1.tmp_disk_tables, r.tmp_disk_tables);
            add(&mut e.1.errors, r.errors);
        }
    }
    let stat = |name: &str, sql: &str, source: &str, r: &Row| StatementStat {
        name: name.to_string(),
        sql: sql.to_string(),
        source: source.to_string(),
        digest: r.digest.clone(),
        count: r.count,
        total_ms: ps_to_ms(r.sum_ps),
        avg_ms: if r.count > 0 {
            ps_to_ms(r.sum_ps) / r.count as f64
        } else {
            0.0
        },
        max_ms: ps_to_ms(r.max_ps),
        rows_examined: r.rows_examined,
        rows_sent: r.rows_sent,
        lock_ms: r.lock_ps.map(ps_to_ms),
        no_index_used: r.no_index_used,
        tmp_disk_tables: r.tmp_disk_tables,
        errors: r.errors,
    };
    let mut out: Vec<StatementStat> = order
        .iter()
        .filter_map(|n| acc.get(n).map(|(sql, r)| stat(n, sql, PREPARED_TABLE, r)))
        .collect();
    for name in ["BEGIN", "COMMIT", "ROLLBACK"] {
        let mut total = sum_named(prepared, name, false);
        let mut source = PREPARED_TABLE;
        if total.count == 0 {
            total = sum_named(digests, name, true);
            source = DIGEST_TABLE;
        }
        if total.count > 0 {
            out.push(stat(name, name, source, &total));
        }
    }
    out
}

/// The rows whose text is `name` (case aside), summed; with `digest`, the row's digest key is
/// kept as the digest.
fn sum_named(rows: &[((String, String), Row)], name: &str, digest: bool) -> Row {
    let mut total = Row::default();
    for (k, r) in rows
        .iter()
        .filter(|(_, r)| r.text.eq_ignore_ascii_case(name))
    {
        total.count += r.count;
        total.sum_ps += r.sum_ps;
        total.max_ps = total.max_ps.max(r.max_ps);
        add(&mut total.lock_ps, r.lock_ps);
        add(&mut total.rows_examined, r.rows_examined);
        add(&mut total.rows_sent, r.rows_sent);
        add(&mut total.no_index_used, r.no_index_used);
        add(&mut total.tmp_disk_tables, r.tmp_disk_tables);
        add(&mut total.errors, r.errors);
        if digest {
            total.digest = Some(k.1.clone());
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(v: &[&str]) -> Vec<Option<String>> {
        v.iter()
            .map(|s| (*s != "NULL").then(|| s.to_string()))
            .collect()
    }

    #[test]
    fn missing_columns_become_null_and_required_ones_are_named() {
        let mariadb: Vec<String> = [
            "OWNER_THREAD_ID",
            "STATEMENT_ID",
            "SQL_TEXT",
            "COUNT_EXECUTE",
            "SUM_TIMER_EXECUTE",
            "MAX_TIMER_EXECUTE",
            "SUM_ROWS_EXAMINED",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let q = query(Source::Prepared, &mariadb, None);
        assert!(q.contains("NULL AS SUM_LOCK_TIME"), "{q}");
        assert!(q.contains(", SUM_ROWS_EXAMINED,"), "{q}");
        assert!(missing_required(Source::Prepared, &mariadb).is_empty());
        assert_eq!(
            missing_required(Source::Digest, &mariadb),
            [
                "SCHEMA_NAME",
                "DIGEST",
                "COUNT_STAR",
                "SUM_TIMER_WAIT",
                "DIGEST_TEXT"
            ]
        );
        let q = query(Source::Digest, &[], Some("loadgate"));
        assert!(
            q.ends_with(
                "SCHEMA_NAME = 'loadgate' AND TRIM(DIGEST_TEXT) IN ('BEGIN', 'COMMIT', 'ROLLBACK')"
            ),
            "{q}"
        );
    }

    #[test]
    fn deltas_and_aggregation_by_statement() {
        let row = |thread: &str, id: &str, sql: &str, count: &str, sum: &str, max: &str| {
            parse_row(&cells(&[
                thread, id, count, sum, max, "NULL", "10", "5", "0", "NULL", "0", sql,
            ]))
            .unwrap()
        };
        let before: Snap = [row(
            "7",
            "1",
            "SELECT c FROM t1 WHERE id=?",
            "5",
            "5000",
            "2000",
        )]
        .into_iter()
        .collect();
        let after: Snap = [
            row(
                "7",
                "1",
                "SELECT c FROM t1 WHERE id=?",
                "15",
                "25000",
                "3000",
            ),
            row(
                "8",
                "1",
                "SELECT c FROM t2 WHERE id=?",
                "10",
                "10000",
                "4000",
            ),
            row("8", "2", "SELECT 1", "3", "100", "40"),
            row("9", "1", "UPDATE t1 SET k=k+1 WHERE id=?", "0", "0", "0"),
        ]
        .into_iter()
        .collect();
        let d = deltas(&before, &after);
        assert_eq!(d.len(), 3, "unchanged rows are left out");
        let names = vec![
            (
                "SELECT c FROM t1 WHERE id=?".to_string(),
                "point".to_string(),
            ),
            (
                "SELECT c FROM t2 WHERE id=?".to_string(),
                "point".to_string(),
            ),
            (
                "UPDATE t1 SET k=k+1 WHERE id=?".to_string(),
                "upd".to_string(),
            ),
        ];
        let mut d = d;
        d.push((
            ("9".to_string(), "3".to_string()),
            Row {
                text: "BEGIN".into(),
                count: 5,
                sum_ps: 5_000_000_000,
                ..Row::default()
            },
        ));
        let text_row = |text: &str, digest: &str, count: u64| {
            (
                ("loadgate".to_string(), digest.to_string()),
                Row {
                    text: text.into(),
                    count,
                    sum_ps: count * 2_000_000_000,
                    ..Row::default()
                },
            )
        };
        // BEGIN has prepared executions, so its digest row (another client's, say) is not
        // added to them; COMMIT has only its digest row.
        let dig = vec![text_row("COMMIT", "abc", 4), text_row("BEGIN", "def", 7)];
        let s = statement_stats(&d, &dig, &names);
        assert_eq!(s.len(), 3, "{s:#?}");
        let p = &s[0];
        assert_eq!((p.name.as_str(), p.count), ("point", 20));
        assert_eq!(p.sql, "SELECT c FROM t1 WHERE id=?");
        assert!((p.total_ms - 30000.0 / 1e9).abs() < 1e-15);
        assert!((p.max_ms - 4000.0 / 1e9).abs() < 1e-15);
        assert_eq!(p.rows_examined, Some(10), "10 new in t2, 10 − 10 on t1");
        assert_eq!(p.lock_ms, None, "a missing column stays missing");
        assert_eq!(p.source, PREPARED_TABLE);
        let b = &s[1];
        assert_eq!((b.name.as_str(), b.count, b.avg_ms), ("BEGIN", 5, 1.0));
        assert_eq!(
            (b.source.as_str(), b.digest.as_deref()),
            (PREPARED_TABLE, None)
        );
        let c = &s[2];
        assert_eq!((c.name.as_str(), c.count, c.avg_ms), ("COMMIT", 4, 2.0));
        assert_eq!(c.digest.as_deref(), Some("abc"));
        assert_eq!(c.source, DIGEST_TABLE);
    }
}
