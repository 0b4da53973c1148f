//! `EXPLAIN FORMAT=JSON` of a probe, the per-table facts that matter (access type, key, rows
//! examined), and the check against what the workload expects.
//!
//! The JSON differs between servers (MariaDB nests tables under `nested_loop`, `filesort`,
//! `read_sorted_file`, `block-nl-join`...; MySQL 8 says `rows_examined_per_scan` where MariaDB
//! says `rows`), so the walk is generic: every object with a `table_name` is a table access.
//! The probe is explained with one drawn set of parameters written in as literals.

use super::spec::{Expect, Probe};
use crate::bulk::gen::{self, Cell};
use crate::target::{Target, TargetError};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One table access in a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanTable {
    /// As EXPLAIN names it: the alias if the query gives one.
    pub table: String,
    pub access_type: String,
    pub key: Option<String>,
    /// Rows the server expects to examine per scan.
    pub rows: Option<u64>,
    pub filtered: Option<f64>,
}

/// A probe's EXPLAIN and its verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeCheck {
    pub probe: String,
    /// The statement explained (parameters written in).
    pub sql: String,
    pub tables: Vec<PlanTable>,
    /// Empty when every expectation holds.
    pub problems: Vec<String>,
    pub ok: bool,
    /// The server's EXPLAIN FORMAT=JSON output, whole.
    pub explain: Value,
}

/// Every table access in an EXPLAIN FORMAT=JSON document, in document order.
pub fn plan_tables(doc: &Value) -> Vec<PlanTable> {
    fn walk(v: &Value, out: &mut Vec<PlanTable>) {
        match v {
            Value::Object(m) => {
                if let Some(name) = m.get("table_name").and_then(Value::as_str) {
                    let rows = m
                        .get("rows")
                        .or_else(|| m.get("rows_examined_per_scan"))
                        .and_then(|r| r.as_u64().or_else(|| r.as_f64().map(|f| f as u64)));
                    out.push(PlanTable {
                        table: name.to_string(),
                        access_type: m
                            .get("access_type")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        key: m.get("key").and_then(Value::as_str).map(str::to_string),
                        rows,
                        filtered: m.get("filtered").and_then(|f| {
                            f.as_f64()
                                .or_else(|| f.as_str().and_then(|s| s.parse().ok()))
                        }),
                    });
                }
                for (_, child) in m {
                    walk(child, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(doc, &mut out);
    out
}

/// What is wrong with a plan, given what the probe expects after the change.
pub fn problems(expect: &[Expect], tables: &[PlanTable]) -> Vec<String> {
    let mut out = Vec::new();
    for e in expect {
        let Some(t) = tables.iter().find(|t| t.table == e.table) else {
            out.push(format!(
                "table `{}` does not appear in the plan (tables: {})",
                e.table,
                tables
                    .iter()
                    .map(|t| t.table.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            continue;
        };
        let seen = format!(
            "access {}, key {}, rows {}",
            t.access_type,
            t.key.as_deref().unwrap_or("none"),
            t.rows.map_or("?".to_string(), |r| r.to_string())
        );
        if t.key.as_deref() != Some(e.key.as_str()) {
            out.push(format!(
                "`{}` does not use index `{}` ({seen})",
                e.table, e.key
            ));
            continue;
        }
        let access_ok = if e.access.is_empty() {
            t.access_type != "ALL"
        } else {
            e.access
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&t.access_type))
        };
        if !access_ok {
            out.push(format!(
                "`{}` uses `{}` but with access type {} (expected {}; {seen})",
                e.table,
                e.key,
                t.access_type,
                if e.access.is_empty() {
                    "anything but ALL".to_string()
                } else {
                    e.access.join(" or ")
                }
            ));
        }
        if let (Some(max), Some(rows)) = (e.max_rows, t.rows) {
            if rows > max {
                out.push(format!(
                    "`{}` examines about {rows} rows, more than max_rows = {max} ({seen})",
                    e.table
                ));
            }
        }
    }
    out
}

/// `sql` with each `?` replaced by a literal, in order.
pub fn with_literals(sql: &str, params: &[Cell]) -> String {
    let mut out = String::with_capacity(sql.len() + 32);
    let mut it = params.iter();
    for ch in sql.chars() {
        if ch == '?' {
            let mut lit = Vec::new();
            gen::push_sql_literal(&mut lit, it.next().unwrap_or(&None));
            out.push_str(&String::from_utf8_lossy(&lit));
        } else {
            out.push(ch);
        }
    }
    out
}

/// EXPLAIN `probe` with `params` on `conn` and check it against the probe's expectations.
pub async fn check_probe(
    conn: &mut Conn,
    target: &Target,
    probe: &Probe,
    params: &[Cell],
) -> Result<ProbeCheck, TargetError> {
    let sql = with_literals(&probe.sql, params);
    let q = format!("EXPLAIN FORMAT=JSON {sql}");
    let text: Option<String> = conn
        .query_first(q.as_str())
        .await
        .map_err(|e| target.classify(e, Some(&q)))?;
    let explain: Value = text
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null);
    let tables = plan_tables(&explain);
    let problems = problems(&probe.expect, &tables);
    Ok(ProbeCheck {
        probe: probe.name.clone(),
        sql,
        ok: problems.is_empty(),
        tables,
        problems,
        explain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect(table: &str, key: &str, access: &[&str]) -> Expect {
        Expect {
            table: table.into(),
            key: key.into(),
            access: access.iter().map(|s| s.to_string()).collect(),
            max_rows: None,
        }
    }

    #[test]
    fn finds_tables_in_mariadb_and_mysql_plans() {
        let mariadb = serde_json::json!({"query_block": {"select_id": 1,
            "read_sorted_file": {"filesort": {"sort_key": "o.create_time",
              "table": {"table_name": "o", "access_type": "ref", "key": "idx_u",
                        "rows": 14, "filtered": 100}}}}});
        let t = plan_tables(&mariadb);
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].table.as_str(), t[0].key.as_deref(), t[0].rows),
            ("o", Some("idx_u"), Some(14))
        );
        let mysql = serde_json::json!({"query_block": {"nested_loop": [
            {"table": {"table_name": "u", "access_type": "range", "key": "idx_t", "rows_examined_per_scan": 35, "filtered": "100.00"}},
            {"table": {"table_name": "o", "access_type": "ALL", "rows_examined_per_scan": 300000}}]}});
        let t = plan_tables(&mysql);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].filtered, Some(100.0));
        assert_eq!(t[1].key, None);
        let p = problems(
            &[expect("u", "idx_t", &["range"]), expect("o", "idx_u", &[])],
            &t,
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].contains("`o` does not use index `idx_u` (access ALL, key none, rows 300000)"),
            "{p:?}"
        );
        let p = problems(&[expect("u", "idx_t", &["ref"])], &t);
        assert!(p[0].contains("access type range"), "{p:?}");
    }

    #[test]
    fn literals_replace_placeholders_in_order() {
        let s = with_literals(
            "SELECT 1 WHERE a = ? AND b > ?",
            &[Some(b"7".to_vec()), Some(b"it's".to_vec())],
        );
        assert_eq!(s, "SELECT 1 WHERE a = '7' AND b > 'it\\'s'");
    }
}
