//! Workloads: what a run does to the database, as data.
//!
//! A workload is a TOML file (format in `workloads/README.md`): tables with their DDL and how
//! `prepare` fills them, transaction types with weights, statements with typed parameter
//! generators, and run defaults. The four sysbench OLTP workloads ship built in (compiled from
//! the files in `workloads/`), and any file path works the same way.
//!
//! Parsing ([`parse`]) turns the file into a [`Workload`] (names still symbolic). Compiling it
//! against resolved settings ([`plan::Plan::compile`]) turns every expression into constants
//! and slots, so the engine's hot path only draws numbers and fills parameters.

pub mod expr;
#[cfg(test)]
mod fuzz;
pub mod gen;
pub mod parse;
pub mod plan;

use std::path::PathBuf;

pub use expr::Expr;
pub use gen::{Dist, DistParams, Pattern};

/// Why a workload could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("{file}:{line}:{col}: {message}")]
    Invalid {
        file: String,
        line: usize,
        col: usize,
        message: String,
    },

    #[error("{file}: {message}")]
    InvalidFile { file: String, message: String },

    #[error("unknown workload `{name}`; available: {}. A path to a .toml file works too.", .available.join(", "))]
    Unknown {
        name: String,
        available: Vec<String>,
    },

    #[error("cannot read workload file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("setting `{key}`: {message}")]
    Setting { key: String, message: String },
}

impl crate::error::ExitCode for WorkloadError {
    /// Every workload error is bad input.
    fn exit_code(&self) -> u8 {
        crate::error::exit::USAGE
    }
}

/// Where a workload came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Builtin,
    File(PathBuf),
}

/// A parsed workload.
#[derive(Debug, Clone)]
pub struct Workload {
    pub name: String,
    pub description: String,
    pub source: Source,
    /// SHA-256 (hex, 16 chars) of the file's bytes.
    pub hash: String,
    /// The `[settings]` table: run defaults and the workload's own integer variables.
    pub settings: Vec<(String, SettingValue)>,
    pub tables: Vec<TableDef>,
    pub transactions: Vec<TxnDef>,
    /// The `[monitor]` table: monitor on/off, interval, alert thresholds.
    pub monitor: crate::monitor::config::MonitorDef,
    /// Where each `[settings]` value is written (line, column), for messages about it.
    pub setting_at: std::collections::BTreeMap<String, (usize, usize)>,
}

impl Workload {
    /// How messages name the workload's file.
    pub fn file(&self) -> String {
        parse::file_name(&self.source)
    }

    /// An error about something written at `at` in the workload's file (line, column); a
    /// whole-file error when the position is not known (a value built in, not written).
    pub fn error_at(&self, at: Option<(usize, usize)>, message: String) -> WorkloadError {
        match at {
            Some((line, col)) => WorkloadError::Invalid {
                file: self.file(),
                line,
                col,
                message,
            },
            None => WorkloadError::InvalidFile {
                file: self.file(),
                message,
            },
        }
    }
}

impl Workload {
    /// How a command line names this workload: a built-in's name, a file's path (quoted for a
    /// shell when it holds anything but plain path characters). For hints such as
    /// "run `loadgate prepare ARG`", which must work when pasted.
    pub fn command_arg(&self) -> String {
        match &self.source {
            Source::Builtin => self.name.clone(),
            Source::File(p) => {
                let p = p.display().to_string();
                let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+,:=@%".contains(c);
                if !p.is_empty() && p.chars().all(plain) {
                    p
                } else {
                    format!("'{}'", p.replace('\'', "'\\''"))
                }
            }
        }
    }
}

/// A value from a `[settings]` table or `--set`.
#[derive(Debug, Clone, PartialEq)]
pub enum SettingValue {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
}

impl std::fmt::Display for SettingValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingValue::Int(v) => write!(f, "{v}"),
            SettingValue::Float(v) => write!(f, "{v}"),
            SettingValue::Str(v) => write!(f, "{v}"),
            SettingValue::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// A table (or a numbered family of tables, `sbtest{i}`) the workload owns.
#[derive(Debug, Clone)]
pub struct TableDef {
    /// Name pattern; `{i}` is replaced by 1..=count.
    pub name: String,
    pub count: Expr,
    pub rows: Expr,
    /// `CREATE TABLE {table} (...)`.
    pub create: String,
    /// Statements run after the rows are loaded (secondary indexes, as sysbench does).
    pub after_load: Vec<String>,
    pub columns: Vec<ColumnDef>,
}

impl TableDef {
    /// The concrete table names for `count` tables.
    pub fn names(&self, count: i64) -> Vec<String> {
        if self.name.contains("{i}") {
            (1..=count.max(1))
                .map(|i| self.name.replace("{i}", &i.to_string()))
                .collect()
        } else {
            vec![self.name.clone()]
        }
    }
}

/// A column `prepare` fills, and how.
#[derive(Debug, Clone)]
pub struct ColumnDef {
    pub name: String,
    pub gen: Gen,
}

/// A value generator.
#[derive(Debug, Clone)]
pub enum Gen {
    /// An integer in `[min, max]`; `dist: None` means the run's `rand_type`.
    Int {
        dist: Option<Dist>,
        min: Expr,
        max: Expr,
    },
    /// A string from a `#`/`@` template.
    Str(String),
    /// A fixed value.
    Const(SettingValue),
}

/// A transaction type.
#[derive(Debug, Clone)]
pub struct TxnDef {
    pub name: String,
    pub weight: u32,
    /// Wrap the steps in BEGIN ... COMMIT.
    pub begin: bool,
    pub steps: Vec<StepDef>,
}

/// A group of statements run `repeat` times against one table picked at random.
#[derive(Debug, Clone)]
pub struct StepDef {
    /// Index into `Workload::tables`.
    pub table: usize,
    pub repeat: Expr,
    /// Integer values drawn once per repetition and shared by the statements.
    pub lets: Vec<(String, Gen)>,
    pub statements: Vec<StmtDef>,
}

/// Query class, as sysbench counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Read,
    Write,
    Other,
}

impl Kind {
    /// Read for SELECT/SHOW, write for INSERT/UPDATE/DELETE/REPLACE, other otherwise.
    pub fn infer(sql: &str) -> Kind {
        let first = sql
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match first.as_str() {
            "SELECT" | "SHOW" | "WITH" => Kind::Read,
            "INSERT" | "UPDATE" | "DELETE" | "REPLACE" => Kind::Write,
            _ => Kind::Other,
        }
    }
}

/// One statement.
#[derive(Debug, Clone)]
pub struct StmtDef {
    pub name: String,
    /// SQL with `{table}` and `?` placeholders.
    pub sql: String,
    pub kind: Kind,
    pub params: Vec<ParamDef>,
}

/// A statement parameter.
#[derive(Debug, Clone)]
pub enum ParamDef {
    Gen(Gen),
    /// An integer expression over settings and the step's `let` values.
    Expr(Expr),
}

/// The built-in workloads: (name, file content).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "oltp_read_write",
        include_str!("../../workloads/oltp_read_write.toml"),
    ),
    (
        "oltp_read_only",
        include_str!("../../workloads/oltp_read_only.toml"),
    ),
    (
        "oltp_write_only",
        include_str!("../../workloads/oltp_write_only.toml"),
    ),
    (
        "oltp_point_select",
        include_str!("../../workloads/oltp_point_select.toml"),
    ),
];

/// Workload kinds other than OLTP, each with its own format and command: `(kind, command)`.
/// A file says which it is with a top-level `kind = "..."` (absent means `oltp`).
pub const SPECIAL_KINDS: &[(&str, &str)] =
    &[("bulk_sync", "bulk"), ("index_before_after", "index")];

/// The command that runs workloads of `kind`, for kinds other than OLTP.
pub fn special_command(kind: &str) -> Option<&'static str> {
    SPECIAL_KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, c)| *c)
}

/// The top-level `kind` of a workload file's text, if it parses and has one.
pub fn kind_of(text: &str) -> Option<String> {
    let table: toml::Table = toml::from_str(text).ok()?;
    table.get("kind")?.as_str().map(str::to_string)
}

/// Load a workload by built-in name or by path (anything ending in `.toml` or containing `/`).
pub fn load(name_or_path: &str) -> Result<Workload, WorkloadError> {
    if name_or_path.ends_with(".toml") || name_or_path.contains('/') {
        let path = PathBuf::from(name_or_path);
        let text = read_text(&path)?;
        return parse::parse(&text, Source::File(path));
    }
    if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
        return parse::parse(text, Source::Builtin);
    }
    let mut available: Vec<String> = BUILTIN.iter().map(|(n, _)| n.to_string()).collect();
    for f in workload_files(std::path::Path::new("workloads")) {
        if let Some(stem) = f.file_stem().and_then(|s| s.to_str()) {
            if !available.iter().any(|a| a == stem) {
                available.push(f.display().to_string());
            }
        }
    }
    if let Some(f) = workload_files(std::path::Path::new("workloads"))
        .into_iter()
        .find(|f| f.file_stem().and_then(|s| s.to_str()) == Some(name_or_path))
    {
        return load(&f.display().to_string());
    }
    Err(WorkloadError::Unknown {
        name: name_or_path.to_string(),
        available,
    })
}

/// A workload file's text: one that is not UTF-8 is refused at the line and column of its
/// first bad byte.
pub fn read_text(path: &std::path::Path) -> Result<String, WorkloadError> {
    let bytes = std::fs::read(path).map_err(|source| WorkloadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let file = path.display().to_string();
        parse::not_utf8(e.as_bytes(), e.utf8_error(), &file)
    })
}

/// `.toml` files in a directory, sorted; an unreadable directory gives none.
pub fn workload_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("toml"))
        .collect();
    v.sort();
    v
}

impl From<i64> for SettingValue {
    fn from(v: i64) -> Self {
        SettingValue::Int(v)
    }
}

impl From<f64> for SettingValue {
    fn from(v: f64) -> Self {
        SettingValue::Float(v)
    }
}

impl From<&str> for SettingValue {
    fn from(v: &str) -> Self {
        SettingValue::Str(v.to_string())
    }
}

impl From<bool> for SettingValue {
    fn from(v: bool) -> Self {
        SettingValue::Bool(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{assert_module_error, exit};

    #[test]
    fn a_workload_error_exits_2() {
        let invalid = WorkloadError::Invalid {
            file: "w.toml".into(),
            line: 3,
            col: 7,
            message: "expected a table".into(),
        };
        assert_module_error(invalid, exit::USAGE);
        let unknown = WorkloadError::Unknown {
            name: "x".into(),
            available: vec!["oltp_read_only".into()],
        };
        assert_module_error(unknown, exit::USAGE);
        let setting = WorkloadError::Setting {
            key: "threads".into(),
            message: "not a number".into(),
        };
        assert_module_error(setting, exit::USAGE);
    }
}
