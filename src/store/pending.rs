//! Runs that could not be stored, saved as JSON files beside the store (`<store>.pending/`)
//! until a later open of the store, or `loadgate import FILE`, brings them in.
//!
//! A run measured against a store that fails at the end is not thrown away: the runner spills
//! its whole record here (histograms included, passwords removed as the store removes them),
//! with the id of the `running` row it began, so that bringing it in finishes that row instead
//! of adding a second one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::redact::{redact_json, redact_text, redact_url};
use crate::record::{
    HistKey, HistKind, HistScope, IntervalSample, MonitorReport, RunFacts, RunRecord, RunSettings,
    RunStatus, RunStatusField, ServerInfo, StoredHistogram, Summary, Testbed,
};

/// The `format` of a spilled run file.
pub const FORMAT: &str = "loadgate.pending-run/v1";

/// Why a spilled run could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PendingError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a run saved by loadgate ({FORMAT}): {detail}")]
    Format { path: PathBuf, detail: String },
    #[error("cannot save the run to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl crate::error::ExitCode for PendingError {
    /// A file that is not a saved run is bad input; one that cannot be written is the store's.
    fn exit_code(&self) -> u8 {
        match self {
            PendingError::Format { .. } | PendingError::Read { .. } => crate::error::exit::USAGE,
            PendingError::Write { .. } => crate::error::exit::STORE,
        }
    }
}

/// One histogram: its scope and kind as the store names them, its bytes in hex.
#[derive(Debug, Serialize, Deserialize)]
struct Histogram {
    scope: String,
    kind: String,
    hex: String,
}

/// A run record as a file.
#[derive(Debug, Serialize, Deserialize)]
struct Spilled {
    format: String,
    /// The `running` row the run began in the store it was meant for.
    run_id: Option<i64>,
    set_id: Option<String>,
    started_at_ms: i64,
    ended_at_ms: Option<i64>,
    status: String,
    status_reason: Option<String>,
    workload: String,
    workload_hash: String,
    settings: serde_json::Value,
    facts: RunFacts,
    target: String,
    server: ServerInfo,
    testbed: Testbed,
    git_commit: Option<String>,
    tool_version: String,
    summary: Option<Summary>,
    histograms: Vec<Histogram>,
    intervals: Vec<IntervalSample>,
    monitor: Option<MonitorReport>,
    #[serde(default)]
    work: Option<crate::record::work::Work>,
}

/// The directory beside the store file `store` where runs wait: `<store>.pending`.
pub fn dir_for(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_os_string();
    name.push(".pending");
    PathBuf::from(name)
}

/// Saves `rec` (begun as run `run_id`, if it was) in the pending directory of the store at
/// `store`, written whole or not at all; returns the file.
pub fn save(store: &Path, run_id: Option<i64>, rec: &RunRecord) -> Result<PathBuf, PendingError> {
    let dir = dir_for(store);
    let name = format!(
        "run-{}-{}-{}.json",
        run_id.map_or("new".to_string(), |i| i.to_string()),
        rec.started_at_ms,
        std::process::id()
    );
    let path = dir.join(name);
    let write_err = |source| PendingError::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(write_err)?;
    let json = serde_json::to_vec_pretty(&to_spilled(run_id, rec))
        .map_err(|e| write_err(std::io::Error::other(e)))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(write_err)?;
    std::fs::rename(&tmp, &path).map_err(write_err)?;
    Ok(path)
}

/// Reads a saved run: the id of the row it began (if any) and its record.
pub fn load(path: &Path) -> Result<(Option<i64>, RunRecord), PendingError> {
    let text = std::fs::read(path).map_err(|source| PendingError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let format_err = |detail: String| PendingError::Format {
        path: path.to_path_buf(),
        detail,
    };
    let s: Spilled = serde_json::from_slice(&text).map_err(|e| format_err(e.to_string()))?;
    if s.format != FORMAT {
        return Err(format_err(format!("its format is {:?}", s.format)));
    }
    let status = RunStatus::parse(&s.status)
        .ok_or_else(|| format_err(format!("unknown status {:?}", s.status)))?;
    let histograms = s
        .histograms
        .iter()
        .map(|h| {
            Ok(StoredHistogram {
                key: HistKey::new(HistScope::parse(&h.scope), HistKind::parse(&h.kind)),
                bytes: from_hex(&h.hex)
                    .ok_or_else(|| format_err(format!("histogram {} is not hex", h.scope)))?,
            })
        })
        .collect::<Result<_, PendingError>>()?;
    let rec = RunRecord {
        id: None,
        set_id: s.set_id,
        started_at_ms: s.started_at_ms,
        ended_at_ms: s.ended_at_ms,
        status: RunStatusField(status),
        status_reason: s.status_reason,
        workload: s.workload,
        workload_hash: s.workload_hash,
        settings: RunSettings::from_json(s.settings),
        facts: s.facts,
        target: s.target,
        server: s.server,
        testbed: s.testbed,
        git_commit: s.git_commit,
        tool_version: s.tool_version,
        summary: s.summary,
        histograms,
        intervals: s.intervals,
        monitor: s.monitor,
        work: s.work,
    };
    Ok((s.run_id, rec))
}

/// The files waiting in the pending directory of the store at `store`, oldest name first.
pub fn waiting(store: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir_for(store)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn to_spilled(run_id: Option<i64>, rec: &RunRecord) -> Spilled {
    let mut settings = rec.settings.to_json();
    redact_json(&mut settings);
    Spilled {
        format: FORMAT.to_string(),
        run_id,
        set_id: rec.set_id.clone(),
        started_at_ms: rec.started_at_ms,
        ended_at_ms: rec.ended_at_ms,
        status: rec.status.0.as_str().to_string(),
        status_reason: rec.status_reason.as_deref().map(redact_text),
        workload: rec.workload.clone(),
        workload_hash: rec.workload_hash.clone(),
        settings,
        facts: rec.facts.clone(),
        target: redact_url(&rec.target),
        server: rec.server.clone(),
        testbed: rec.testbed.clone(),
        git_commit: rec.git_commit.clone(),
        tool_version: rec.tool_version.clone(),
        summary: rec.summary.clone(),
        histograms: rec
            .histograms
            .iter()
            .map(|h| Histogram {
                scope: h.key.scope.to_string(),
                kind: h.key.kind.as_str().to_string(),
                hex: to_hex(&h.bytes),
            })
            .collect(),
        intervals: rec.intervals.clone(),
        monitor: rec.monitor.clone(),
        work: rec.work.clone(),
    }
}

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_garbage() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(from_hex(&to_hex(&bytes)), Some(bytes));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
    }

    #[test]
    fn a_saved_run_reads_back_whole_without_its_password() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("loadgate.db");
        let rec = RunRecord {
            started_at_ms: 1_700_000_000_000,
            ended_at_ms: Some(1_700_000_010_000),
            status: RunStatusField(RunStatus::Complete),
            workload: "w".into(),
            target: "mysql://u:hunter2@h:3306/db".into(),
            summary: Some(Summary {
                tps: 12.5,
                ..Summary::default()
            }),
            histograms: vec![StoredHistogram {
                key: HistKey::new(HistScope::TxnType("t".into()), HistKind::Service),
                bytes: vec![1, 2, 250],
            }],
            intervals: vec![IntervalSample {
                t: 1.0,
                transactions: 7,
                ..IntervalSample::default()
            }],
            ..RunRecord::default()
        };
        let path = save(&store, Some(3), &rec).unwrap();
        assert_eq!(path.parent(), Some(dir_for(&store).as_path()));
        assert_eq!(waiting(&store), std::slice::from_ref(&path));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("hunter2"));
        let (id, back) = load(&path).unwrap();
        assert_eq!(id, Some(3));
        let want = RunRecord {
            target: redact_url(&rec.target),
            ..rec
        };
        assert_eq!(back, want);
        std::fs::write(&path, "{}").unwrap();
        assert!(matches!(load(&path), Err(PendingError::Format { .. })));
    }
}
