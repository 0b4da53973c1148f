//! Evidence attached to a run, and links between runs.
//!
//! Some workloads produce results that do not fit the OLTP [`crate::record::Summary`]: a bulk
//! sync's rows/s, upsert counts and checksums; an index change's `EXPLAIN FORMAT=JSON` output,
//! DDL timings, index sizes and verdict. They are stored as JSON documents keyed by
//! `(run, kind, name)`, redacted like everything else on the way in. Runs that belong together
//! in a fixed relation (an index workload's `before` run and its `after` run) are linked, so
//! compare machinery can find the pair from either end.

use rusqlite::named_params;

use super::redact::redact_json;
use super::{Store, StoreError};

/// One evidence document of a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evidence {
    /// What kind of document: `bulk_sync`, `explain`, `index_report`...
    pub kind: String,
    /// Which one of that kind (a strategy, a probe name...).
    pub name: String,
    pub json: serde_json::Value,
}

/// A link between two runs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunLink {
    pub from_run: i64,
    pub to_run: i64,
    /// E.g. `index_after`: `to_run` is the after-change run of the before-change `from_run`.
    pub relation: String,
}

impl Store {
    /// Stores (or replaces) evidence document `(kind, name)` of run `run_id`.
    pub fn put_evidence(
        &mut self,
        run_id: i64,
        kind: &str,
        name: &str,
        json: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut json = json.clone();
        redact_json(&mut json);
        let text = serde_json::to_string(&json).map_err(|source| StoreError::Encode {
            what: "evidence",
            source,
        })?;
        self.write("store evidence of a run", |tx| {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO run_evidence (run_id, kind, name, json) \
                 VALUES (:run_id, :kind, :name, :json)",
            )?
            .execute(named_params! {
                ":run_id": run_id,
                ":kind": kind,
                ":name": name,
                ":json": text,
            })?;
            Ok(())
        })
    }

    /// The evidence documents of run `run_id`, by kind and name.
    pub fn evidence(&self, run_id: i64) -> Result<Vec<Evidence>, StoreError> {
        self.read("read the evidence of a run", |tx| {
            let mut st = tx.prepare_cached(
                "SELECT kind, name, json FROM run_evidence WHERE run_id = :run_id \
                 ORDER BY kind, name",
            )?;
            let rows = st.query_map(named_params! {":run_id": run_id}, |r| {
                Ok((
                    r.get::<_, String>("kind")?,
                    r.get::<_, String>("name")?,
                    r.get::<_, String>("json")?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (kind, name, text) = row?;
                let json = serde_json::from_str(&text).map_err(|e| super::TxError::Corrupt {
                    id: run_id,
                    detail: format!("its evidence {kind}/{name} is not valid JSON: {e}"),
                })?;
                out.push(Evidence { kind, name, json });
            }
            Ok(out)
        })
    }

    /// Links run `from_run` to run `to_run` with `relation` (idempotent).
    pub fn link_runs(
        &mut self,
        from_run: i64,
        to_run: i64,
        relation: &str,
    ) -> Result<(), StoreError> {
        self.write("link two runs", |tx| {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO run_links (from_run, to_run, relation) \
                 VALUES (:from_run, :to_run, :relation)",
            )?
            .execute(named_params! {
                ":from_run": from_run,
                ":to_run": to_run,
                ":relation": relation,
            })?;
            Ok(())
        })
    }

    /// Every link that starts or ends at run `id`.
    pub fn run_links(&self, id: i64) -> Result<Vec<RunLink>, StoreError> {
        self.read("read the links of a run", |tx| {
            let mut st = tx.prepare_cached(
                "SELECT from_run, to_run, relation FROM run_links \
                 WHERE from_run = :id OR to_run = :id ORDER BY from_run, to_run, relation",
            )?;
            let rows = st.query_map(named_params! {":id": id}, |r| {
                Ok(RunLink {
                    from_run: r.get("from_run")?,
                    to_run: r.get("to_run")?,
                    relation: r.get("relation")?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::record::RunRecord;
    use crate::store::Store;

    #[test]
    fn evidence_and_links_round_trip_and_cascade() {
        let mut s = Store::open_in_memory().unwrap();
        let a = s.insert_run(&RunRecord::default()).unwrap();
        let b = s.insert_run(&RunRecord::default()).unwrap();
        let doc = serde_json::json!({"target": "mysql://u:secret@h:1/db", "rows": 3});
        s.put_evidence(a, "bulk_sync", "values", &doc).unwrap();
        s.put_evidence(a, "bulk_sync", "values", &doc).unwrap();
        let ev = s.evidence(a).unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].json["rows"], 3);
        assert!(!ev[0].json.to_string().contains("secret"), "{:?}", ev[0]);
        s.link_runs(a, b, "index_after").unwrap();
        s.link_runs(a, b, "index_after").unwrap();
        assert_eq!(s.run_links(b).unwrap(), s.run_links(a).unwrap());
        assert_eq!(s.run_links(a).unwrap().len(), 1);
        s.delete_run(a).unwrap();
        assert!(s.evidence(a).unwrap().is_empty());
        assert!(s.run_links(b).unwrap().is_empty());
    }
}
