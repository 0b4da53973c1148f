//! What a first user meets: where the run store is found (the nearest `baselines/` upward, else
//! the per-user data directory; reading commands never create one), read-only workloads on
//! tables loadgate did not create, and the hints and output a first user meets.

use crate::common::*;
use std::path::Path;
use std::process::Command;

/// `loadgate` in `cwd` with no store named: it finds one as a user's shell would, with the
/// per-user data directory inside `home` (never the developer's own).
fn lg_unnamed(cwd: &Path, home: &Path) -> Command {
    let mut c = lg(cwd);
    c.env_remove("LOADGATE_STORE")
        .env("XDG_DATA_HOME", home.join("data"))
        .env("HOME", home);
    c
}

/// Every file under `dir`, for "nothing was created" checks.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn reading_commands_never_create_a_store() {
    let d = scratch();
    let cwd = d.path().join("work");
    std::fs::create_dir(&cwd).unwrap();
    let before = files_under(d.path());
    let user = d.path().join("data").join("loadgate").join("loadgate.db");

    // `runs` answers "no runs" and names the store it looked for.
    let mut c = lg_unnamed(&cwd, d.path());
    c.arg("runs");
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&user.display().to_string()), "{err}");
    assert!(err.contains("no run store"), "{err}");
    let mut c = lg_unnamed(&cwd, d.path());
    c.args(["runs", "--json"]);
    assert_eq!(ok_json(c), serde_json::json!([]));

    // The others answer as on an empty store (exit 2: no such run or baseline), after a note
    // naming the path and how it was looked for.
    for args in [
        &["show", "last"][..],
        &["history", "oltp_point_select"],
        &["baseline", "show", "x"],
        &["compare", "--baseline", "x"],
    ] {
        let mut c = lg_unnamed(&cwd, d.path());
        c.args(args);
        let o = run(c);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("note: no run store at"), "{args:?}: {err}");
        assert!(err.contains(&user.display().to_string()), "{err}");
        assert!(err.contains("baselines/"), "{args:?}: {err}");
    }
    let mut c = lg_unnamed(&cwd, d.path());
    c.args(["baseline", "list"]);
    ok(run(c));
    assert_eq!(
        files_under(d.path()),
        before,
        "a reading command created a file"
    );

    // An explicit store that does not exist is not created either.
    let named = d.path().join("named.db");
    let o = lg_run(&cwd, &["show", "last", "--store", named.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("named by --store"), "{}", stderr(&o));
    assert!(!named.exists());
}

#[test]
fn the_store_is_found_upward_from_the_current_directory() {
    let d = scratch();
    let url = fresh_db("newcomer_upward");
    let project = d.path().join("project");
    let deep = project.join("src").join("deeper");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::create_dir(project.join("baselines")).unwrap();
    prepare_on(d.path(), "oltp_point_select", &url, 200, &[]);

    // A run from the project root lands in its baselines/.
    let mut c = lg_unnamed(&project, d.path());
    c.args(["run", "oltp_point_select", "--target", &url])
        .args([
            "--table-size",
            "200",
            "--warmup",
            "0",
            "--duration",
            "1s",
            "-q",
        ]);
    ok(run(c));
    let store = project.join("baselines").join("loadgate.db");
    assert!(store.is_file());

    // `runs` from two levels down finds it, and says so.
    let mut c = lg_unnamed(&deep, d.path());
    c.arg("runs");
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("oltp_point_select"), "{out}");
    let err = stderr(&o);
    assert!(
        err.contains(&format!("store: {}", store.display())),
        "{err}"
    );
    let mut c = lg_unnamed(&deep, d.path());
    c.args(["show", "last", "--json"]);
    assert_eq!(ok_json(c)["workload"], "oltp_point_select");
    assert!(!deep.join("baselines").exists());
    assert!(
        !d.path().join("data").exists(),
        "no per-user store was made"
    );
}

/// sysbench's own `sbtest1` as sysbench creates it (no loadgate mark), 100 rows, in `db`.
fn sysbench_table(db: &str) -> String {
    let url = fresh_db(db);
    let rows: Vec<String> = (1..=100)
        .map(|i| format!("({i}, {i}, 'c{i}', 'pad{i}')"))
        .collect();
    sql(
        &url,
        &[
            "CREATE TABLE sbtest1 (id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER NOT NULL DEFAULT '0', \
             c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', PRIMARY KEY (id), KEY k_1 (k))",
            &format!("INSERT INTO sbtest1 VALUES {}", rows.join(", ")),
        ],
    );
    url
}

fn checksum(url: &str) -> Vec<Vec<String>> {
    sql(url, &["CHECKSUM TABLE sbtest1"])
}

#[test]
fn a_read_only_workload_runs_on_tables_loadgate_did_not_create() {
    let d = scratch();
    let url = sysbench_table("newcomer_foreign_read");
    let before = checksum(&url);
    let mut c = run_on(d.path(), "oltp_point_select", &url, 100);
    c.args(["--duration", "1s", "--threads", "1", "--json"]);
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not created by loadgate"),
        "{}",
        stderr(&o)
    );
    let r = json(&o);
    assert_eq!(r["status"], "complete");
    assert_eq!(
        r["settings"]["foreign_tables"],
        serde_json::json!(["sbtest1"])
    );
    assert_eq!(r["settings"]["foreign_writes"], false);
    validate_against_schema("run-v1.json", &r);
    // Stored with the run, not only printed.
    let shown = lg_json(d.path(), &["show", "last", "--json"]);
    assert_eq!(
        shown["settings"]["foreign_tables"],
        serde_json::json!(["sbtest1"])
    );
    let text = ok(lg_run(d.path(), &["show", "last"]));
    assert!(
        text.contains("not created by loadgate: sbtest1 (the workload only read them)"),
        "{text}"
    );
    // Without --table-size the run says the tables' row count is unknown to it.
    let mut c = lg(d.path());
    c.args(["run", "oltp_point_select", "--target", &url])
        .args(["--warmup", "0", "--duration", "1s", "--threads", "1"]);
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("row count is not recorded on them")
            && stderr(&o).contains("--table-size"),
        "{}",
        stderr(&o)
    );
    // oltp_read_only reads in transactions; still only reads.
    let mut c = run_on(d.path(), "oltp_read_only", &url, 100);
    c.args(["--duration", "1s", "--threads", "1", "-q"]);
    ok(run(c));
    assert_eq!(checksum(&url), before, "a read-only run changed the data");

    // prepare and cleanup still leave the table alone.
    let o = lg_run(
        d.path(),
        &[
            "prepare",
            "oltp_point_select",
            "--table-size",
            "100",
            "--target",
            &url,
        ],
    );
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    let out = ok(lg_run(
        d.path(),
        &["cleanup", "oltp_point_select", "--target", &url],
    ));
    assert!(
        out.contains("Left alone (not created by loadgate): sbtest1"),
        "{out}"
    );
    assert_eq!(checksum(&url), before);
}

#[test]
fn a_writing_workload_on_foreign_tables_needs_the_flag() {
    let d = scratch();
    let url = sysbench_table("newcomer_foreign_write");
    let before = checksum(&url);
    let mut c = run_on(d.path(), "oltp_read_write", &url, 100);
    c.args(["--duration", "1s", "--threads", "1", "-q"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("`newcomer_foreign_write`.`sbtest1`"), "{err}");
    assert!(
        err.contains("statement `index_updates`") || err.contains("statement `"),
        "{err}"
    );
    assert!(err.contains("UPDATE"), "{err}");
    assert!(err.contains("--allow-writes-to-foreign-tables"), "{err}");
    assert_eq!(checksum(&url), before, "a refused run changed the data");

    let mut c = run_on(d.path(), "oltp_read_write", &url, 100);
    c.args(["--duration", "1s", "--threads", "1", "-q", "--json"])
        .arg("--allow-writes-to-foreign-tables");
    let r = ok_json(c);
    assert_eq!(r["status"], "complete");
    assert_eq!(r["settings"]["foreign_writes"], true);
    assert_ne!(checksum(&url), before, "the allowed run wrote");
}

#[test]
fn the_prepare_hint_for_a_file_workload_names_its_path() {
    let d = scratch();
    let url = fresh_db("newcomer_hint");
    let dir = d.path().join("my workloads");
    std::fs::create_dir(&dir).unwrap();
    let file = dir.join("kv.toml");
    let text = std::fs::read_to_string(repo_path("workloads/oltp_point_select.toml"))
        .unwrap()
        .replace("name = \"oltp_point_select\"", "name = \"kv\"");
    std::fs::write(&file, text).unwrap();
    let mut c = run_on(d.path(), file.to_str().unwrap(), &url, 100);
    c.args(["--duration", "1s", "-q"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    let hint = format!("loadgate prepare '{}'", file.display());
    assert!(err.contains(&hint), "{err}");
    // The hint works as written (through a shell, as a user pastes it).
    let cmd = format!(
        "{} --table-size 100 -q --target {url}",
        hint.replacen("loadgate", env!("CARGO_BIN_EXE_loadgate"), 1)
    );
    let o = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .env("LOADGATE_STORE", d.path().join("store.db"))
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{cmd}: {}", stderr(&o));
}

#[test]
fn a_bulk_rerun_onto_an_earlier_sync_says_so_and_hints_fresh() {
    let d = scratch();
    let url = fresh_db("newcomer_bulk_rerun");
    let bulk = |extra: &[&str]| {
        let mut c = lg(d.path());
        c.args(["bulk", "--target", &url, "-q", "--strategy", "values"])
            .args(extra);
        run(c)
    };
    ok(bulk(&["--rows", "300"]));
    // Fewer rows onto the same target: the earlier sync's extra rows stay.
    let o = bulk(&["--rows", "200"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("already held rows"), "{err}");
    assert!(err.contains("--fresh"), "{err}");
    assert!(!err.contains("rows were lost"), "{err}");
    let out = stdout(&o);
    assert!(out.contains("--fresh starts from an empty target"), "{out}");
    ok(bulk(&["--rows", "200", "--fresh"]));

    // `runs` labels a sync's rate as what it counts: committed batches, not transactions.
    let listed = lg_json(d.path(), &["runs", "--json"]);
    assert_eq!(listed[0]["rate_unit"], "batches/s", "{listed:#}");
    let text = ok(lg_run(d.path(), &["runs"]));
    let line = text.lines().nth(1).unwrap_or_default();
    assert!(line.contains(" batches/s"), "{text}");
    assert!(
        !text.lines().next().unwrap_or_default().contains("tps"),
        "{text}"
    );
}

#[test]
fn history_keeps_the_sides_of_an_ab_job_apart() {
    use loadgate::record::{RunRecord, RunSettings, RunStatus, RunStatusField, Summary, Testbed};
    use loadgate::store::{RunSet, Store};
    let d = scratch();
    let mut store = Store::open(&d.path().join("store.db")).unwrap();
    for (set, label) in [("ab-x-a", "base"), ("ab-x-b", "pr")] {
        store
            .insert_run_set(&RunSet {
                set_id: set.into(),
                kind: "ab".into(),
                created_at_ms: 1_700_000_000_000,
                workload: "oltp_point_select".into(),
                trials: 4,
                label: Some(label.into()),
            })
            .unwrap();
    }
    // A B B A B A A B: the same workload, settings and testbed on both sides.
    for (i, side) in "abbabaab".chars().enumerate() {
        let rec = RunRecord {
            started_at_ms: 1_700_000_000_000 + i as i64 * 60_000,
            status: RunStatusField(RunStatus::Complete),
            workload: "oltp_point_select".into(),
            workload_hash: "h".into(),
            set_id: Some(format!("ab-x-{side}")),
            settings: RunSettings::Other(serde_json::json!({ "threads": 4 })),
            testbed: Testbed {
                fingerprint: "tb1".into(),
                ..Testbed::default()
            },
            summary: Some(Summary {
                tps: if side == 'a' { 1000.0 } else { 500.0 },
                transactions: 1000,
                ..Summary::default()
            }),
            ..RunRecord::default()
        };
        store.insert_run(&rec).unwrap();
    }
    drop(store);
    let h = lg_json(d.path(), &["history", "oltp_point_select", "--json"]);
    let series = h["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "{h:#}");
    assert_eq!(series[0]["side"], "A (base)");
    assert_eq!(series[1]["side"], "B (pr)");
    for (s, tps) in series.iter().zip([1000.0, 500.0]) {
        let points = s["points"].as_array().unwrap();
        assert_eq!(points.len(), 4);
        assert!(points.iter().all(|p| p["value"] == tps), "{s:#}");
    }
    let text = ok(lg_run(d.path(), &["history", "oltp_point_select"]));
    assert!(text.contains("A/B side A (base)"), "{text}");
    assert!(
        !text.contains("threads=4"),
        "a setting every series shares: {text}"
    );
}

#[test]
fn monitor_sessions_are_named_apart_from_runs() {
    let d = scratch();
    let url = server_url();
    let mut c = lg(d.path());
    c.args([
        "monitor",
        "--target",
        &url,
        "--interval",
        "200ms",
        "--duration",
        "1s",
        "-q",
    ]);
    let out = ok(run(c));
    let head = out.lines().next().unwrap_or_default().to_string();
    let id: i64 = head
        .split("monitor session m")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `monitor session mN` in {head:?}"));
    let shown = ok(lg_run(d.path(), &["show", &format!("m{id}")]));
    assert!(shown.contains(&format!("monitor session m{id}")), "{shown}");
    let j = lg_json(d.path(), &["show", &format!("m{id}"), "--json"]);
    assert_eq!(j["id"], id);
    validate_against_schema("monitor-v1.json", &j);
    // `show N` is a run, and there is none.
    let o = lg_run(d.path(), &["show", &id.to_string()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("no run {id}")),
        "{}",
        stderr(&o)
    );
    let o = lg_run(d.path(), &["show", "m99999"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no monitor session m99999"),
        "{}",
        stderr(&o)
    );
}
