//! `loadgate index` against a real server: the EXPLAIN check passes with the index and fails
//! once it is dropped, a probe that does not use its index fails the verdict with the EXPLAIN
//! shown, the rollback leaves the schema as it was, and before/after are linked stored runs.

use crate::common::*;
use loadgate::index::{explain, spec};
use loadgate::target::Target;
use std::path::Path;

const SMALL: &[&str] = &[
    "--set",
    "orders=20000",
    "--set",
    "users=500",
    "--duration",
    "1s",
    "--warmup",
    "0s",
    "--settle",
    "0s",
    "--read-workers",
    "1",
    "--write-workers",
    "1",
];

fn index(dir: &Path, url: &str, args: &[&str]) -> std::process::Output {
    let mut c = lg(dir);
    c.args(["index", "--target", url, "-q"])
        .args(SMALL)
        .args(args);
    run(c)
}

/// `SHOW CREATE TABLE` without the AUTO_INCREMENT counter (the write mix moves it).
fn schema(url: &str, table: &str) -> String {
    let s = sql(url, &[&format!("SHOW CREATE TABLE {table}")])[0][1].clone();
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find(" AUTO_INCREMENT=") {
        out.push_str(&rest[..i]);
        rest = rest[i + 16..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out + rest
}

#[test]
fn the_explain_check_passes_with_the_index_and_fails_when_it_is_dropped() {
    let d = scratch();
    let url = fresh_db("t_index_explain");
    let o = index(d.path(), &url, &["--keep", "--json"]);
    let rep = json(&o);
    assert!(
        matches!(o.status.code(), Some(0) | Some(1)),
        "{}",
        stderr(&o)
    );
    for c in rep["explain_after"].as_array().unwrap() {
        assert_eq!(c["ok"], true, "{c}");
    }
    // Before the change no probe could use its index.
    for c in rep["explain_before"].as_array().unwrap() {
        assert_eq!(c["ok"], false, "{c}");
    }
    assert!(rep["rollback"].is_null() && rep["kept"] == true);

    // The same check through the library, against the kept indexes, then with one dropped.
    let spec = spec::load(
        "index_before_after",
        &[
            ("orders".into(), "20000".into()),
            ("users".into(), "500".into()),
        ],
    )
    .unwrap();
    let target = Target::parse(&url).unwrap();
    let probe = spec
        .probes
        .iter()
        .find(|p| p.name == "orders_changed_since")
        .unwrap();
    let params = vec![Some(b"2024-12-25 00:00:00".to_vec())];
    let check = |url: &str| {
        block_on(async {
            let mut conn = connect(url).await;
            explain::check_probe(&mut conn, &target, probe, &params)
                .await
                .unwrap()
        })
    };
    let with = check(&url);
    assert!(with.ok, "{:?}", with.problems);
    assert_eq!(
        with.tables[0].key.as_deref(),
        Some("idx_orders_update_time")
    );
    sql(
        &url,
        &["ALTER TABLE cdc_orders DROP INDEX idx_orders_update_time"],
    );
    let without = check(&url);
    assert!(!without.ok);
    assert!(
        without.problems[0].contains("does not use index `idx_orders_update_time`")
            && without.problems[0].contains("access ALL"),
        "{:?}",
        without.problems
    );
    assert!(without.explain["query_block"].is_object());
}

#[test]
fn rollback_leaves_the_schema_as_it_was() {
    let d = scratch();
    let url = fresh_db("t_index_rollback");
    // First run: creates the tables, then rolls its indexes back.
    let o = index(d.path(), &url, &["--json"]);
    assert!(
        matches!(o.status.code(), Some(0) | Some(1)),
        "{}",
        stderr(&o)
    );
    assert_eq!(json(&o)["rollback"]["schema_restored"], true);
    let before = (schema(&url, "cdc_orders"), schema(&url, "cdc_users"));
    assert!(!before.0.contains("idx_"), "{}", before.0);
    // Second run on the same tables: compare the schema around it ourselves.
    let o = index(d.path(), &url, &["--reuse", "--json"]);
    assert!(
        matches!(o.status.code(), Some(0) | Some(1)),
        "{}",
        stderr(&o)
    );
    let rep = json(&o);
    assert_eq!(rep["setup"]["reused"], true);
    assert_eq!(rep["change"]["ddl"].as_array().unwrap().len(), 3);
    assert!(rep["change"]["ddl"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["online"] == true && d["sql"].as_str().unwrap().contains("LOCK=NONE")));
    let after = (schema(&url, "cdc_orders"), schema(&url, "cdc_users"));
    assert_eq!(before, after);
    // --keep leaves them; a run on top of kept indexes is refused (its "before" would be wrong).
    let o = index(d.path(), &url, &["--reuse", "--keep"]);
    assert!(
        matches!(o.status.code(), Some(0) | Some(1)),
        "{}",
        stderr(&o)
    );
    assert_ne!(schema(&url, "cdc_orders"), before.0);
    let o = index(d.path(), &url, &["--reuse"]);
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
}

#[test]
fn a_probe_that_does_not_use_its_index_fails_the_verdict_and_shows_the_explain() {
    let d = scratch();
    let url = fresh_db("t_index_wrong");
    let text = std::fs::read_to_string(repo_path("workloads/index_before_after.toml")).unwrap();
    // Expect the extraction probe to use the (user, time) index: it will not.
    let text = text.replacen(
        "expect = [{ table = \"cdc_orders\", key = \"idx_orders_update_time\"",
        "expect = [{ table = \"cdc_orders\", key = \"idx_orders_user_create\"",
        1,
    );
    let file = d.path().join("wrong.toml");
    std::fs::write(&file, text).unwrap();
    let mut c = lg(d.path());
    c.args(["index", file.to_str().unwrap(), "--target", &url, "-q"])
        .args(SMALL)
        .args(["--acceptance", "reads=0%,writes=100%"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("orders_changed_since         DOES NOT USE ITS INDEX")
            && out.contains("does not use index `idx_orders_user_create`")
            && out.contains("\"query_block\"")
            && out.contains("Verdict: FAIL"),
        "{out}"
    );
    assert!(stderr(&o).contains("verdict: FAIL"), "{}", stderr(&o));
}

#[test]
fn before_and_after_are_stored_as_linked_runs_with_their_evidence() {
    let d = scratch();
    let url = fresh_db("t_index_runs");
    let o = index(d.path(), &url, &["--json"]);
    assert!(
        matches!(o.status.code(), Some(0) | Some(1)),
        "{}",
        stderr(&o)
    );
    let rep = json(&o);
    let (b, a) = (
        rep["before_run"].as_i64().unwrap(),
        rep["after_run"].as_i64().unwrap(),
    );
    let store = loadgate::store::Store::open(&d.path().join("store.db")).unwrap();
    let links = store.run_links(a).unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!((links[0].from_run, links[0].to_run), (b, a));
    assert_eq!(links[0].relation, "index_after");
    for id in [b, a] {
        let rec = store.get_run(id).unwrap();
        assert_eq!(rec.status.0, loadgate::record::RunStatus::Complete);
        assert_eq!(rec.set_id, store.get_run(b).unwrap().set_id);
        let s = rec.summary.unwrap();
        assert!(s.tps > 0.0, "the write mix ran");
        let names: Vec<&str> = s
            .transactions_by_type
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert!(names.contains(&"probe:orders_changed_since"), "{names:?}");
        assert!(names.contains(&"write:new_order"), "{names:?}");
        assert!(rec
            .histograms
            .iter()
            .any(|h| h.key.scope.to_string() == "txn:probe:user_orders_since"));
        let ev = store.evidence(id).unwrap();
        assert_eq!(ev.iter().filter(|e| e.kind == "explain").count(), 3);
        assert!(ev.iter().any(|e| e.kind == "index_report"));
    }
    let settings_phase = |id| store.get_run(id).unwrap().settings.to_json()["phase"].clone();
    assert_eq!(settings_phase(b), "before");
    assert_eq!(settings_phase(a), "after");
}
