//! The bulk sync workload file (`kind = "bulk_sync"`): the target table, its natural key, the
//! columns and their generators, the values `--bad-rows` injects, and run defaults. The format
//! is documented in `workloads/README.md`.

use super::gen::{ColumnSpec, RawColumn};
use crate::workload::parse::line_col;
use crate::workload::{Source, WorkloadError};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// The built-in bulk sync workload.
pub const BUILTIN: (&str, &str) = ("bulk_sync", include_str!("../../workloads/bulk_sync.toml"));

/// The `kind` value of bulk sync workload files.
pub const KIND: &str = "bulk_sync";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    kind: String,
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    settings: BTreeMap<String, Spanned<toml::Value>>,
    target: Spanned<RawTarget>,
    #[serde(default)]
    source: Option<RawSource>,
    columns: Vec<Spanned<RawColumn>>,
    #[serde(default)]
    bad_values: Vec<Spanned<RawBad>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    table: String,
    key: String,
    create: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    table: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBad {
    column: String,
    value: String,
}

/// A parsed bulk sync workload.
#[derive(Debug, Clone)]
pub struct BulkSpec {
    pub name: String,
    pub description: String,
    /// SHA-256 (hex, 16 chars) of the file.
    pub hash: String,
    /// `[settings]`, as written (resolved with the flags by [`super::BulkSettings::resolve`]).
    pub settings: BTreeMap<String, toml::Value>,
    pub table: String,
    /// Index into `columns` of the natural key.
    pub key: usize,
    /// `CREATE TABLE {table} (...)`.
    pub create: String,
    /// The table read from `--source`.
    pub source_table: String,
    pub columns: Vec<ColumnSpec>,
    /// `(column index, value)` for `--bad-rows`.
    pub bad_values: Vec<(usize, String)>,
}

impl BulkSpec {
    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    pub fn key_name(&self) -> &str {
        &self.columns[self.key].name
    }
}

/// The settings a bulk workload file may hold.
pub const SETTINGS: &[&str] = &[
    "rows",
    "strategy",
    "repeats",
    "batch_size",
    "workers",
    "on_bad_row",
    "database",
    "seed",
    "changed_pct",
    "connect_timeout",
];

/// Parse a bulk sync workload file's text.
pub fn parse(text: &str, source: Source) -> Result<BulkSpec, WorkloadError> {
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
    let raw: Raw =
        toml::from_str(text).map_err(|e| crate::workload::parse::toml_error(text, &file, &e))?;
    if raw.kind != KIND {
        return Err(WorkloadError::InvalidFile {
            file,
            message: format!("`kind = \"{}\"` is not a bulk sync workload", raw.kind),
        });
    }
    let name = raw.name.clone().unwrap_or_else(|| match &source {
        Source::File(p) => p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("bulk_sync")
            .to_string(),
        Source::Builtin => "bulk_sync".into(),
    });
    let mut settings = BTreeMap::new();
    for (k, v) in &raw.settings {
        if !SETTINGS.contains(&k.as_str()) {
            return Err(at(
                v.span(),
                format!("unknown setting `{k}`; known: {}", SETTINGS.join(", ")),
            ));
        }
        settings.insert(k.clone(), v.get_ref().clone());
    }
    let tspan = raw.target.span();
    let target = raw.target.into_inner();
    crate::target::check_identifier(&target.table)
        .map_err(|w| at(tspan.clone(), format!("table name {w}")))?;
    if !target.create.contains("{table}") {
        return Err(at(
            tspan.clone(),
            "`create` must name the table as {table}".into(),
        ));
    }
    let mut columns = Vec::new();
    for c in &raw.columns {
        let spec = c
            .get_ref()
            .compile(&|_| None)
            .map_err(|m| at(c.span(), m))?;
        if columns.iter().any(|x: &ColumnSpec| x.name == spec.name) {
            return Err(at(
                c.span(),
                format!("column `{}` is listed twice", spec.name),
            ));
        }
        columns.push(spec);
    }
    if columns.is_empty() {
        return Err(WorkloadError::InvalidFile {
            file,
            message: "a bulk sync workload needs [[columns]]".into(),
        });
    }
    let key = columns
        .iter()
        .position(|c| c.name == target.key)
        .ok_or_else(|| {
            at(
                tspan.clone(),
                format!("the key `{}` is not one of the [[columns]]", target.key),
            )
        })?;
    if columns[key].null_pct > 0 {
        return Err(at(tspan, "the key column cannot have `null_pct`".into()));
    }
    let mut bad_values = Vec::new();
    for b in &raw.bad_values {
        let r = b.get_ref();
        let ci = columns
            .iter()
            .position(|c| c.name == r.column)
            .ok_or_else(|| at(b.span(), format!("unknown column `{}`", r.column)))?;
        if ci == key {
            return Err(at(
                b.span(),
                "a bad value in the key column would hide which row was bad".into(),
            ));
        }
        bad_values.push((ci, r.value.clone()));
    }
    let source_table = raw
        .source
        .and_then(|s| s.table)
        .unwrap_or_else(|| target.table.clone());
    crate::target::check_identifier(&source_table).map_err(|w| WorkloadError::InvalidFile {
        file: file.clone(),
        message: format!("[source] table name {w}"),
    })?;
    Ok(BulkSpec {
        name,
        description: raw.description.unwrap_or_default(),
        hash: crate::testbed::short_hash(text.as_bytes()),
        settings,
        table: target.table,
        key,
        create: target.create,
        source_table,
        columns,
        bad_values,
    })
}

/// Load by built-in name (`bulk_sync`) or path.
pub fn load(name_or_path: &str) -> Result<BulkSpec, WorkloadError> {
    if name_or_path == BUILTIN.0 {
        return parse(BUILTIN.1, Source::Builtin);
    }
    let path = std::path::PathBuf::from(name_or_path);
    let text = crate::workload::read_text(&path)?;
    parse(&text, Source::File(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_parses() {
        let s = parse(BUILTIN.1, Source::Builtin).unwrap();
        assert_eq!(s.key_name(), "order_ref");
        assert_eq!(s.columns.len(), 9);
        assert_eq!(s.bad_values.len(), 2);
    }

    #[test]
    fn errors_point_at_the_line() {
        let text = BUILTIN.1.replace("int = [1, 40]", "int = [40, 1]");
        let e = parse(&text, Source::Builtin).unwrap_err().to_string();
        assert!(e.contains("min is above max"), "{e}");
        assert!(e.starts_with("<built-in>:"), "{e}");
        let text = BUILTIN.1.replace("key = \"order_ref\"", "key = \"nope\"");
        let e = parse(&text, Source::Builtin).unwrap_err().to_string();
        assert!(e.contains("`nope` is not one of"), "{e}");
    }
}
