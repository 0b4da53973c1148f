//! `loadgate bulk` against a real server: every strategy syncs exactly, re-sync upsert counts
//! match what really changed, a killed connection mid-batch loses and duplicates nothing, bad
//! rows are reported with their key under both policies, `local_infile` off gives its clear
//! error, a target that differs from the source fails the verification, and tables loadgate
//! does not own are refused.

use crate::common::*;
use std::collections::BTreeMap;

const STRATEGIES: [&str; 4] = ["row", "values", "prepared", "load-data"];
const COLS: &str =
    "order_ref, customer_id, status, quantity, amount, currency, ordered_at, email, note";

fn bulk(dir: &std::path::Path, url: &str, args: &[&str]) -> std::process::Output {
    let mut c = lg(dir);
    c.args(["bulk", "--target", url, "-q", "--json"]).args(args);
    run(c)
}

/// The one result of a single-strategy `bulk --json`.
fn result(o: &std::process::Output) -> serde_json::Value {
    let v = json(o);
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    v[0]["result"].clone()
}

/// Count and CRC32 sum over the synced columns, computed here, independently of loadgate.
fn table_sum(url: &str, db: &str) -> (String, String) {
    let cols: Vec<String> = COLS
        .split(", ")
        .map(|c| format!("IFNULL({c}, 'null')"))
        .collect();
    let r = sql(
        url,
        &[&format!(
            "SELECT COUNT(*), COUNT(DISTINCT order_ref), SUM(CRC32(CONCAT_WS('#', {}))) FROM `{db}`.bulk_orders",
            cols.join(", ")
        )],
    );
    assert_eq!(r[0][0], r[0][1], "duplicate keys in {db}");
    (r[0][0].clone(), r[0][2].clone())
}

/// Per key, a CRC32 of the row.
fn snapshot(url: &str, db: &str) -> BTreeMap<String, String> {
    let cols: Vec<String> = COLS
        .split(", ")
        .map(|c| format!("IFNULL({c}, 'null')"))
        .collect();
    sql(
        url,
        &[&format!(
            "SELECT order_ref, CRC32(CONCAT_WS('#', {})) FROM `{db}`.bulk_orders",
            cols.join(", ")
        )],
    )
    .into_iter()
    .map(|r| (r[0].clone(), r[1].clone()))
    .collect()
}

#[test]
fn each_strategy_syncs_exactly_the_same_rows() {
    let d = scratch();
    let mut sums = Vec::new();
    for s in STRATEGIES {
        let db = format!("t_bulk_exact_{}", s.replace('-', "_"));
        let url = fresh_db(&db);
        let o = bulk(
            d.path(),
            &url,
            &[
                "--strategy",
                s,
                "--rows",
                "1500",
                "--batch-size",
                "200",
                "--workers",
                "3",
            ],
        );
        let r = result(&o);
        assert!(o.status.success(), "{s}: {}\n{r}", stderr(&o));
        assert_eq!(r["inserted"], 1500, "{s}: {r}");
        assert_eq!(r["verification"]["ok"], true, "{s}: {r}");
        assert_eq!(r["verification"]["actual"]["rows"], 1500, "{s}");
        assert_eq!(r["batches"], 8, "{s}: 1500 rows in batches of 200");
        sums.push((s, table_sum(&url, &db)));
    }
    assert_eq!(sums[0].1 .0, "1500");
    for (s, sum) in &sums[1..] {
        assert_eq!(sum, &sums[0].1, "{s} stored other rows than row-by-row");
    }
}

#[test]
fn a_resync_counts_inserted_updated_and_unchanged_rows_right() {
    let d = scratch();
    for s in STRATEGIES {
        let db = format!("t_bulk_resync_{}", s.replace('-', "_"));
        let url = fresh_db(&db);
        let o = bulk(d.path(), &url, &["--strategy", "values", "--rows", "1000"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let before = snapshot(&url, &db);
        // 200 new rows, and revision 1 changes about 10 % of the rows.
        let o = bulk(
            d.path(),
            &url,
            &[
                "--strategy",
                s,
                "--rows",
                "1200",
                "--revision",
                "1",
                "--batch-size",
                "250",
            ],
        );
        let r = result(&o);
        assert!(o.status.success(), "{s}: {}\n{r}", stderr(&o));
        let after = snapshot(&url, &db);
        assert_eq!(after.len(), 1200);
        let changed = before
            .iter()
            .filter(|(k, crc)| after.get(*k) != Some(*crc))
            .count() as u64;
        assert!((50..200).contains(&changed), "{changed} rows changed");
        assert_eq!(r["inserted"], 200, "{s}: {r}");
        assert_eq!(r["updated"], changed, "{s}: {r}");
        assert_eq!(r["unchanged"], 1000 - changed, "{s}: {r}");
        assert_eq!(r["verification"]["ok"], true, "{s}: {r}");
        if s == "load-data" {
            assert!(
                r["method"].as_str().unwrap().contains("staging"),
                "a non-empty target goes through staging: {r}"
            );
        }
    }
}

#[test]
fn a_connection_killed_mid_batch_loses_and_duplicates_nothing() {
    let d = scratch();
    for s in ["values", "prepared", "load-data", "row"] {
        let db = format!("t_bulk_fault_{}", s.replace('-', "_"));
        let url = fresh_db(&db);
        let o = bulk(
            d.path(),
            &url,
            &[
                "--strategy",
                s,
                "--rows",
                "1200",
                "--batch-size",
                "100",
                "--fault-every",
                "3",
            ],
        );
        let r = result(&o);
        assert!(o.status.success(), "{s}: {}\n{r}", stderr(&o));
        assert_eq!(r["retries"], 4, "{s}: batches 3, 6, 9, 12 retried: {r}");
        assert_eq!(r["inserted"], 1200, "{s}: {r}");
        assert_eq!(r["verification"]["ok"], true, "{s}: {r}");
        assert_eq!(table_sum(&url, &db).0, "1200", "{s}");
    }
}

#[test]
fn a_bad_row_is_reported_with_its_key_and_the_policy_applies() {
    let d = scratch();
    for s in STRATEGIES {
        let db = format!("t_bulk_bad_{}", s.replace('-', "_"));
        let url = fresh_db(&db);
        // stop: the run fails, naming the key and the server's error.
        let o = bulk(
            d.path(),
            &url,
            &[
                "--strategy",
                s,
                "--rows",
                "900",
                "--batch-size",
                "100",
                "--workers",
                "1",
                "--bad-rows",
                "2",
            ],
        );
        assert_eq!(o.status.code(), Some(5), "{s}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains("order_ref=\"ORD-0000000300\"") && e.contains("status"),
            "{s}: {e}"
        );
        assert!(e.contains("--on-bad-row"), "{s}: {e}");
        // Batches before the bad one are in, nothing of its batch or later.
        assert_eq!(table_sum(&url, &db).0, "299", "{s}");

        // skip: both bad rows reported and left out, the rest synced and verified.
        let o = bulk(
            d.path(),
            &url,
            &[
                "--strategy",
                s,
                "--rows",
                "900",
                "--batch-size",
                "100",
                "--bad-rows",
                "2",
                "--on-bad-row",
                "skip",
                "--fresh",
            ],
        );
        let r = result(&o);
        assert!(o.status.success(), "{s}: {}\n{r}", stderr(&o));
        let mut bad: Vec<(String, u64)> = r["bad_rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["key"].as_str().unwrap().to_string(),
                    b["code"].as_u64().unwrap(),
                )
            })
            .collect();
        bad.sort();
        assert_eq!(bad.len(), 2, "{s}: {r}");
        assert_eq!(bad[0].0, "ORD-0000000300");
        assert_eq!(bad[1], ("ORD-0000000600".to_string(), 1366), "wrong type");
        assert_eq!(r["skipped_bad"], 2);
        assert_eq!(r["inserted"], 898);
        assert_eq!(r["verification"]["ok"], true, "{s}: {r}");
        let there = sql(
            &url,
            &["SELECT COUNT(*) FROM bulk_orders WHERE order_ref IN ('ORD-0000000300', 'ORD-0000000600')"],
        );
        assert_eq!(there[0][0], "0", "{s}: a bad row was stored (truncated?)");
    }
}

#[test]
fn local_infile_off_gives_a_clear_error() {
    let srv = own_server(&loadgate::server::LocalServerOptions {
        extra_args: vec!["--local-infile=0".into()],
        ..Default::default()
    });
    let d = scratch();
    let url = format!("{}t_bulk_infile", srv.url());
    let o = bulk(
        d.path(),
        &url,
        &["--strategy", "load-data", "--rows", "100"],
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("refuses LOAD DATA LOCAL INFILE")
            && e.contains("`local_infile` setting is OFF")
            && e.contains("SET GLOBAL local_infile = ON")
            && e.contains(&format!("127.0.0.1:{}", srv.port())),
        "{e}"
    );
    // The other strategies still work there.
    let o = bulk(d.path(), &url, &["--strategy", "values", "--rows", "100"]);
    assert!(o.status.success(), "{}", stderr(&o));
    srv.stop();
}

#[test]
fn a_target_that_differs_from_the_source_fails_the_verification() {
    let d = scratch();
    let url = fresh_db("t_bulk_mismatch");
    let o = bulk(d.path(), &url, &["--strategy", "values", "--rows", "300"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A row the source does not have.
    sql(
        &url,
        &[&format!(
            "INSERT INTO bulk_orders ({COLS}) SELECT 'ORD-X', customer_id, status, quantity, amount, currency, ordered_at, email, note FROM bulk_orders LIMIT 1"
        )],
    );
    let o = bulk(d.path(), &url, &["--strategy", "prepared", "--rows", "300"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("VERIFICATION FAILED") && e.contains("has 301 rows") && e.contains("300 rows"),
        "{e}"
    );
    let r = result(&o);
    assert_eq!(r["verification"]["ok"], false);
}

#[test]
fn rows_from_a_source_table_sync_and_verify_against_the_source_server() {
    let d = scratch();
    let src = fresh_db("t_bulk_src");
    let o = bulk(d.path(), &src, &["--strategy", "values", "--rows", "700"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dst = fresh_db("t_bulk_dst");
    for s in STRATEGIES {
        let o = bulk(
            d.path(),
            &dst,
            &[
                "--strategy",
                s,
                "--source",
                &src,
                "--fresh",
                "--batch-size",
                "128",
            ],
        );
        let r = result(&o);
        assert!(o.status.success(), "{s}: {}\n{r}", stderr(&o));
        assert_eq!(r["rows"], 700);
        assert_eq!(r["verification"]["expected_from"], "the source server");
        assert_eq!(r["verification"]["ok"], true, "{s}: {r}");
        assert_eq!(table_sum(&dst, "t_bulk_dst"), table_sum(&src, "t_bulk_src"));
    }
}

#[test]
fn tables_loadgate_does_not_own_are_refused() {
    let d = scratch();
    let url = fresh_db("t_bulk_foreign");
    sql(&url, &["CREATE TABLE bulk_orders (id INT PRIMARY KEY)"]);
    let o = bulk(d.path(), &url, &["--rows", "10"]);
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    assert!(stderr(&o).contains("was not created by loadgate"));
    let url = fresh_db("t_bulk_foreign2");
    sql(&url, &["CREATE TABLE customers (id INT PRIMARY KEY)"]);
    let o = bulk(d.path(), &url, &["--rows", "10"]);
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    let o = bulk(d.path(), &url, &["--rows", "10", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sql(&url, &["SELECT COUNT(*) FROM customers"])[0][0], "0");
}

#[test]
fn strategy_all_prints_one_comparison_table_and_stores_each_run() {
    let d = scratch();
    let url = fresh_db("t_bulk_all");
    let mut c = lg(d.path());
    c.args([
        "bulk",
        "--target",
        &url,
        "-q",
        "--strategy",
        "all",
        "--rows",
        "600",
        "--markdown",
    ]);
    let out = ok(run(c));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("| strategy | rows/s | MB/s | vs row-by-row"),
        "{out}"
    );
    for s in STRATEGIES {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("| {s} |")) && l.contains("| yes |")),
            "{s}: {out}"
        );
    }
    let mut c = lg(d.path());
    c.args(["runs", "--json"]);
    let runs = json(&run(c));
    assert_eq!(runs.as_array().unwrap().len(), 4);
    assert!(runs
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "complete" && r["workload"] == "bulk_sync"));
}

#[test]
fn workloads_lists_the_bulk_workload_and_run_refuses_it() {
    let d = scratch();
    std::fs::create_dir_all(d.path().join("workloads")).unwrap();
    std::fs::copy(
        repo_path("workloads/bulk_sync.toml"),
        d.path().join("workloads/my_bulk.toml"),
    )
    .unwrap();
    let mut c = lg(d.path());
    c.args(["workloads"]);
    let out = ok(run(c));
    assert!(
        out.lines()
            .any(|l| l.starts_with("bulk_sync") && l.contains("(loadgate bulk)")),
        "{out}"
    );
    assert!(!out.contains("INVALID"), "{out}");
    let mut c = lg(d.path());
    c.args(["run", "workloads/my_bulk.toml", "--target", &server_url()]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("loadgate bulk"), "{}", stderr(&o));
}

/// The built-in workload's file with `edits` (from, to) applied, each of which must match,
/// written into `dir` as `name`; then a load-data sync of 800 rows of it into database `db`.
/// Returns the database URL and the sync's result, which must have succeeded.
fn load_data_of_edited_workload(
    dir: &std::path::Path,
    name: &str,
    db: &str,
    edits: &[(&str, &str)],
) -> (String, serde_json::Value) {
    let mut text = std::fs::read_to_string(repo_path("workloads/bulk_sync.toml")).unwrap();
    for (from, to) in edits {
        assert!(
            text.contains(from),
            "the workload's DDL changed; adjust the test: {from}"
        );
        text = text.replace(from, to);
    }
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    let url = fresh_db(db);
    let o = bulk(
        dir,
        &url,
        &[
            file.to_str().unwrap(),
            "--strategy",
            "load-data",
            "--rows",
            "800",
        ],
    );
    let r = result(&o);
    assert!(o.status.success(), "{}\n{r}", stderr(&o));
    assert_eq!(r["verification"]["ok"], true, "{r}");
    (url, r)
}

#[test]
fn load_data_sends_binary_only_when_no_target_column_needs_a_conversion() {
    let d = scratch();
    // The built-in table is utf8mb4 throughout: nothing to convert.
    let url = fresh_db("t_bulk_cs_utf8mb4");
    let o = bulk(
        d.path(),
        &url,
        &["--strategy", "load-data", "--rows", "800"],
    );
    let r = result(&o);
    assert!(o.status.success(), "{}\n{r}", stderr(&o));
    assert!(
        r["method"]
            .as_str()
            .unwrap()
            .contains("CHARACTER SET binary"),
        "{r}"
    );
    // The built-in table is keyed by its natural key: no AUTO-INC lock, no note.
    assert!(!r["notes"].to_string().contains("AUTO-INC lock"), "{r}");
    // A latin1 `note` (the generated notes hold é, ü, å...): the server must convert, or the
    // text would be stored as mojibake and the verification would fail.
    let (url, r) = load_data_of_edited_workload(
        d.path(),
        "bulk_latin1.toml",
        "t_bulk_cs_latin1",
        &[(
            "note        TEXT            NULL",
            "note        TEXT CHARACTER SET latin1 NULL",
        )],
    );
    assert!(
        r["method"]
            .as_str()
            .unwrap()
            .contains("CHARACTER SET utf8mb4"),
        "{r}"
    );
    let e_acute = sql(
        &url,
        &["SELECT COUNT(*) FROM bulk_orders WHERE HEX(note) LIKE '%E9%' AND HEX(note) NOT LIKE '%C3A9%'"],
    );
    assert_ne!(e_acute[0][0], "0", "no latin1 é stored");
}

/// A target with a surrogate AUTO_INCREMENT key: under innodb_autoinc_lock_mode 0 or 1 the
/// workers' LOAD DATA statements take turns on the table's AUTO-INC lock, and the result says so.
#[test]
fn load_data_into_an_auto_increment_table_says_the_loads_take_turns() {
    let d = scratch();
    let (url, r) = load_data_of_edited_workload(
        d.path(),
        "bulk_surrogate.toml",
        "t_bulk_autoinc",
        &[
            (
                "  order_ref   VARCHAR(24)     NOT NULL,",
                "  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,\n  order_ref   VARCHAR(24)     NOT NULL,",
            ),
            (
                "  PRIMARY KEY (order_ref)",
                "  PRIMARY KEY (id),\n  UNIQUE KEY uk_order_ref (order_ref)",
            ),
        ],
    );
    let mode: u32 = sql(&url, &["SELECT @@innodb_autoinc_lock_mode"])[0][0]
        .parse()
        .unwrap();
    let notes = r["notes"].to_string();
    assert_eq!(
        notes.contains("AUTO-INC lock") && notes.contains("`id`"),
        mode <= 1,
        "mode {mode}: {r}"
    );
}

#[test]
fn invalid_utf8_from_a_source_is_a_bad_row_for_every_strategy() {
    let d = scratch();
    let src = fresh_db("t_bulk_src_bytes");
    let o = bulk(d.path(), &src, &["--strategy", "values", "--rows", "400"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The source holds bytes, one row of them not UTF-8; the target's `note` is utf8mb4 text.
    sql(
        &src,
        &[
            "ALTER TABLE bulk_orders MODIFY note BLOB NULL",
            "UPDATE bulk_orders SET note = x'6361666580ff' WHERE order_ref = 'ORD-0000000123'",
        ],
    );
    let dst = fresh_db("t_bulk_dst_bytes");
    for s in STRATEGIES {
        let o = bulk(
            d.path(),
            &dst,
            &[
                "--strategy",
                s,
                "--source",
                &src,
                "--fresh",
                "--batch-size",
                "64",
                "--on-bad-row",
                "skip",
            ],
        );
        let r = result(&o);
        assert!(o.status.success(), "{s}: {}\n{r}", stderr(&o));
        let bad = r["bad_rows"].as_array().unwrap();
        assert_eq!(bad.len(), 1, "{s}: {r}");
        assert_eq!(bad[0]["key"], "ORD-0000000123", "{s}: {r}");
        assert_eq!(bad[0]["code"], 1366, "{s}: {r}");
        assert_eq!(r["verification"]["ok"], true, "{s}: {r}");
        let there = sql(
            &dst,
            &["SELECT COUNT(*) FROM bulk_orders WHERE order_ref = 'ORD-0000000123'"],
        );
        assert_eq!(there[0][0], "0", "{s}: the bad row was stored");
    }
}

#[test]
fn repeats_run_rounds_in_rotated_order_and_the_table_shows_medians() {
    let d = scratch();
    let url = fresh_db("t_bulk_repeats");
    let o = bulk(
        d.path(),
        &url,
        &[
            "--strategy",
            "values,load-data",
            "--repeats",
            "2",
            "--rows",
            "500",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let runs = json(&o);
    let order: Vec<(u64, String)> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["result"]["verification"]["ok"], true, "{r}");
            assert_eq!(
                r["result"]["inserted"], 500,
                "each run starts from an empty target: {r}"
            );
            (
                r["round"].as_u64().unwrap(),
                r["result"]["strategy"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            (1, "values".to_string()),
            (1, "load-data".to_string()),
            (2, "load-data".to_string()),
            (2, "values".to_string()),
        ]
    );
    let mut c = lg(d.path());
    c.args([
        "bulk",
        "--target",
        &url,
        "-q",
        "--strategy",
        "values,load-data",
        "--repeats",
        "3",
        "--rows",
        "500",
        "--markdown",
    ]);
    let out = ok(run(c));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("| strategy | rows/s (median) | min–max (spread) |"),
        "{out}"
    );
    assert_eq!(lines.len(), 4, "one line per strategy: {out}");
    assert!(
        lines[2].starts_with("| values |") && lines[2].ends_with("| yes (3/3) |"),
        "{out}"
    );
    assert!(
        lines[3].starts_with("| load-data |") && lines[3].ends_with("| yes (3/3) |"),
        "{out}"
    );
    let mut c = lg(d.path());
    c.args(["runs", "--json"]);
    let stored = json(&run(c));
    assert_eq!(
        stored.as_array().unwrap().len(),
        4 + 6,
        "every run is stored"
    );
}
