//! A workload compiled against resolved settings: what the engine and `prepare` execute.
//!
//! Every name is resolved here, once: settings become constants, `let` values become slots,
//! `{table}` is expanded into one SQL text per concrete table. The hot path then only draws
//! random numbers and fills a parameter vector.

use super::{Gen, Kind, ParamDef, SettingValue, Workload, WorkloadError};
use crate::settings::Settings;
use crate::workload::expr::Term;
use crate::workload::{Dist, DistParams, Expr, Pattern};
use mysql_async::Value;
use rand::rngs::SmallRng;
use rand::Rng;

/// `constant + Σ sign·slot`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinExpr {
    pub constant: i64,
    pub slots: Vec<(i64, usize)>,
}

impl LinExpr {
    #[inline]
    pub fn eval(&self, slots: &[i64]) -> i64 {
        let mut v = self.constant;
        for &(s, i) in &self.slots {
            v += s * slots[i];
        }
        v
    }

    pub fn constant(&self) -> Option<i64> {
        self.slots.is_empty().then_some(self.constant)
    }
}

/// A compiled value generator.
#[derive(Debug, Clone)]
pub enum ValueGen {
    Int {
        dist: Dist,
        min: LinExpr,
        max: LinExpr,
    },
    Str(Pattern),
    Const(Value),
    Expr(LinExpr),
}

impl ValueGen {
    #[inline]
    pub fn int(&self, dp: &DistParams, rng: &mut SmallRng, slots: &[i64]) -> i64 {
        match self {
            ValueGen::Int { dist, min, max } => {
                dp.sample(*dist, rng, min.eval(slots), max.eval(slots))
            }
            ValueGen::Expr(e) => e.eval(slots),
            _ => 0,
        }
    }

    #[inline]
    pub fn value(&self, dp: &DistParams, rng: &mut SmallRng, slots: &[i64]) -> Value {
        match self {
            ValueGen::Int { .. } | ValueGen::Expr(_) => Value::Int(self.int(dp, rng, slots)),
            ValueGen::Str(p) => Value::Bytes(p.fill(rng)),
            ValueGen::Const(v) => v.clone(),
        }
    }

    /// [`ValueGen::value`] written over `out`, reusing its string buffer (no allocation per
    /// query once the buffer has grown).
    #[inline]
    pub fn value_into(&self, dp: &DistParams, rng: &mut SmallRng, slots: &[i64], out: &mut Value) {
        if let (ValueGen::Str(p), Value::Bytes(b)) = (self, &mut *out) {
            b.clear();
            p.fill_into(rng, b);
            return;
        }
        *out = self.value(dp, rng, slots);
    }
}

/// One statement call inside a step.
#[derive(Debug, Clone)]
pub struct StmtCall {
    /// Index into [`Plan::statements`] (per-statement statistics).
    pub stmt: usize,
    /// Index into [`Plan::sql`] of this statement on the group's first table; add the table
    /// index for the others.
    pub sql_base: usize,
    pub kind: Kind,
    pub params: Vec<ValueGen>,
}

/// A compiled step.
#[derive(Debug, Clone)]
pub struct StepPlan {
    pub group: usize,
    pub repeat: u32,
    pub lets: Vec<ValueGen>,
    pub calls: Vec<StmtCall>,
}

/// A compiled transaction type.
#[derive(Debug, Clone)]
pub struct TxnPlan {
    pub name: String,
    pub begin: bool,
    pub steps: Vec<StepPlan>,
    /// Queries per transaction by class (BEGIN/COMMIT count as other), for checks and docs.
    pub reads: u64,
    pub writes: u64,
    pub others: u64,
}

/// A statement name and class, for statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct StmtInfo {
    pub name: String,
    pub kind: Kind,
}

/// One concrete table of a group, ready for `prepare`.
#[derive(Debug, Clone)]
pub struct TablePlan {
    pub name: String,
    pub create: String,
    pub after_load: Vec<String>,
    pub rows: i64,
}

/// A table family (`sbtest{i}`) with its concrete tables and column generators.
#[derive(Debug, Clone)]
pub struct TableGroup {
    pub tables: Vec<TablePlan>,
    pub columns: Vec<(String, ValueGen)>,
}

/// A compiled workload.
#[derive(Debug, Clone)]
pub struct Plan {
    pub txns: Vec<TxnPlan>,
    /// Cumulative weights, for picking a transaction type.
    pub cum_weights: Vec<u32>,
    pub statements: Vec<StmtInfo>,
    pub groups: Vec<TableGroup>,
    /// Every SQL text the workers prepare, in [`StmtCall::sql_base`] order.
    pub sql: Vec<String>,
    pub dist: DistParams,
    /// Most `let` slots any step needs.
    pub max_slots: usize,
}

impl Plan {
    pub fn compile(w: &Workload, s: &Settings) -> Result<Plan, WorkloadError> {
        let setting = |n: &str| s.vars.get(n).copied();
        let settings_only = |e: &Expr| -> Result<i64, WorkloadError> {
            e.eval(&setting).map_err(|m| WorkloadError::Setting {
                key: e.text.clone(),
                message: m,
            })
        };
        let mut groups = Vec::new();
        for t in &w.tables {
            let count = settings_only(&t.count)?;
            let rows = settings_only(&t.rows)?;
            if rows < 0 {
                return Err(WorkloadError::Setting {
                    key: t.rows.text.clone(),
                    message: format!("row count of `{}` is negative ({rows})", t.name),
                });
            }
            let names = t.names(count);
            let tables = names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let expand = |sql: &str| {
                        sql.replace("{table}", n)
                            .replace("{i}", &(i + 1).to_string())
                    };
                    TablePlan {
                        name: n.clone(),
                        create: expand(&t.create),
                        after_load: t.after_load.iter().map(|q| expand(q)).collect(),
                        rows,
                    }
                })
                .collect();
            let mut columns = Vec::new();
            for c in &t.columns {
                columns.push((c.name.clone(), compile_gen(&c.gen, s, &[])?));
            }
            groups.push(TableGroup { tables, columns });
        }

        let mut statements: Vec<StmtInfo> = Vec::new();
        let mut sql = Vec::new();
        let mut txns = Vec::new();
        let mut cum = Vec::new();
        let mut total = 0u32;
        let mut max_slots = 0;
        for tx in &w.transactions {
            let mut steps = Vec::new();
            let (mut reads, mut writes, mut others) = (0u64, 0u64, if tx.begin { 2u64 } else { 0 });
            for st in &tx.steps {
                let repeat = settings_only(&st.repeat)?;
                if repeat < 0 {
                    return Err(WorkloadError::Setting {
                        key: st.repeat.text.clone(),
                        message: format!("repeat count is negative ({repeat})"),
                    });
                }
                let let_names: Vec<&str> = st.lets.iter().map(|(n, _)| n.as_str()).collect();
                max_slots = max_slots.max(let_names.len());
                let mut lets = Vec::new();
                for (_, g) in &st.lets {
                    lets.push(compile_gen(g, s, &[])?);
                }
                let group = &groups[st.table];
                let mut calls = Vec::new();
                for stmt in &st.statements {
                    let idx = match statements.iter().position(|i| i.name == stmt.name) {
                        Some(i) => i,
                        None => {
                            statements.push(StmtInfo {
                                name: stmt.name.clone(),
                                kind: stmt.kind,
                            });
                            statements.len() - 1
                        }
                    };
                    let sql_base = sql.len();
                    for (ti, t) in group.tables.iter().enumerate() {
                        sql.push(
                            stmt.sql
                                .replace("{table}", &t.name)
                                .replace("{i}", &(ti + 1).to_string()),
                        );
                    }
                    let mut params = Vec::new();
                    for p in &stmt.params {
                        params.push(match p {
                            ParamDef::Gen(g) => compile_gen(g, s, &let_names)?,
                            ParamDef::Expr(e) => ValueGen::Expr(lin(e, s, &let_names)?),
                        });
                    }
                    let n = repeat as u64;
                    match stmt.kind {
                        Kind::Read => reads += n,
                        Kind::Write => writes += n,
                        Kind::Other => others += n,
                    }
                    calls.push(StmtCall {
                        stmt: idx,
                        sql_base,
                        kind: stmt.kind,
                        params,
                    });
                }
                steps.push(StepPlan {
                    group: st.table,
                    repeat: repeat as u32,
                    lets,
                    calls,
                });
            }
            total += tx.weight;
            cum.push(total);
            txns.push(TxnPlan {
                name: tx.name.clone(),
                begin: tx.begin,
                steps,
                reads,
                writes,
                others,
            });
        }
        Ok(Plan {
            txns,
            cum_weights: cum,
            statements,
            groups,
            sql,
            dist: s.dist_params(),
            max_slots,
        })
    }

    /// Pick a transaction type by weight.
    #[inline]
    pub fn pick_txn(&self, rng: &mut SmallRng) -> usize {
        if self.cum_weights.len() == 1 {
            return 0;
        }
        let total = *self.cum_weights.last().unwrap_or(&1);
        let r = rng.gen_range(0..total);
        self.cum_weights.partition_point(|&c| c <= r)
    }

    /// Pick a table of a group, uniformly (as sysbench's `get_table_num`).
    #[inline]
    pub fn pick_table(&self, group: usize, rng: &mut SmallRng) -> usize {
        let n = self.groups[group].tables.len();
        if n <= 1 {
            0
        } else {
            rng.gen_range(0..n)
        }
    }

    /// Every table the workload owns.
    pub fn tables(&self) -> impl Iterator<Item = &TablePlan> {
        self.groups.iter().flat_map(|g| &g.tables)
    }

    /// Names of every table the workload owns.
    pub fn table_names(&self) -> Vec<String> {
        self.tables().map(|t| t.name.clone()).collect()
    }
}

impl Plan {
    /// The statements that may change data or lock rows, as `(name, SQL on the first table)`,
    /// each once, in workload order: empty for a workload that only reads ([`only_reads`]).
    pub fn writing_statements(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        for call in self
            .txns
            .iter()
            .flat_map(|t| &t.steps)
            .flat_map(|s| &s.calls)
        {
            let (name, sql) = (
                self.statements[call.stmt].name.as_str(),
                self.sql[call.sql_base].as_str(),
            );
            if !only_reads(sql) && !out.iter().any(|(n, _)| *n == name) {
                out.push((name, sql));
            }
        }
        out
    }
}

/// Statement openings that only read.
const READ_OPENINGS: &[&str] = &["SELECT", "SHOW", "EXPLAIN", "DESCRIBE", "DESC", "WITH"];

/// Words that make a statement change data, lock rows or write a file, wherever they appear:
/// `FOR UPDATE`, `LOCK IN SHARE MODE`, `FOR SHARE`, `SELECT ... INTO`, a `WITH` before an
/// `UPDATE`/`DELETE`, `EXPLAIN ANALYZE`/`ANALYZE` (which execute the statement), a `CALL`.
const WRITE_WORDS: &[&str] = &[
    "INSERT", "UPDATE", "DELETE", "REPLACE", "INTO", "LOCK", "SHARE", "CREATE", "DROP", "ALTER",
    "TRUNCATE", "RENAME", "GRANT", "REVOKE", "CALL", "LOAD", "HANDLER", "ANALYZE", "SET",
];

/// Whether `sql` only reads: it opens with SELECT, SHOW, EXPLAIN, DESCRIBE or WITH, holds none
/// of [`WRITE_WORDS`] outside quotes and comments (so a locking read does not count as a read),
/// and is one statement. Decided from the text alone, never from a declared `kind`; a stored
/// function called by a SELECT is out of its sight (docs/safety.md says so).
pub fn only_reads(sql: &str) -> bool {
    let (words, statements) = sql_words(sql);
    statements <= 1
        && words
            .first()
            .is_some_and(|w| READ_OPENINGS.contains(&w.as_str()))
        && !words.iter().any(|w| WRITE_WORDS.contains(&w.as_str()))
}

/// The upper-cased words of `sql` outside string literals, quoted identifiers and comments, and
/// how many statements it holds (a `;` with text after it starts another).
fn sql_words(sql: &str) -> (Vec<String>, usize) {
    let b = sql.as_bytes();
    let (mut words, mut i, mut statements, mut after_semicolon) = (Vec::new(), 0, 1, false);
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' | b'"' | b'`' => {
                i += 1;
                while i < b.len() && b[i] != c {
                    i += if b[i] == b'\\' && c != b'`' { 2 } else { 1 };
                }
                i += 1;
            }
            b'#' => i = find_from(b, i, b"\n"),
            // `--` starts a comment only before whitespace (`1--1` is arithmetic).
            b'-' if b.get(i + 1) == Some(&b'-')
                && b.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) =>
            {
                i = find_from(b, i, b"\n")
            }
            b'/' if b.get(i + 1) == Some(&b'*') => i = find_from(b, i + 2, b"*/") + 2,
            b';' => {
                after_semicolon = true;
                i += 1;
                continue;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$')
                {
                    i += 1;
                }
                words.push(sql[start..i].to_ascii_uppercase());
            }
            _ => i += 1,
        }
        if after_semicolon && !c.is_ascii_whitespace() {
            statements += 1;
            after_semicolon = false;
        }
    }
    (words, statements)
}

/// The index of `pat` in `b` from `from` on, or the end.
fn find_from(b: &[u8], from: usize, pat: &[u8]) -> usize {
    (from..b.len())
        .find(|&j| b[j..].starts_with(pat))
        .unwrap_or(b.len())
}

fn lin(e: &Expr, s: &Settings, lets: &[&str]) -> Result<LinExpr, WorkloadError> {
    let mut out = LinExpr {
        constant: 0,
        slots: Vec::new(),
    };
    for (sign, t) in &e.terms {
        match t {
            Term::Int(i) => out.constant += sign * i,
            Term::Name(n) => {
                if let Some(pos) = lets.iter().position(|l| l == n) {
                    out.slots.push((*sign, pos));
                } else if let Some(v) = s.vars.get(n) {
                    out.constant += sign * v;
                } else {
                    return Err(WorkloadError::Setting {
                        key: n.clone(),
                        message: format!("`{}` uses `{n}`, which has no integer value", e.text),
                    });
                }
            }
        }
    }
    Ok(out)
}

fn compile_gen(g: &Gen, s: &Settings, lets: &[&str]) -> Result<ValueGen, WorkloadError> {
    Ok(match g {
        Gen::Int { dist, min, max } => ValueGen::Int {
            dist: dist.unwrap_or(s.rand_type),
            min: lin(min, s, lets)?,
            max: lin(max, s, lets)?,
        },
        Gen::Str(p) => ValueGen::Str(Pattern::new(p)),
        Gen::Const(v) => ValueGen::Const(match v {
            SettingValue::Int(i) => Value::Int(*i),
            SettingValue::Float(f) => Value::Double(*f),
            SettingValue::Str(s) => Value::Bytes(s.clone().into_bytes()),
            SettingValue::Bool(b) => Value::Int(*b as i64),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload;

    fn plan(name: &str, sets: &[(&str, &str)]) -> Plan {
        let w = workload::load(name).unwrap();
        let sets: Vec<(String, String)> = sets
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let s = Settings::resolve(&w, &sets, &[]).unwrap();
        Plan::compile(&w, &s).unwrap()
    }

    #[test]
    fn only_reads_is_decided_from_the_text() {
        for sql in [
            "SELECT c FROM t WHERE id=?",
            "  select sum(k) from t -- for update\n",
            "SELECT 'for update; delete' FROM t /* UPDATE */",
            "SHOW TABLES",
            "EXPLAIN SELECT 1",
            "WITH x AS (SELECT 1) SELECT * FROM x;",
            "SELECT `update` FROM t",
        ] {
            assert!(only_reads(sql), "{sql}");
        }
        for sql in [
            "UPDATE t SET k=k+1 WHERE id=?",
            "SELECT c FROM t WHERE id=? FOR UPDATE",
            "SELECT c FROM t LOCK IN SHARE MODE",
            "SELECT c FROM t FOR SHARE",
            "SELECT c INTO @x FROM t",
            "SELECT 1; DELETE FROM t",
            "WITH x AS (SELECT 1) DELETE FROM t",
            "EXPLAIN ANALYZE SELECT 1",
            "SELECT 1--1 FOR UPDATE",
            "CALL p()",
            "SET @a = 1",
            "BEGIN",
            "",
        ] {
            assert!(!only_reads(sql), "{sql}");
        }
    }

    #[test]
    fn writing_statements_name_each_writer_once() {
        assert!(plan("oltp_point_select", &[])
            .writing_statements()
            .is_empty());
        assert!(plan("oltp_read_only", &[]).writing_statements().is_empty());
        let p = plan("oltp_read_write", &[]);
        let names: Vec<&str> = p.writing_statements().iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(p.writing_statements()[0].1.starts_with("UPDATE"));
    }

    #[test]
    fn read_write_counts_like_sysbench() {
        let p = plan("oltp_read_write", &[]);
        let t = &p.txns[0];
        assert_eq!((t.reads, t.writes, t.others), (14, 4, 2));
        let p = plan("oltp_read_only", &[]);
        assert_eq!(
            (p.txns[0].reads, p.txns[0].writes, p.txns[0].others),
            (14, 0, 2)
        );
        let p = plan("oltp_write_only", &[]);
        assert_eq!(
            (p.txns[0].reads, p.txns[0].writes, p.txns[0].others),
            (0, 4, 2)
        );
        let p = plan("oltp_point_select", &[]);
        assert_eq!(
            (p.txns[0].reads, p.txns[0].writes, p.txns[0].others),
            (1, 0, 0)
        );
    }

    #[test]
    fn tables_expand() {
        let p = plan("oltp_read_write", &[("tables", "3")]);
        assert_eq!(p.table_names(), ["sbtest1", "sbtest2", "sbtest3"]);
        assert_eq!(
            p.groups[0].tables[2].after_load,
            ["CREATE INDEX k_3 ON sbtest3(k)"]
        );
        // 9 statements x 3 tables.
        assert_eq!(p.sql.len(), 27);
        assert_eq!(p.sql[1], "SELECT c FROM sbtest2 WHERE id=?");
    }

    #[test]
    fn range_params_follow_the_let_value() {
        use rand::SeedableRng;
        let p = plan("oltp_read_write", &[("range_size", "100")]);
        let step = &p.txns[0].steps[1];
        let mut rng = SmallRng::seed_from_u64(3);
        let slots = [step.lets[0].int(&p.dist, &mut rng, &[])];
        let a = step.calls[0].params[0].int(&p.dist, &mut rng, &slots);
        let b = step.calls[0].params[1].int(&p.dist, &mut rng, &slots);
        assert_eq!(b - a, 99);
    }
}
