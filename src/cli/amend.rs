//! Two of clap's answers to a slip, made right before they are shown: the subcommand suggested
//! for a typo is the closest by edit distance counting a swap of two letters as one edit
//! (`rnu` → `run`, where clap's similarity picks `runs`), and a negative number given to a flag
//! that takes a value is an invalid value for that flag (clap takes `-4` for an unknown option
//! and suggests `-- -4`, which passes it as a positional argument instead).

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Command, Error};

/// `e`, clap's error for `args` (the program name first), with its suggestion or its kind
/// corrected for the two slips above; any other error unchanged.
pub fn amend(mut e: Error, cmd: &Command, args: &[String]) -> Error {
    match e.kind() {
        ErrorKind::InvalidSubcommand => {
            let Some(ContextValue::String(typed)) = e.get(ContextKind::InvalidSubcommand) else {
                return e;
            };
            let typed = typed.clone();
            let (at, _) = subcommand_of(cmd, args, &typed);
            let names: Vec<&str> = at
                .get_subcommands()
                .flat_map(|s| std::iter::once(s.get_name()).chain(s.get_all_aliases()))
                .collect();
            if let Some(best) = closest(&typed, &names) {
                e.insert(
                    ContextKind::SuggestedSubcommand,
                    ContextValue::Strings(vec![best.to_string()]),
                );
            }
            e
        }
        ErrorKind::UnknownArgument => negative_value(&e, cmd, args).unwrap_or(e),
        _ => e,
    }
}

/// The subcommand whose arguments hold `token`, and its names from the top (`loadgate baseline
/// save`): the path of subcommand names before it.
fn subcommand_of<'a>(cmd: &'a Command, args: &[String], token: &str) -> (&'a Command, String) {
    let (mut at, mut path) = (cmd, cmd.get_name().to_string());
    for a in args.iter().skip(1).take_while(|a| *a != token) {
        if let Some(sub) = at.find_subcommand(a) {
            at = sub;
            path = format!("{path} {}", sub.get_name());
        }
    }
    (at, path)
}

/// For `--flag -4` (an unknown argument that is a negative number right after a flag that
/// takes a value): the value error clap would give had the value been read.
fn negative_value(e: &Error, cmd: &Command, args: &[String]) -> Option<Error> {
    let Some(ContextValue::String(bad)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    // clap names `-4` (or the start of `-4.5s`); find the whole token the user typed.
    let pos = args.iter().position(|a| a.starts_with(bad.as_str()))?;
    let value = &args[pos];
    if !value[1..].starts_with(|c: char| c.is_ascii_digit() || c == '.') || pos < 2 {
        return None;
    }
    let flag = args[pos - 1].strip_prefix("--")?;
    let (at, path) = subcommand_of(cmd, args, value);
    let arg = at
        .get_arguments()
        .chain(cmd.get_arguments())
        .find(|a| a.get_long() == Some(flag) && a.get_action().takes_values())?;
    let shown = match arg.get_value_names() {
        Some([name, ..]) => format!("--{flag} <{name}>"),
        _ => format!("--{flag}"),
    };
    let mut out = Error::new(ErrorKind::ValueValidation).with_cmd(at);
    out.insert(ContextKind::InvalidArg, ContextValue::String(shown));
    out.insert(
        ContextKind::InvalidValue,
        ContextValue::String(value.clone()),
    );
    out.insert(
        ContextKind::Suggested,
        ContextValue::StyledStrs(vec![format!(
            "--{flag} does not take a negative number; see `{path} --help` for what it takes"
        )
        .into()]),
    );
    if let Some(usage) = e.get(ContextKind::Usage) {
        out.insert(ContextKind::Usage, usage.clone());
    }
    Some(out)
}

/// The candidate nearest to `typed` (at most 2 edits, and fewer than its length), the first
/// of equals.
fn closest<'a>(typed: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = 2.min(typed.chars().count().saturating_sub(1));
    candidates
        .iter()
        .map(|c| (edits(typed, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
/// adjacent characters, each one edit.
fn edits(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::{CommandFactory, Parser};

    fn err(args: &[&str]) -> String {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let e = Cli::try_parse_from(&args).unwrap_err();
        amend(e, &Cli::command(), &args).to_string()
    }

    #[test]
    fn a_swap_of_two_letters_is_one_edit() {
        assert_eq!(edits("rnu", "run"), 1);
        assert_eq!(edits("rnu", "runs"), 2);
        assert_eq!(closest("rnu", &["runs", "run", "show"]), Some("run"));
        assert_eq!(closest("xyzzy", &["runs", "run"]), None);
        assert_eq!(closest("r", &["run"]), None);
    }

    #[test]
    fn typos_suggest_the_nearest_subcommand() {
        let m = err(&["loadgate", "rnu"]);
        assert!(m.contains("'run'"), "{m}");
        assert!(!m.contains("'runs'"), "{m}");
        let m = err(&["loadgate", "--store", "x.db", "shw", "1"]);
        assert!(m.contains("'show'"), "{m}");
        let m = err(&["loadgate", "baseline", "lst"]);
        assert!(m.contains("'list'"), "{m}");
    }

    #[test]
    fn a_negative_number_is_an_invalid_value_not_a_flag() {
        let m = err(&["loadgate", "run", "--threads", "-4"]);
        assert!(m.contains("invalid value '-4' for '--threads <N>'"), "{m}");
        assert!(!m.contains("-- -4"), "{m}");
        assert!(m.contains("`loadgate run --help`"), "{m}");
        let m = err(&["loadgate", "run", "oltp_point_select", "--rate", "-1.5"]);
        assert!(m.contains("invalid value '-1.5' for '--rate"), "{m}");
        // Not after a flag that takes a value: clap's own message stays.
        let m = err(&["loadgate", "run", "-4"]);
        assert!(m.contains("unexpected argument '-4'"), "{m}");
    }
}
