//! The index before/after workload file (`kind = "index_before_after"`): tables and how to fill
//! them, the index changes under test, the read probes with the index each must use, the write
//! mix, the acceptance bars and run defaults. Documented in `workloads/README.md`.

use crate::bulk::gen::{ColumnSpec, RawColumn};
use crate::workload::parse::line_col;
use crate::workload::{Source, WorkloadError};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// The built-in index workload.
pub const BUILTIN: (&str, &str) = (
    "index_before_after",
    include_str!("../../workloads/index_before_after.toml"),
);

/// The `kind` value of index workload files.
pub const KIND: &str = "index_before_after";

/// Settings with a fixed meaning; any other integer in `[settings]` is a variable that
/// generators (`int = [1, "users"]`) and table sizes (`rows = "orders"`) may name.
pub const SETTINGS: &[&str] = &[
    "database",
    "duration",
    "warmup",
    "settle",
    "read_workers",
    "write_workers",
    "seed",
    "connect_timeout",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    kind: String,
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    settings: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    acceptance: Option<RawAcceptance>,
    tables: Vec<Spanned<RawTable>>,
    indexes: Vec<Spanned<RawIndex>>,
    probes: Vec<Spanned<RawProbe>>,
    #[serde(default)]
    writes: Vec<Spanned<RawWrite>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAcceptance {
    reads: Option<toml::Value>,
    writes: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    name: String,
    rows: toml::Value,
    create: String,
    columns: Vec<RawColumn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndex {
    table: String,
    name: String,
    columns: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    table: String,
    key: String,
    access: Option<Vec<String>>,
    max_rows: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    name: String,
    sql: String,
    #[serde(default)]
    params: Vec<RawColumn>,
    expect: Vec<RawExpect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWrite {
    name: String,
    weight: Option<u32>,
    sql: String,
    #[serde(default)]
    params: Vec<RawColumn>,
}

/// A table the workload owns and fills.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub name: String,
    pub rows: u64,
    /// `CREATE TABLE {table} (...)`.
    pub create: String,
    pub columns: Vec<ColumnSpec>,
}

/// One index change under test.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IndexDef {
    pub table: String,
    pub name: String,
    /// The column list as written in `ADD INDEX name (...)`.
    pub columns: String,
}

/// What EXPLAIN must show for one table of a probe after the change.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Expect {
    /// The table as EXPLAIN names it (its alias, if it has one).
    pub table: String,
    pub key: String,
    /// Allowed access types; empty: anything but a full scan (`ALL`).
    pub access: Vec<String>,
    pub max_rows: Option<u64>,
}

/// A read probe.
#[derive(Debug, Clone)]
pub struct Probe {
    pub name: String,
    pub sql: String,
    pub params: Vec<ColumnSpec>,
    pub expect: Vec<Expect>,
}

/// A statement of the write mix.
#[derive(Debug, Clone)]
pub struct WriteSpec {
    pub name: String,
    pub weight: u32,
    pub sql: String,
    pub params: Vec<ColumnSpec>,
}

/// The acceptance bars, in percent.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Acceptance {
    /// Every probe's mean latency at least this much lower after the change.
    pub reads_faster_pct: f64,
    /// The write mix's throughput at most this much lower after the change.
    pub writes_slower_pct: f64,
}

impl Default for Acceptance {
    fn default() -> Self {
        Acceptance {
            reads_faster_pct: 50.0,
            writes_slower_pct: 10.0,
        }
    }
}

/// A parsed index workload, its variables resolved.
#[derive(Debug, Clone)]
pub struct IndexSpec {
    pub name: String,
    pub description: String,
    pub hash: String,
    /// `[settings]` with a fixed meaning, as written.
    pub settings: BTreeMap<String, toml::Value>,
    /// Integer variables after `--set`.
    pub vars: BTreeMap<String, i64>,
    pub acceptance: Acceptance,
    pub tables: Vec<TableSpec>,
    pub indexes: Vec<IndexDef>,
    pub probes: Vec<Probe>,
    pub writes: Vec<WriteSpec>,
}

/// `"50%"`, `"50"`, `50` or `50.5` as a percentage.
pub fn parse_pct(v: &str) -> Result<f64, String> {
    let t = v.trim().trim_end_matches('%').trim();
    match t.parse::<f64>() {
        Ok(p) if p.is_finite() && (0.0..=1000.0).contains(&p) => Ok(p),
        _ => Err(format!("`{v}` is not a percentage (like 50%)")),
    }
}

fn pct_value(v: &toml::Value) -> Result<f64, String> {
    match v {
        toml::Value::Integer(i) => parse_pct(&i.to_string()),
        toml::Value::Float(f) => parse_pct(&f.to_string()),
        toml::Value::String(s) => parse_pct(s),
        other => Err(format!("`{other}` is not a percentage (like \"50%\")")),
    }
}

/// Parse an index workload's text; `sets` (`--set name=value`) override integer variables.
/// The most rows a table of an index workload may have (it is filled before the phases).
pub const MAX_ROWS: u64 = 1_000_000_000;

pub fn parse(
    text: &str,
    source: Source,
    sets: &[(String, String)],
) -> Result<IndexSpec, WorkloadError> {
    let file = match &source {
        Source::Builtin => "<built-in>".to_string(),
        Source::File(p) => p.display().to_string(),
    };
    let at = |span: std::ops::Range<usize>, message: String| {
        let (line, col) = line_col(text, span.start);
        WorkloadError::Invalid {
            file: file.clone(),
            line,
            col,
            message,
        }
    };
    let whole = |message: String| WorkloadError::InvalidFile {
        file: file.clone(),
        message,
    };
    let raw: Raw =
        toml::from_str(text).map_err(|e| crate::workload::parse::toml_error(text, &file, &e))?;
    if raw.kind != KIND {
        return Err(whole(format!(
            "`kind = \"{}\"` is not an index before/after workload",
            raw.kind
        )));
    }
    let name = raw.name.clone().unwrap_or_else(|| match &source {
        Source::File(p) => p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(KIND)
            .to_string(),
        Source::Builtin => KIND.into(),
    });
    let mut settings = BTreeMap::new();
    let mut vars = BTreeMap::new();
    for (k, v) in &raw.settings {
        if SETTINGS.contains(&k.as_str()) {
            settings.insert(k.clone(), v.get_ref().clone());
        } else if let toml::Value::Integer(i) = v.get_ref() {
            vars.insert(k.clone(), *i);
        } else {
            return Err(at(
                v.span(),
                format!(
                    "setting `{k}`: known settings are {}; any other must be an integer variable",
                    SETTINGS.join(", ")
                ),
            ));
        }
    }
    for (k, v) in sets {
        if !vars.contains_key(k) {
            return Err(WorkloadError::Setting {
                key: k.clone(),
                message: format!(
                    "not an integer variable of this workload (--set); variables: {}",
                    vars.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        let n = v
            .trim()
            .parse::<i64>()
            .map_err(|_| WorkloadError::Setting {
                key: k.clone(),
                message: format!("`{v}` is not an integer (--set)"),
            })?;
        vars.insert(k.clone(), n);
    }
    let lookup = |n: &str| vars.get(n).copied();
    let mut acceptance = Acceptance::default();
    if let Some(a) = &raw.acceptance {
        if let Some(r) = &a.reads {
            acceptance.reads_faster_pct =
                pct_value(r).map_err(|m| whole(format!("[acceptance] reads: {m}")))?;
        }
        if let Some(w) = &a.writes {
            acceptance.writes_slower_pct =
                pct_value(w).map_err(|m| whole(format!("[acceptance] writes: {m}")))?;
        }
    }

    let mut tables = Vec::new();
    for t in &raw.tables {
        let span = t.span();
        let r = t.get_ref();
        crate::target::check_identifier(&r.name)
            .map_err(|w| at(span.clone(), format!("table name {w}")))?;
        if !r.create.contains("{table}") {
            return Err(at(span, "`create` must name the table as {table}".into()));
        }
        let rows = match &r.rows {
            toml::Value::Integer(i) if *i >= 0 => *i as u64,
            toml::Value::String(s) => match lookup(s) {
                Some(i) if i >= 0 => i as u64,
                _ => {
                    return Err(at(
                        span,
                        format!("rows = \"{s}\": not a non-negative integer setting"),
                    ))
                }
            },
            other => {
                return Err(at(
                    span,
                    format!("rows = {other}: use a number or a setting"),
                ))
            }
        };
        if rows > MAX_ROWS {
            return Err(at(
                span,
                format!("rows = {rows}: a table of this workload has at most {MAX_ROWS} rows"),
            ));
        }
        let mut columns = Vec::new();
        for c in &r.columns {
            columns.push(c.compile(&lookup).map_err(|m| at(span.clone(), m))?);
        }
        tables.push(TableSpec {
            name: r.name.clone(),
            rows,
            create: r.create.clone(),
            columns,
        });
    }
    if tables.is_empty() {
        return Err(whole("an index workload needs [[tables]]".into()));
    }
    let mut indexes = Vec::new();
    for i in &raw.indexes {
        let r = i.get_ref();
        if !tables.iter().any(|t| t.name == r.table) {
            return Err(at(
                i.span(),
                format!(
                    "index `{}`: `{}` is not one of the [[tables]]",
                    r.name, r.table
                ),
            ));
        }
        crate::target::check_identifier(&r.name)
            .map_err(|w| at(i.span(), format!("index name {w}")))?;
        if r.columns.contains([';', '\'', '"', '`']) || r.columns.trim().is_empty() {
            return Err(at(
                i.span(),
                "`columns` is a plain column list, like \"user_id, create_time\"".into(),
            ));
        }
        indexes.push(IndexDef {
            table: r.table.clone(),
            name: r.name.clone(),
            columns: r.columns.clone(),
        });
    }
    if indexes.is_empty() {
        return Err(whole(
            "an index workload needs [[indexes]]: the change under test".into(),
        ));
    }
    let compile_params = |params: &[RawColumn], span: std::ops::Range<usize>, sql: &str| {
        let holes = sql.matches('?').count();
        if holes != params.len() {
            return Err(at(
                span.clone(),
                format!("the statement has {holes} `?` but {} params", params.len()),
            ));
        }
        params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut p = p.clone();
                p.name = format!("param{}", i + 1);
                p.compile(&lookup).map_err(|m| at(span.clone(), m))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let mut probes = Vec::new();
    for p in &raw.probes {
        let r = p.get_ref();
        let params = compile_params(&r.params, p.span(), &r.sql)?;
        if r.expect.is_empty() {
            return Err(at(
                p.span(),
                format!("probe `{}` needs `expect`: which index it must use", r.name),
            ));
        }
        if !crate::workload::Kind::infer(&r.sql).eq(&crate::workload::Kind::Read) {
            return Err(at(p.span(), format!("probe `{}` must be a SELECT", r.name)));
        }
        probes.push(Probe {
            name: r.name.clone(),
            sql: r.sql.clone(),
            params,
            expect: r
                .expect
                .iter()
                .map(|e| Expect {
                    table: e.table.clone(),
                    key: e.key.clone(),
                    access: e.access.clone().unwrap_or_default(),
                    max_rows: e.max_rows,
                })
                .collect(),
        });
    }
    if probes.is_empty() {
        return Err(whole("an index workload needs [[probes]]".into()));
    }
    let mut writes = Vec::new();
    for w in &raw.writes {
        let r = w.get_ref();
        let params = compile_params(&r.params, w.span(), &r.sql)?;
        let weight = r.weight.unwrap_or(1);
        if weight == 0 {
            return Err(at(w.span(), format!("write `{}` has weight 0", r.name)));
        }
        writes.push(WriteSpec {
            name: r.name.clone(),
            weight,
            sql: r.sql.clone(),
            params,
        });
    }
    Ok(IndexSpec {
        name,
        description: raw.description.unwrap_or_default(),
        hash: crate::testbed::short_hash(text.as_bytes()),
        settings,
        vars,
        acceptance,
        tables,
        indexes,
        probes,
        writes,
    })
}

/// Load by built-in name (`index_before_after`) or path.
pub fn load(name_or_path: &str, sets: &[(String, String)]) -> Result<IndexSpec, WorkloadError> {
    if name_or_path == BUILTIN.0 {
        return parse(BUILTIN.1, Source::Builtin, sets);
    }
    let path = std::path::PathBuf::from(name_or_path);
    let text = crate::workload::read_text(&path)?;
    parse(&text, Source::File(path), sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_parses_and_sets_override_variables() {
        let s = parse(BUILTIN.1, Source::Builtin, &[]).unwrap();
        assert_eq!(s.tables[1].rows, 300_000);
        assert_eq!(s.indexes.len(), 3);
        assert_eq!(s.probes.len(), 3);
        assert_eq!(s.acceptance, Acceptance::default());
        let s = parse(
            BUILTIN.1,
            Source::Builtin,
            &[
                ("orders".into(), "5000".into()),
                ("users".into(), "100".into()),
            ],
        )
        .unwrap();
        assert_eq!(s.tables[1].rows, 5000);
        assert!(matches!(
            s.writes[1].params[1].gen,
            crate::bulk::gen::ColGen::Int { min: 1, max: 5000 }
        ));
        let e = parse(BUILTIN.1, Source::Builtin, &[("nope".into(), "1".into())]).unwrap_err();
        assert!(e.to_string().contains("variables: orders, users"), "{e}");
    }

    #[test]
    fn percentages() {
        assert_eq!(parse_pct("50%").unwrap(), 50.0);
        assert_eq!(parse_pct(" 12.5 ").unwrap(), 12.5);
        assert!(parse_pct("fast").is_err());
    }
}
