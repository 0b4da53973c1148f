//! Parsing workload TOML into a [`Workload`], with errors that point at file, line and column.

use super::{
    ColumnDef, Gen, Kind, ParamDef, SettingValue, Source, StepDef, StmtDef, TableDef, TxnDef,
    Workload, WorkloadError,
};
use crate::workload::{Dist, Expr};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    /// `oltp` or absent; other kinds are turned away before this struct is read.
    #[serde(rename = "kind")]
    _kind: Option<String>,
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    settings: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    monitor: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    tables: Vec<Spanned<RawTable>>,
    #[serde(default)]
    transactions: Vec<Spanned<RawTxn>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    name: Spanned<String>,
    count: Option<Spanned<toml::Value>>,
    rows: Spanned<toml::Value>,
    create: Spanned<String>,
    #[serde(default)]
    after_load: Vec<String>,
    #[serde(default)]
    columns: Vec<Spanned<RawGen>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGen {
    name: Option<String>,
    int: Option<String>,
    min: Option<toml::Value>,
    max: Option<toml::Value>,
    str: Option<String>,
    value: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTxn {
    name: String,
    weight: Option<Spanned<i64>>,
    begin: Option<bool>,
    #[serde(default)]
    steps: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    table: Option<String>,
    repeat: Option<toml::Value>,
    #[serde(rename = "let", default)]
    lets: BTreeMap<String, RawGen>,
    name: Option<String>,
    sql: Option<String>,
    kind: Option<String>,
    params: Option<Vec<toml::Value>>,
    statements: Option<Vec<Spanned<RawStmt>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStmt {
    name: String,
    sql: String,
    kind: Option<String>,
    #[serde(default)]
    params: Vec<toml::Value>,
}

/// Names every workload may use in expressions besides its own settings.
pub const CORE_INT_SETTINGS: &[&str] = &["threads", "tables", "table_size"];

struct Ctx<'a> {
    text: &'a str,
    file: String,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> WorkloadError {
        let (line, col) = line_col(self.text, span.start);
        WorkloadError::Invalid {
            file: self.file.clone(),
            line,
            col,
            message: message.into(),
        }
    }
}

/// The names given so far per kind (table, transaction, statement), with where: a name used
/// twice is an error naming both places (statistics are kept per name, so two statements of
/// one name would be counted as one).
#[derive(Default)]
struct Names(BTreeMap<(&'static str, String), (usize, usize)>);

impl Names {
    fn first(
        &mut self,
        ctx: &Ctx,
        what: &'static str,
        name: &str,
        span: Range<usize>,
    ) -> Result<(), WorkloadError> {
        let at = line_col(ctx.text, span.start);
        match self.0.insert((what, name.to_string()), at) {
            None => Ok(()),
            Some((line, col)) => Err(ctx.err(
                span,
                format!("{what} name `{name}` is used twice (first at line {line}, column {col})"),
            )),
        }
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |i| offset - i - 1) + 1;
    (line, col)
}

/// Parse a workload file's bytes: text that is not UTF-8 is refused at the line and column of
/// its first bad byte.
pub fn parse_bytes(bytes: &[u8], source: Source) -> Result<Workload, WorkloadError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text, source),
        Err(e) => Err(not_utf8(bytes, e, &file_name(&source))),
    }
}

/// The error for a file that is not UTF-8: the position and value of its first bad byte.
pub fn not_utf8(bytes: &[u8], e: std::str::Utf8Error, file: &str) -> WorkloadError {
    let good = e.valid_up_to();
    let prefix = std::str::from_utf8(&bytes[..good]).unwrap_or_default();
    let (line, col) = line_col(prefix, good);
    WorkloadError::Invalid {
        file: file.to_string(),
        line,
        col,
        message: format!(
            "byte 0x{:02x} is not UTF-8; a workload file is UTF-8 text",
            bytes[good]
        ),
    }
}

/// How messages name the file of `source`.
pub fn file_name(source: &Source) -> String {
    match source {
        Source::Builtin => "<built-in>".to_string(),
        Source::File(p) => p.display().to_string(),
    }
}

/// The most a transaction's `weight` may be.
pub const MAX_WEIGHT: u32 = 1_000_000;

/// Parse a workload file's text.
pub fn parse(text: &str, source: Source) -> Result<Workload, WorkloadError> {
    let ctx = Ctx {
        text,
        file: file_name(&source),
    };
    // A file of another kind has other fields: say which command runs it before the field
    // checks below would complain about them.
    match super::kind_of(text).as_deref() {
        None | Some("oltp") => {}
        Some(k) => {
            return Err(WorkloadError::InvalidFile {
                file: ctx.file.clone(),
                message: match super::special_command(k) {
                    Some(cmd) => format!(
                        "`kind = \"{k}\"`: this workload is run with `loadgate {cmd}`, not as an OLTP workload"
                    ),
                    None => format!(
                        "unknown `kind = \"{k}\"`; kinds: oltp (the default), {}",
                        super::SPECIAL_KINDS
                            .iter()
                            .map(|(k, _)| *k)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            })
        }
    }
    let raw: RawWorkload = toml::from_str(text).map_err(|e| toml_error(text, &ctx.file, &e))?;
    let name = match (&raw.name, &source) {
        (Some(n), _) => n.clone(),
        (None, Source::File(p)) => p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("workload")
            .to_string(),
        (None, Source::Builtin) => "workload".to_string(),
    };
    let hash = crate::testbed::short_hash(text.as_bytes());

    let mut settings = Vec::new();
    let mut setting_at = BTreeMap::new();
    for (k, v) in &raw.settings {
        setting_at.insert(k.clone(), line_col(text, v.span().start));
        let value = match v.get_ref() {
            toml::Value::Integer(i) => SettingValue::Int(*i),
            toml::Value::Float(f) => SettingValue::Float(*f),
            toml::Value::String(s) => SettingValue::Str(s.clone()),
            toml::Value::Boolean(b) => SettingValue::Bool(*b),
            _ => {
                return Err(ctx.err(
                    v.span(),
                    format!("setting `{k}` must be a number, a string or a boolean"),
                ))
            }
        };
        settings.push((k.clone(), value));
    }
    let mut monitor = crate::monitor::config::MonitorDef::default();
    for (k, v) in &raw.monitor {
        monitor
            .set(k, v.get_ref())
            .map_err(|m| ctx.err(v.span(), format!("[monitor] {m}")))?;
    }
    let int_names: Vec<String> = settings
        .iter()
        .filter(|(_, v)| matches!(v, SettingValue::Int(_)))
        .map(|(k, _)| k.clone())
        .chain(CORE_INT_SETTINGS.iter().map(|s| s.to_string()))
        .collect();
    let known = |n: &str| int_names.iter().any(|k| k == n);

    if raw.tables.is_empty() {
        return Err(ctx.err(
            text.len()..text.len(),
            "the file ends without a [[tables]] entry; a workload needs at least one",
        ));
    }
    let mut tables = Vec::new();
    let mut seen = Names::default();
    for t in &raw.tables {
        let span = t.span();
        let t = t.get_ref();
        let tname = t.name.get_ref();
        seen.first(&ctx, "table", tname, t.name.span())?;
        let base = tname.replace("{i}", "1");
        crate::target::check_identifier(&base)
            .map_err(|why| ctx.err(t.name.span(), format!("table name {why}")))?;
        let count = match &t.count {
            Some(c) => expr_of(&ctx, c.get_ref(), c.span(), &known)?,
            None if tname.contains("{i}") => Expr::parse("tables").expect("literal"),
            None => Expr::int(1),
        };
        let rows = expr_of(&ctx, t.rows.get_ref(), t.rows.span(), &known)?;
        if !t.create.get_ref().contains("{table}") {
            return Err(ctx.err(
                t.create.span(),
                "`create` must name the table as {table} so loadgate can create each copy",
            ));
        }
        let mut columns = Vec::new();
        for c in &t.columns {
            let cname = c
                .get_ref()
                .name
                .clone()
                .ok_or_else(|| ctx.err(c.span(), "every entry of `columns` needs a `name`"))?;
            crate::target::check_identifier(&cname)
                .map_err(|why| ctx.err(c.span(), format!("column name {why}")))?;
            let gen = gen_of(&ctx, c.get_ref(), c.span(), &known)?;
            columns.push(ColumnDef { name: cname, gen });
        }
        if columns.is_empty() {
            return Err(ctx.err(span, "a table needs `columns` so prepare can fill it"));
        }
        tables.push(TableDef {
            name: tname.clone(),
            count,
            rows,
            create: t.create.get_ref().clone(),
            after_load: t.after_load.clone(),
            columns,
        });
    }

    if raw.transactions.is_empty() {
        return Err(ctx.err(
            text.len()..text.len(),
            "the file ends without a [[transactions]] entry; a workload needs at least one",
        ));
    }
    let mut transactions = Vec::new();
    for tx in &raw.transactions {
        let tspan = tx.span();
        let tx = tx.get_ref();
        seen.first(&ctx, "transaction", &tx.name, tspan.clone())?;
        let (weight, wspan) = match &tx.weight {
            Some(w) => (*w.get_ref(), w.span()),
            None => (1, tspan.clone()),
        };
        let weight = u32::try_from(weight)
            .ok()
            .filter(|w| (1..=MAX_WEIGHT).contains(w))
            .ok_or_else(|| {
                ctx.err(
                    wspan,
                    format!(
                        "transaction `{}` has weight {weight}; a weight is 1–{MAX_WEIGHT}",
                        tx.name
                    ),
                )
            })?;
        let mut steps = Vec::new();
        for st in &tx.steps {
            let sspan = st.span();
            let st = st.get_ref();
            let table =
                match &st.table {
                    None if tables.len() == 1 => 0,
                    None => return Err(ctx.err(
                        sspan.clone(),
                        "this workload has several tables: say which one with `table = \"...\"`",
                    )),
                    Some(tn) => tables.iter().position(|t| &t.name == tn).ok_or_else(|| {
                        ctx.err(
                            sspan.clone(),
                            format!(
                                "unknown table `{tn}`; tables: {}",
                                tables
                                    .iter()
                                    .map(|t| t.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    })?,
                };
            let repeat = match &st.repeat {
                Some(v) => expr_of(&ctx, v, sspan.clone(), &known)?,
                None => Expr::int(1),
            };
            let mut lets = Vec::new();
            for (ln, g) in &st.lets {
                if known(ln) {
                    return Err(ctx.err(
                        sspan.clone(),
                        format!("`let` name `{ln}` hides the setting of the same name"),
                    ));
                }
                let gen = gen_of(&ctx, g, sspan.clone(), &known)?;
                if !matches!(gen, Gen::Int { .. }) {
                    return Err(ctx.err(
                        sspan.clone(),
                        format!("`let` value `{ln}` must be an integer generator (`int = ...`)"),
                    ));
                }
                lets.push((ln.clone(), gen));
            }
            let known_here = |n: &str| known(n) || st.lets.contains_key(n);
            let raw_stmts: Vec<(Range<usize>, RawStmt)> = match (&st.sql, &st.statements) {
                (Some(sql), None) => vec![(
                    sspan.clone(),
                    RawStmt {
                        name: st
                            .name
                            .clone()
                            .unwrap_or_else(|| format!("{}_{}", tx.name, steps.len() + 1)),
                        sql: sql.clone(),
                        kind: st.kind.clone(),
                        params: st.params.clone().unwrap_or_default(),
                    },
                )],
                (None, Some(list)) if !list.is_empty() => {
                    if st.params.is_some() || st.name.is_some() || st.kind.is_some() {
                        return Err(ctx.err(
                            sspan.clone(),
                            "a step with `statements` takes `name`, `kind` and `params` on each statement, not on the step",
                        ));
                    }
                    list.iter()
                        .map(|s| {
                            let r = s.get_ref();
                            (
                                s.span(),
                                RawStmt {
                                    name: r.name.clone(),
                                    sql: r.sql.clone(),
                                    kind: r.kind.clone(),
                                    params: r.params.clone(),
                                },
                            )
                        })
                        .collect()
                }
                (Some(_), Some(_)) => {
                    return Err(ctx.err(
                        sspan.clone(),
                        "a step has either `sql` or `statements`, not both",
                    ))
                }
                _ => {
                    return Err(ctx.err(
                        sspan.clone(),
                        "a step needs `sql` (one statement) or `statements`",
                    ))
                }
            };
            let mut statements = Vec::new();
            for (span, rs) in raw_stmts {
                let kind = match rs.kind.as_deref() {
                    None => Kind::infer(&rs.sql),
                    Some("read") => Kind::Read,
                    Some("write") => Kind::Write,
                    Some("other") => Kind::Other,
                    Some(other) => {
                        return Err(ctx.err(
                            span,
                            format!("kind `{other}` is not one of read, write, other"),
                        ))
                    }
                };
                seen.first(&ctx, "statement", &rs.name, span.clone())?;
                let placeholders = count_placeholders(&rs.sql);
                if placeholders != rs.params.len() {
                    return Err(ctx.err(
                        span,
                        format!(
                            "statement `{}` has {placeholders} `?` placeholder(s) but {} param(s): {}",
                            rs.name,
                            rs.params.len(),
                            rs.sql.trim()
                        ),
                    ));
                }
                let mut params = Vec::new();
                for p in &rs.params {
                    params.push(param_of(&ctx, p, span.clone(), &known_here)?);
                }
                statements.push(StmtDef {
                    name: rs.name,
                    sql: rs.sql,
                    kind,
                    params,
                });
            }
            steps.push(StepDef {
                table,
                repeat,
                lets,
                statements,
            });
        }
        if steps.is_empty() {
            return Err(ctx.err(tspan, format!("transaction `{}` has no steps", tx.name)));
        }
        transactions.push(TxnDef {
            name: tx.name.clone(),
            weight,
            begin: tx.begin.unwrap_or(false),
            steps,
        });
    }

    Ok(Workload {
        name,
        description: raw.description.unwrap_or_default(),
        source,
        hash,
        settings,
        tables,
        transactions,
        monitor,
        setting_at,
    })
}

fn expr_of(
    ctx: &Ctx,
    v: &toml::Value,
    span: Range<usize>,
    known: &dyn Fn(&str) -> bool,
) -> Result<Expr, WorkloadError> {
    let e = match v {
        toml::Value::Integer(i) => Expr::int(*i),
        toml::Value::String(s) => {
            Expr::parse(s).map_err(|m| ctx.err(span.clone(), format!("`{s}`: {m}")))?
        }
        _ => {
            return Err(ctx.err(
                span,
                "expected an integer or an expression such as \"table_size - 1\"",
            ))
        }
    };
    e.check_literals().map_err(|m| ctx.err(span.clone(), m))?;
    let e = e.located(line_col(ctx.text, span.start));
    for n in e.names() {
        if !known(n) {
            return Err(ctx.err(
                span,
                format!(
                    "`{}` uses `{n}`, which is not an integer setting or a `let` value",
                    e.text
                ),
            ));
        }
    }
    Ok(e)
}

fn gen_of(
    ctx: &Ctx,
    g: &RawGen,
    span: Range<usize>,
    known: &dyn Fn(&str) -> bool,
) -> Result<Gen, WorkloadError> {
    match (&g.int, &g.str, &g.value) {
        (Some(d), None, None) => {
            let dist = if d == "default" {
                None
            } else {
                Some(Dist::parse(d).ok_or_else(|| {
                    ctx.err(
                        span.clone(),
                        format!(
                            "unknown distribution `{d}`; use default, {}",
                            Dist::NAMES.join(", ")
                        ),
                    )
                })?)
            };
            let min = match &g.min {
                Some(v) => expr_of(ctx, v, span.clone(), known)?,
                None => return Err(ctx.err(span, "an `int` generator needs `min` and `max`")),
            };
            let max = match &g.max {
                Some(v) => expr_of(ctx, v, span.clone(), known)?,
                None => return Err(ctx.err(span, "an `int` generator needs `min` and `max`")),
            };
            if let (Some(lo), Some(hi)) = (constant(&min), constant(&max)) {
                if lo > hi {
                    return Err(ctx.err(
                        span,
                        format!("`min` ({lo}) is greater than `max` ({hi})"),
                    ));
                }
            }
            Ok(Gen::Int { dist, min, max })
        }
        (None, Some(p), None) => {
            if g.min.is_some() || g.max.is_some() {
                return Err(ctx.err(span, "a `str` generator takes no `min`/`max`"));
            }
            Ok(Gen::Str(p.clone()))
        }
        (None, None, Some(v)) => Ok(Gen::Const(match v {
            toml::Value::Integer(i) => SettingValue::Int(*i),
            toml::Value::Float(f) => SettingValue::Float(*f),
            toml::Value::String(s) => SettingValue::Str(s.clone()),
            toml::Value::Boolean(b) => SettingValue::Bool(*b),
            _ => return Err(ctx.err(span, "`value` must be a number, a string or a boolean")),
        })),
        _ => Err(ctx.err(
            span,
            "a generator has exactly one of `int = \"<distribution>\"`, `str = \"<template>\"` or `value = ...`",
        )),
    }
}

/// A TOML syntax or type error at its position, on one line, never without words: the TOML
/// parser gives no message for some errors (a control character in a comment).
pub fn toml_error(ctx_text: &str, file: &str, e: &toml::de::Error) -> WorkloadError {
    let span = e.span().unwrap_or(0..0);
    let message = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let message = if message.is_empty() {
        match ctx_text.get(span.start..).and_then(|t| t.chars().next()) {
            Some(c) if c.is_control() => format!(
                "control character U+{:04X} is not allowed here (write it as an escape inside a string)",
                c as u32
            ),
            Some(c) => format!("unexpected `{c}`"),
            None => "unexpected end of file".to_string(),
        }
    } else {
        message
    };
    let (line, col) = line_col(ctx_text, span.start);
    WorkloadError::Invalid {
        file: file.to_string(),
        line,
        col,
        message,
    }
}

/// The value of an expression without names.
fn constant(e: &Expr) -> Option<i64> {
    if e.names().next().is_some() {
        return None;
    }
    e.eval(&|_| None).ok()
}

fn param_of(
    ctx: &Ctx,
    v: &toml::Value,
    span: Range<usize>,
    known: &dyn Fn(&str) -> bool,
) -> Result<ParamDef, WorkloadError> {
    match v {
        toml::Value::Integer(_) | toml::Value::String(_) => {
            Ok(ParamDef::Expr(expr_of(ctx, v, span, known)?))
        }
        toml::Value::Table(_) => {
            let g: RawGen = v.clone().try_into().map_err(|e: toml::de::Error| {
                ctx.err(span.clone(), format!("bad parameter: {}", e.message()))
            })?;
            Ok(ParamDef::Gen(gen_of(ctx, &g, span, known)?))
        }
        _ => Err(ctx.err(
            span,
            "a parameter is an expression (\"id + 1\"), an integer, or a generator table",
        )),
    }
}

/// `?` placeholders outside quoted strings.
pub fn count_placeholders(sql: &str) -> usize {
    let mut n = 0;
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' || c == '`' => quote = Some(c),
            None if c == '?' => n += 1,
            None => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::BUILTIN;

    #[test]
    fn builtin_workloads_parse() {
        for (name, text) in BUILTIN {
            let w = parse(text, Source::Builtin).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&w.name, name);
            assert!(!w.description.is_empty());
        }
    }

    #[test]
    fn read_write_has_sysbench_shape() {
        let w = parse(BUILTIN[0].1, Source::Builtin).unwrap();
        let tx = &w.transactions[0];
        assert!(tx.begin);
        let names: Vec<&str> = tx
            .steps
            .iter()
            .flat_map(|s| s.statements.iter().map(|st| st.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                "point_select",
                "simple_range",
                "sum_range",
                "order_range",
                "distinct_range",
                "index_update",
                "non_index_update",
                "delete",
                "insert"
            ]
        );
    }

    fn err_of(text: &str) -> String {
        parse(text, Source::File("w.toml".into()))
            .unwrap_err()
            .to_string()
    }

    const MIN: &str = r#"
[[tables]]
name = "t"
rows = 10
create = "CREATE TABLE {table} (id INT PRIMARY KEY AUTO_INCREMENT, v INT)"
columns = [{ name = "v", int = "uniform", min = 1, max = 5 }]

[[transactions]]
name = "x"
[[transactions.steps]]
sql = "SELECT v FROM {table} WHERE id = ?"
params = [@P@]
"#;

    #[test]
    fn syntax_error_names_file_line_and_column() {
        let e = err_of("name = \"x\"\n[[tables]\n");
        assert!(e.starts_with("w.toml:2:"), "{e}");
    }

    #[test]
    fn semantic_errors_point_at_the_entry() {
        let e = err_of(&MIN.replace("@P@", "\"nope + 1\""));
        assert!(e.starts_with("w.toml:10:"), "{e}");
        assert!(e.contains("`nope`"), "{e}");
        let e = err_of(&MIN.replace("@P@", "{ int = \"weird\", min = 1, max = 2 }"));
        assert!(e.contains("unknown distribution `weird`"), "{e}");
        let e = err_of(&MIN.replace("params = [@P@]", "params = []"));
        assert!(e.contains("1 `?` placeholder(s) but 0 param(s)"), "{e}");
        let e = err_of(
            &MIN.replace("@P@", "1")
                .replace("rows = 10", "rows = 10\nbogus = 1"),
        );
        assert!(e.contains("bogus"), "{e}");
        assert!(e.starts_with("w.toml:5:"), "{e}");
    }

    #[test]
    fn monitor_table_is_parsed_and_its_errors_located() {
        let base = "[[tables]]\nname = \"t\"\nrows = 1\ncreate = \"CREATE TABLE {table} (id INT)\"\ncolumns = [{ name = \"id\", value = 1 }]\n[[transactions]]\nname = \"x\"\n[[transactions.steps]]\nsql = \"SELECT 1\"\n";
        let ok = format!("[monitor]\ninterval = \"2s\"\nconnection_usage = {{ warning = 50, critical = 60 }}\n{base}");
        let w = parse(&ok, Source::Builtin).unwrap();
        assert_eq!(w.monitor.interval_s, Some(2.0));
        assert_eq!(w.monitor.thresholds.len(), 1);
        let bad =
            format!("[monitor]\nslow_query_ratio = {{ warning = 30, critical = 20 }}\n{base}");
        let e = parse(&bad, Source::Builtin).unwrap_err().to_string();
        assert!(e.starts_with("<built-in>:2:20: [monitor]"), "{e}");
    }

    #[test]
    fn minimal_workload_parses() {
        let w = parse(
            &MIN.replace("@P@", "{ int = \"default\", min = 1, max = 10 }"),
            Source::File("/x/mine.toml".into()),
        )
        .unwrap();
        assert_eq!(w.name, "mine");
        assert_eq!(w.transactions[0].steps[0].statements[0].kind, Kind::Read);
    }

    #[test]
    fn weights_outside_their_range_are_refused_at_the_weight() {
        for w in ["-1", "0", "1000001", "99999999999"] {
            let text = MIN
                .replace("@P@", "1")
                .replace("name = \"x\"", &format!("name = \"x\"\nweight = {w}"));
            let e = err_of(&text);
            assert!(
                e.starts_with("w.toml:10:10: transaction `x` has weight"),
                "{e}"
            );
            assert!(e.ends_with("a weight is 1–1000000"), "{e}");
        }
    }

    #[test]
    fn a_control_character_is_named_not_left_blank() {
        let e = err_of("# a\u{4}b\n");
        assert!(e.starts_with("w.toml:1:4: control character U+0004"), "{e}");
        let e = err_of("name =\n");
        assert!(e.starts_with("w.toml:1:7: invalid string; expected"), "{e}");
    }

    #[test]
    fn placeholders_ignore_quotes() {
        assert_eq!(
            count_placeholders("SELECT '?' , ? FROM t WHERE a = \"?\" AND b = ?"),
            2
        );
    }
}
