//! Installing and integrating loadgate: the shell completions and man pages it generates, and
//! the GitHub Actions workflow it ships (parsed, and its shell steps run with bash against the
//! real binary). None of these need a server.

use crate::common::*;
use clap::CommandFactory;
use std::path::Path;
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

/// Every command path below the top: `run`, `baseline save`, ...
fn command_paths() -> Vec<String> {
    fn walk(c: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        for s in c.get_subcommands() {
            let path = format!("{prefix}{}", s.get_name());
            out.push(path.clone());
            walk(s, &format!("{path} "), out);
        }
    }
    let mut out = Vec::new();
    walk(&loadgate::cli::Cli::command(), "", &mut out);
    out
}

#[test]
fn completions_print_a_valid_script_per_shell() {
    let d = scratch();
    let bash = ok(lg_run(d.path(), &["completions", "bash"]));
    let file = d.path().join("loadgate.bash");
    std::fs::write(&file, &bash).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(syntax.status.success(), "{}", stderr(&syntax));
    assert!(bash.contains("complete -F _loadgate"), "{bash}");
    for path in command_paths() {
        let last = path.rsplit(' ').next().unwrap();
        assert!(bash.contains(last), "bash completion lacks `{path}`");
    }
    assert!(bash.contains("--duration"));

    let zsh = ok(lg_run(d.path(), &["completions", "zsh"]));
    assert!(zsh.starts_with("#compdef loadgate"), "{zsh}");
    let fish = ok(lg_run(d.path(), &["completions", "fish"]));
    assert!(fish.contains("complete -c loadgate"), "{fish}");

    let o = lg_run(d.path(), &["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("possible values: bash"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn man_pages_cover_every_command_and_render_cleanly() {
    let d = scratch();
    let page = ok(lg_run(d.path(), &["man"]));
    assert!(page.contains(".TH loadgate 1"), "{page}");
    let dir = d.path().join("man");
    ok(lg_run(d.path(), &["man", "--dir", dir.to_str().unwrap()]));
    let mut pages = vec!["loadgate.1".to_string()];
    pages.extend(
        command_paths()
            .iter()
            .map(|p| format!("loadgate-{}.1", p.replace(' ', "-"))),
    );
    let mut written: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    pages.sort();
    assert_eq!(written, pages, "one page per command");
    // groff with every warning on renders each page without a complaint.
    for p in &pages {
        let o = Command::new("groff")
            .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
            .arg(dir.join(p))
            .output()
            .expect("groff (scripts/test.sh installs it)");
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "{p}: {}",
            stderr(&o)
        );
    }
    let run = std::fs::read_to_string(dir.join("loadgate-run.1")).unwrap();
    assert!(run.contains("duration"), "{run}");
}

const WORKFLOW: &str = "scripts/ci/github-actions-gate.yml";

/// A valid workload file (the base branch's), and a broken one (the pull request's).
const APP: &str = r#"name = "app"
[[tables]]
name = "kv"
rows = "table_size"
create = "CREATE TABLE {table} (id INTEGER NOT NULL AUTO_INCREMENT, v INTEGER NOT NULL, PRIMARY KEY (id))"
columns = [{ name = "v", int = "uniform", min = 1, max = 100 }]
[[transactions]]
name = "get"
[[transactions.steps]]
sql = "SELECT v FROM {table} WHERE id=?"
params = [{ int = "uniform", min = 1, max = "table_size" }]
"#;
const BROKEN: &str = "name = \"app\"\n[[tables\n";

fn workflow() -> Yaml {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(WORKFLOW);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{WORKFLOW}: {e}"));
    assert_eq!(docs.len(), 1);
    docs.remove(0)
}

/// The step with this `id`, or else this `name`.
fn step<'a>(wf: &'a Yaml, key: &str) -> &'a Yaml {
    wf["jobs"]["gate"]["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str() == Some(key) || s["name"].as_str() == Some(key))
        .unwrap_or_else(|| panic!("{WORKFLOW}: no step `{key}`"))
}

fn str_of<'a>(y: &'a Yaml, what: &str) -> &'a str {
    y.as_str()
        .unwrap_or_else(|| panic!("{WORKFLOW}: {what} is not a string"))
}

/// Runs a step's `run` script as GitHub runs it (`bash --noprofile --norc -eo pipefail`), in
/// `dir`, with the workflow's env, the step's env (expressions replaced by `vars`), the runner's
/// files, and the real loadgate first on PATH. Returns the exit code and `$GITHUB_OUTPUT`.
fn run_step(wf: &Yaml, key: &str, dir: &Path, vars: &[(&str, &str)]) -> (i32, String) {
    let s = step(wf, key);
    let script = dir.join(format!("{key}.sh"));
    std::fs::write(&script, str_of(&s["run"], "run")).unwrap();
    let out = dir.join("github-output");
    let _ = std::fs::remove_file(&out);
    let bin = Path::new(env!("CARGO_BIN_EXE_loadgate")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut c = Command::new("bash");
    c.args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&script)
        .current_dir(dir)
        .env("PATH", path)
        .env("GITHUB_OUTPUT", &out)
        .env("GITHUB_STEP_SUMMARY", dir.join("summary.md"))
        .env("RUNNER_TEMP", dir.join("runner-temp"))
        .env("LOADGATE_STATE_DIR", dir.join("state"))
        .env_remove("LOADGATE_TARGET");
    for (k, v) in wf["env"].as_hash().unwrap() {
        c.env(str_of(k, "env key"), str_of(v, "env value"));
    }
    c.env("LOADGATE_STORE", dir.join("loadgate.db"));
    if let Some(env) = s["env"].as_hash() {
        for (k, v) in env {
            let (k, v) = (str_of(k, "env key"), str_of(v, "env value"));
            let v = if v.contains("${{") {
                vars.iter()
                    .find(|(name, _)| *name == k)
                    .unwrap_or_else(|| panic!("step `{key}`: no test value for {k}"))
                    .1
            } else {
                v
            };
            c.env(k, v);
        }
    }
    let o = c.output().unwrap();
    let code = o.status.code().unwrap_or(-1);
    (code, std::fs::read_to_string(&out).unwrap_or_default())
}

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
}

#[test]
fn ci_workflow_is_well_formed() {
    let wf = workflow();
    assert_eq!(
        wf["on"]["pull_request"]["paths"][0].as_str(),
        wf["env"]["WORKLOAD"].as_str(),
        "the trigger and the gated file are the same file"
    );
    // Built once per loadgate revision: the install is skipped when the cache has it.
    let cache = step(&wf, "cache");
    assert!(str_of(&cache["uses"], "uses").starts_with("actions/cache@"));
    assert!(str_of(&cache["with"]["key"], "key").contains("steps.revision.outputs.rev"));
    let install = step(&wf, "Install loadgate");
    assert!(str_of(&install["if"], "if").contains("steps.cache.outputs.cache-hit != 'true'"));
    assert!(str_of(&install["run"], "run").contains("--rev \"$REV\""));
    // The comment: one per pull request, updated; never from a fork's read-only token; never
    // failing the check.
    let comment = step(&wf, "Post or update the verdict on the pull request");
    let cond = str_of(&comment["if"], "if");
    assert!(cond.contains("github.event.pull_request.head.repo.full_name == github.repository"));
    assert_eq!(comment["continue-on-error"].as_bool(), Some(true));
    let script = str_of(&comment["run"], "run");
    assert!(script.contains("<!-- loadgate-gate -->") && script.contains("-X PATCH"));
    // No expression is pasted into a script (a branch name could inject shell).
    for s in wf["jobs"]["gate"]["steps"].as_vec().unwrap() {
        if let Some(run) = s["run"].as_str() {
            assert!(!run.contains("${{"), "an expression inside a script: {run}");
        }
    }
}

#[test]
fn ci_workflow_steps_handle_a_new_file_and_a_gate_that_stops_early() {
    let wf = workflow();
    let d = scratch();
    let dir = d.path();
    std::fs::create_dir_all(dir.join("runner-temp")).unwrap();
    std::fs::create_dir_all(dir.join("workloads")).unwrap();
    git(dir, &["init", "-q"]);
    std::fs::write(dir.join("README"), "x\n").unwrap();
    git(dir, &["add", "README"]);
    git(dir, &["commit", "-qm", "base"]);
    git(dir, &["update-ref", "refs/remotes/origin/main", "HEAD"]);
    // A workload file new in the pull request, and broken: loadgate stops with exit 2 before
    // any report.
    let app = dir.join("workloads/app.toml");
    std::fs::write(&app, BROKEN).unwrap();
    let (code, out) = run_step(&wf, "base", dir, &[("BASE_REF", "main")]);
    assert_eq!((code, out.as_str()), (0, "new=true\n"));
    let vars = [("NEW_WORKLOAD", "true"), ("PR_NUMBER", "7")];
    let (code, out) = run_step(&wf, "gate", dir, &vars);
    assert_eq!((code, out.as_str()), (0, "code=2\n"));
    let md = std::fs::read_to_string(dir.join("gate.md")).unwrap();
    assert!(md.contains("exit code 2"), "{md}");
    assert!(
        md.contains("app.toml:2:"),
        "the error with its position: {md}"
    );
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(summary.contains("exit code 2"), "{summary}");

    // On the base branch now: A is the base's file; B (broken again) stops the gate early.
    std::fs::write(&app, APP).unwrap();
    git(dir, &["add", "workloads/app.toml"]);
    git(dir, &["commit", "-qm", "app"]);
    git(dir, &["update-ref", "refs/remotes/origin/main", "HEAD"]);
    std::fs::write(&app, BROKEN).unwrap();
    let (code, out) = run_step(&wf, "base", dir, &[("BASE_REF", "main")]);
    assert_eq!((code, out.as_str()), (0, "new=false\n"));
    let base = std::fs::read_to_string(dir.join("runner-temp/base.toml")).unwrap();
    assert_eq!(base, APP);
    let vars = [("NEW_WORKLOAD", "false"), ("PR_NUMBER", "7")];
    let (code, out) = run_step(&wf, "gate", dir, &vars);
    assert_eq!((code, out.as_str()), (0, "code=2\n"));
    let md = std::fs::read_to_string(dir.join("gate.md")).unwrap();
    assert!(
        md.contains("exit code 2") && md.contains("app.toml"),
        "{md}"
    );

    // The verdict step maps loadgate's codes onto the check.
    for (code, fail_on_inconclusive, want) in [
        ("0", "0", 0),
        ("1", "0", 1),
        ("3", "0", 0),
        ("3", "1", 3),
        ("2", "0", 2),
    ] {
        let s = step(&wf, "Verdict");
        let script = dir.join("verdict.sh");
        std::fs::write(&script, str_of(&s["run"], "run")).unwrap();
        let o = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script)
            .env("CODE", code)
            .env("FAIL_ON_INCONCLUSIVE", fail_on_inconclusive)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(want), "code {code}: {}", stdout(&o));
    }
}
