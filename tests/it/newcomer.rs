//! A newcomer's first hour: where the run store is found (the nearest `baselines/` upward, else
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

    // The others fail with the store error (exit 7) naming the path and how it was found.
    for args in [
        &["show", "last"][..],
        &["history", "oltp_point_select"],
        &["baseline", "show", "x"],
        &["compare", "--baseline", "x"],
    ] {
        let mut c = lg_unnamed(&cwd, d.path());
        c.args(args);
        let o = run(c);
        assert_eq!(o.status.code(), Some(7), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("no run store at"), "{args:?}: {err}");
        assert!(err.contains(&user.display().to_string()), "{err}");
        assert!(err.contains("baselines/"), "{args:?}: {err}");
    }
    let mut c = lg_unnamed(&cwd, d.path());
    c.args(["baseline", "list"]);
    ok(run(c));
    assert_eq!(files_under(d.path()), before, "a reading command created a file");

    // An explicit store that does not exist is not created either.
    let named = d.path().join("named.db");
    let o = lg_run(&cwd, &["show", "last", "--store", named.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
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
        .args(["--table-size", "200", "--warmup", "0", "--duration", "1s", "-q"]);
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
    assert!(!d.path().join("data").exists(), "no per-user store was made");
}
