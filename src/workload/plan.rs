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

/// The most times a step may repeat in one transaction.
pub const MAX_REPEAT: i64 = 100_000;

impl Plan {
    /// Compiles `w` against `s`. Every number it computes is range-checked here, before any
    /// work, and an error names where in the file the offending value is written.
    pub fn compile(w: &Workload, s: &Settings) -> Result<Plan, WorkloadError> {
        let settings_only = |e: &Expr| -> Result<i64, WorkloadError> {
            e.eval(&|n: &str| s.vars.get(n).copied())
                .map_err(|m| w.error_at(e.at, format!("{m}{}", from_elsewhere(e, s))))
        };
        let mut groups = Vec::new();
        for t in &w.tables {
            groups.push(compile_table(w, t, s, &settings_only)?);
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
                if !(0..=MAX_REPEAT).contains(&repeat) {
                    return Err(w.error_at(
                        st.repeat.at,
                        format!(
                            "`repeat = {}` is {repeat}{}; a step repeats 0–{MAX_REPEAT} times",
                            st.repeat.text,
                            from_elsewhere(&st.repeat, s)
                        ),
                    ));
                }
                let let_names: Vec<&str> = st.lets.iter().map(|(n, _)| n.as_str()).collect();
                max_slots = max_slots.max(let_names.len());
                let mut lets = Vec::new();
                for (_, g) in &st.lets {
                    lets.push(compile_gen(w, g, s, &Slots::default())?);
                }
                let slots = Slots::of(&let_names, &lets);
                let group = &groups[st.table];
                let mut calls = Vec::new();
                for stmt in &st.statements {
                    statements.push(StmtInfo {
                        name: stmt.name.clone(),
                        kind: stmt.kind,
                    });
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
                            ParamDef::Gen(g) => compile_gen(w, g, s, &slots)?,
                            ParamDef::Expr(e) => ValueGen::Expr(lin(w, e, s, &slots)?),
                        });
                    }
                    let n = repeat as u64;
                    match stmt.kind {
                        Kind::Read => reads += n,
                        Kind::Write => writes += n,
                        Kind::Other => others += n,
                    }
                    calls.push(StmtCall {
                        stmt: statements.len() - 1,
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
            total = total.checked_add(tx.weight).ok_or_else(|| {
                w.error_at(
                    None,
                    format!("the transactions' weights add up to more than {}", u32::MAX),
                )
            })?;
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

/// Why two plans cannot run side by side in one trial ([`Plan::side_by_side`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SideBySideError {
    #[error("A and B use different tables ({0}); the same-seconds design runs both sides on one set of prepared tables")]
    Tables(String),
    #[error("A and B set different distribution parameters (rand_spec_*, rand_pareto_h, rand_zipfian_exp); both sides share one run's")]
    Distributions,
    #[error("the transactions' weights of A and B together exceed {}", u32::MAX)]
    Weights,
}

/// The weight of each transaction type, from the cumulative weights.
fn weights(cum: &[u32]) -> Vec<u64> {
    let mut prev = 0u64;
    cum.iter()
        .map(|&c| {
            let w = c as u64 - prev;
            prev = c as u64;
            w
        })
        .collect()
}

/// The tables of a plan as (name, DDL, after-load statements, rows), for comparing two plans.
fn table_shape(p: &Plan) -> Vec<(&str, &str, &[String], i64)> {
    p.tables()
        .map(|t| {
            (
                t.name.as_str(),
                t.create.as_str(),
                &t.after_load[..],
                t.rows,
            )
        })
        .collect()
}

impl Plan {
    /// One plan that runs `a`'s and `b`'s transactions on the same connections: every
    /// transaction type and statement is renamed `A:<name>` / `B:<name>` (`tags`), every SQL
    /// text ends with a comment `/* loadgate:<tag> */` naming its side, and the weights are
    /// scaled so that each transaction goes to either side with probability one half (and
    /// within a side by that side's own weights). Both plans must have the same tables and
    /// distributions; the tables are `a`'s.
    pub fn side_by_side(a: &Plan, b: &Plan, tags: [&str; 2]) -> Result<Plan, SideBySideError> {
        let (ta, tb) = (table_shape(a), table_shape(b));
        if ta != tb {
            let names = |t: &[(&str, &str, &[String], i64)]| {
                t.iter()
                    .map(|x| format!("{} ({} rows)", x.0, x.3))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let detail = if names(&ta) == names(&tb) {
                format!("{}: their definitions differ", names(&ta))
            } else {
                format!("{} vs {}", names(&ta), names(&tb))
            };
            return Err(SideBySideError::Tables(detail));
        }
        if a.dist != b.dist {
            return Err(SideBySideError::Distributions);
        }
        let (wa, wb) = (weights(&a.cum_weights), weights(&b.cum_weights));
        let (tot_a, tot_b) = (wa.iter().sum::<u64>(), wb.iter().sum::<u64>());
        let mut cum = Vec::new();
        let mut total = 0u64;
        for w in wa
            .iter()
            .map(|w| w * tot_b)
            .chain(wb.iter().map(|w| w * tot_a))
        {
            total += w;
            cum.push(u32::try_from(total).map_err(|_| SideBySideError::Weights)?);
        }
        let mut out = Plan {
            txns: Vec::new(),
            cum_weights: cum,
            statements: Vec::new(),
            groups: a.groups.clone(),
            sql: Vec::new(),
            dist: a.dist,
            max_slots: a.max_slots.max(b.max_slots),
        };
        for (p, tag) in [(a, tags[0]), (b, tags[1])] {
            let (stmt0, sql0) = (out.statements.len(), out.sql.len());
            out.statements
                .extend(p.statements.iter().map(|st| StmtInfo {
                    name: format!("{tag}:{}", st.name),
                    kind: st.kind,
                }));
            out.sql
                .extend(p.sql.iter().map(|q| format!("{q} /* loadgate:{tag} */")));
            for t in &p.txns {
                let mut t = t.clone();
                t.name = format!("{tag}:{}", t.name);
                for call in t.steps.iter_mut().flat_map(|s| s.calls.iter_mut()) {
                    call.stmt += stmt0;
                    call.sql_base += sql0;
                }
                out.txns.push(t);
            }
        }
        Ok(out)
    }

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

/// The settings `e` names that did not come from the workload file, with where they did come
/// from: ` (point_selects = 99 from --set)`, so that an error pointing at the file's expression
/// also says which value made it wrong.
fn from_elsewhere(e: &Expr, s: &Settings) -> String {
    use crate::settings::{origin_name, Origin};
    let parts: Vec<String> = e
        .names()
        .filter_map(|n| match (s.origins.get(n), s.vars.get(n)) {
            (Some(o), Some(v)) if *o != Origin::Workload => {
                Some(format!("{n} = {v} from {}", origin_name(*o)))
            }
            _ => None,
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// One table entry compiled: its concrete tables (1–[`crate::settings::MAX_TABLES`]) with
/// their row count (0–10^18) and column generators.
fn compile_table(
    w: &Workload,
    t: &super::TableDef,
    s: &Settings,
    settings_only: &dyn Fn(&Expr) -> Result<i64, WorkloadError>,
) -> Result<TableGroup, WorkloadError> {
    let max_tables = crate::settings::MAX_TABLES;
    let count = settings_only(&t.count)?;
    if !(1..=max_tables).contains(&count) {
        return Err(w.error_at(
            t.count.at,
            format!(
                "`count = {}` is {count}{}; a table family has 1–{max_tables} tables",
                t.count.text,
                from_elsewhere(&t.count, s)
            ),
        ));
    }
    let rows = settings_only(&t.rows)?;
    if rows < 0 {
        return Err(w.error_at(
            t.rows.at,
            format!("row count of `{}` is negative ({rows})", t.name),
        ));
    }
    let tables = t
        .names(count)
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
        columns.push((
            c.name.clone(),
            compile_gen(w, &c.gen, s, &Slots::default())?,
        ));
    }
    Ok(TableGroup { tables, columns })
}

/// A step's `let` values: their names and the range each can take, so that expressions over
/// them are range-checked before the run.
#[derive(Default)]
struct Slots<'a> {
    names: Vec<&'a str>,
    ranges: Vec<(i64, i64)>,
}

impl<'a> Slots<'a> {
    fn of(names: &[&'a str], lets: &[ValueGen]) -> Slots<'a> {
        let range = |g: &ValueGen| match g {
            ValueGen::Int { min, max, .. } => {
                let lo = min.constant.min(max.constant);
                (lo, max.constant.max(lo))
            }
            _ => (0, 0),
        };
        Slots {
            names: names.to_vec(),
            ranges: lets.iter().map(range).collect(),
        }
    }
}

/// `e` compiled: settings folded into the constant, `let` names into slots. The constant and
/// every value the expression can take stay within ±10^18 ([`super::expr::LIMIT`]).
fn lin(w: &Workload, e: &Expr, s: &Settings, slots: &Slots) -> Result<LinExpr, WorkloadError> {
    use super::expr::{within_limit, LIMIT};
    let mut out = LinExpr {
        constant: 0,
        slots: Vec::new(),
    };
    let (mut constant, mut lo, mut hi) = (0i128, 0i128, 0i128);
    for (sign, t) in &e.terms {
        let v = match t {
            Term::Int(i) => *i,
            Term::Name(n) => {
                if let Some(pos) = slots.names.iter().position(|l| l == n) {
                    out.slots.push((*sign, pos));
                    let (a, b) = slots.ranges[pos];
                    let (a, b) = (*sign as i128 * a as i128, *sign as i128 * b as i128);
                    lo += a.min(b);
                    hi += a.max(b);
                    continue;
                }
                match s.vars.get(n) {
                    Some(v) => *v,
                    None => {
                        return Err(w.error_at(
                            e.at,
                            format!("`{}` uses `{n}`, which has no integer value", e.text),
                        ))
                    }
                }
            }
        };
        let v = within_limit(v, t)
            .map_err(|m| w.error_at(e.at, format!("`{}`: {m}{}", e.text, from_elsewhere(e, s))))?;
        constant += *sign as i128 * v as i128;
    }
    let limit = LIMIT as i128;
    if constant.abs() > limit || (constant + lo).abs() > limit || (constant + hi).abs() > limit {
        return Err(w.error_at(
            e.at,
            format!(
                "`{}` can reach {}{}, out of range: a workload's numbers lie within ±10^18",
                e.text,
                from_elsewhere(e, s),
                if (constant + lo).abs() > (constant + hi).abs() {
                    constant + lo
                } else {
                    constant + hi
                }
            ),
        ));
    }
    out.constant = constant as i64;
    Ok(out)
}

fn compile_gen(
    w: &Workload,
    g: &Gen,
    s: &Settings,
    slots: &Slots,
) -> Result<ValueGen, WorkloadError> {
    Ok(match g {
        Gen::Int { dist, min, max } => {
            let (lo, hi) = (lin(w, min, s, slots)?, lin(w, max, s, slots)?);
            if let (Some(a), Some(b)) = (lo.constant(), hi.constant()) {
                if a > b {
                    return Err(w.error_at(
                        min.at,
                        format!(
                            "`min = {}` ({a}) is greater than `max = {}` ({b}){}",
                            min.text,
                            max.text,
                            from_elsewhere(max, s)
                        ),
                    ));
                }
            }
            ValueGen::Int {
                dist: dist.unwrap_or(s.rand_type),
                min: lo,
                max: hi,
            }
        }
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
    fn side_by_side_tags_each_side_and_splits_the_weights_in_half() {
        let a = plan("oltp_read_write", &[]);
        let b = plan("oltp_read_write", &[("point_selects", "14")]);
        let ab = Plan::side_by_side(&a, &b, ["A", "B"]).unwrap();
        let names: Vec<&str> = ab.txns.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["A:read_write", "B:read_write"]);
        assert_eq!(ab.cum_weights, [1, 2]);
        assert_eq!(ab.sql.len(), a.sql.len() + b.sql.len());
        // Every call of B points at B's statements and SQL, tagged as B's.
        let b_calls: Vec<&StmtCall> = ab.txns[1].steps.iter().flat_map(|s| &s.calls).collect();
        assert!(b_calls
            .iter()
            .all(|c| ab.statements[c.stmt].name.starts_with("B:")
                && ab.sql[c.sql_base].ends_with("/* loadgate:B */")));
        let point = ab.txns[1]
            .steps
            .iter()
            .find(|s| ab.statements[s.calls[0].stmt].name == "B:point_select");
        assert_eq!(point.unwrap().repeat, 14);
        assert_eq!(ab.txns[0].reads + 4, ab.txns[1].reads);

        // Two types weighted 3 and 5 against one: A's weights are scaled by B's total (1) and
        // B's by A's (8), so each side gets half the transactions.
        let mut multi = a.clone();
        multi.txns.push(a.txns[0].clone());
        multi.cum_weights = vec![3, 8];
        let ab = Plan::side_by_side(&multi, &a, ["A", "B"]).unwrap();
        assert_eq!(ab.cum_weights, [3, 8, 16]);
    }

    #[test]
    fn side_by_side_refuses_other_tables_or_distributions() {
        let a = plan("oltp_read_write", &[]);
        let b = plan("oltp_read_write", &[("table_size", "500")]);
        let e = Plan::side_by_side(&a, &b, ["A", "B"]).unwrap_err();
        assert!(
            e.to_string()
                .contains("sbtest1 (10000 rows) vs sbtest1 (500 rows)"),
            "{e}"
        );
        // rand_type is each generator's own (allowed); the shape parameters are the plan's.
        let b = plan("oltp_read_write", &[("rand_type", "uniform")]);
        assert!(Plan::side_by_side(&a, &b, ["A", "B"]).is_ok());
        let b = plan("oltp_read_write", &[("rand_spec_pct", "5")]);
        assert_eq!(
            Plan::side_by_side(&a, &b, ["A", "B"]).unwrap_err(),
            SideBySideError::Distributions
        );
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

    /// Parse, resolve and plan `text` as the file `w.toml`; the error as printed.
    fn refusal(text: &str) -> String {
        let w = match workload::parse::parse(text, workload::Source::File("w.toml".into())) {
            Ok(w) => w,
            Err(e) => return e.to_string(),
        };
        let s = match crate::settings::Layers::default().resolve(&w) {
            Ok(s) => s,
            Err(e) => return e.to_string(),
        };
        match Plan::compile(&w, &s) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e.to_string(),
        }
    }

    const ONE: &str = r#"[settings]
table_size = 10
[[tables]]
name = "t{i}"
count = @COUNT@
rows = "table_size"
create = "CREATE TABLE {table} (id INT)"
columns = [{ name = "id", int = "uniform", min = @MIN@, max = @MAX@ }]
[[transactions]]
name = "x"
[[transactions.steps]]
repeat = @REPEAT@
name = "@NAME@"
sql = "SELECT ?"
params = [@P@]
[[transactions.steps]]
name = "two"
sql = "SELECT 2"
"#;

    fn one(subs: &[(&str, &str)]) -> String {
        let mut t = ONE.to_string();
        for (k, v) in subs {
            t = t.replace(k, v);
        }
        for (k, v) in [
            ("@COUNT@", "1"),
            ("@MIN@", "1"),
            ("@MAX@", "\"table_size\""),
            ("@REPEAT@", "1"),
            ("@NAME@", "one"),
            ("@P@", "1"),
        ] {
            t = t.replace(k, v);
        }
        t
    }

    #[test]
    fn min_above_max_is_refused_where_it_is_written() {
        let e = refusal(&one(&[("@MIN@", "20"), ("@MAX@", "5")]));
        assert!(e.starts_with("w.toml:8:"), "{e}");
        assert!(e.contains("`min` (20) is greater than `max` (5)"), "{e}");
        // Known only once the settings are resolved: table_size is 10.
        let e = refusal(&one(&[("@MIN@", "20")]));
        assert!(e.starts_with("w.toml:8:"), "{e}");
        assert!(
            e.contains("(20) is greater than `max = table_size` (10)"),
            "{e}"
        );
    }

    #[test]
    fn numbers_past_64_bits_are_refused_not_wrapped() {
        let e = refusal(&one(&[("@P@", "\"9223372036854775807 + 1\"")]));
        assert!(e.starts_with("w.toml:11:"), "{e}");
        assert!(e.contains("out of range"), "{e}");
        let e = refusal(&one(&[("@MIN@", "-9223372036854775808")]));
        assert!(e.starts_with("w.toml:8:") && e.contains("±10^18"), "{e}");
        let e = refusal(&one(&[(
            "table_size = 10",
            "table_size = 9223372036854775807",
        )]));
        assert!(
            e.starts_with("w.toml:6:") && e.contains("out of range"),
            "{e}"
        );
    }

    #[test]
    fn counts_and_repeats_past_their_range_are_refused_before_any_work() {
        let e = refusal(&one(&[("@COUNT@", "1000000000000")]));
        assert!(e.starts_with("w.toml:5:"), "{e}");
        assert!(e.contains("1–100000 tables"), "{e}");
        let e = refusal(&one(&[("@REPEAT@", "1000000000000")]));
        assert!(
            e.starts_with("w.toml:11:") && e.contains("0–100000 times"),
            "{e}"
        );
        let e = refusal(&one(&[("table_size = 10", "table_size = 10\nthreads = 0")]));
        assert!(e.starts_with("w.toml:3:11: setting `threads`"), "{e}");
    }

    #[test]
    fn a_value_from_elsewhere_is_named_with_where_it_came_from() {
        let w = workload::load("oltp_point_select").unwrap();
        let sets = [("table_size".to_string(), "0".to_string())];
        let s = Settings::resolve(&w, &sets, &[]).err();
        assert!(s.is_some(), "table_size 0 is below its range");
        let sets = [("point_selects".to_string(), "99999999999".to_string())];
        let w = workload::load("oltp_read_write").unwrap();
        let s = Settings::resolve(&w, &sets, &[]).unwrap();
        let e = Plan::compile(&w, &s).unwrap_err().to_string();
        assert!(
            e.contains("(point_selects = 99999999999 from --set); a step repeats 0–100000 times"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_names_are_refused_naming_both_places() {
        let e = refusal(&one(&[("@NAME@", "two")]));
        assert!(e.starts_with("w.toml:16:"), "{e}");
        assert!(
            e.contains("statement name `two` is used twice (first at line 11"),
            "{e}"
        );
    }
}
