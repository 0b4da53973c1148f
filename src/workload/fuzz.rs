//! A seeded fuzz test of the workload parser and planner, run with the unit tests (no server).
//!
//! Mutants of the built-in workload files (bytes flipped, the file cut short, numbers replaced
//! by huge, negative and overflowing ones, lines duplicated or dropped, bytes that are not
//! UTF-8) are parsed and, where that succeeds, resolved and planned with the default settings.
//! Each mutant runs on its own thread under a time bound: no panic, no hang, and every
//! rejection names the file, a line and a column.

use super::parse::parse_bytes;
use super::plan::Plan;
use super::{Source, WorkloadError, BUILTIN};
use crate::settings::Layers;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::mpsc;
use std::time::Duration;

/// Mutants per built-in workload.
const PER_FILE: usize = 100;
/// How long one mutant may take before it counts as a hang (generous: a debug build on a
/// shared machine; a mutant takes about a millisecond).
const BOUND: Duration = Duration::from_secs(10);

/// Numbers that break naive code: past u64, past i64, i64's ends, negative, zero, huge.
const NASTY: &[&str] = &[
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "1_000_000_000_000",
    "1000000000",
    "-1",
    "0",
    "99999999999999999999999",
    "1e308",
    "\"9223372036854775807 + 1\"",
    "\"-9223372036854775807 - 2\"",
];

/// One mutant of `text`.
fn mutate(text: &[u8], rng: &mut SmallRng) -> Vec<u8> {
    let mut b = text.to_vec();
    let at = |rng: &mut SmallRng, b: &[u8]| rng.gen_range(0..b.len().max(1));
    match rng.gen_range(0..7) {
        0 => {
            for _ in 0..rng.gen_range(1..4) {
                let i = at(rng, &b);
                b[i] ^= rng.gen_range(1..=255u8);
            }
        }
        1 => b.truncate(at(rng, &b)),
        2 | 3 => {
            let nums = number_spans(&b);
            if !nums.is_empty() {
                let (s, e) = nums[rng.gen_range(0..nums.len())];
                let n = NASTY[rng.gen_range(0..NASTY.len())].as_bytes();
                b.splice(s..e, n.iter().copied());
            }
        }
        4 => {
            let lines = line_spans(&b);
            let (s, e) = lines[rng.gen_range(0..lines.len())];
            let copy = b[s..e].to_vec();
            b.splice(e..e, copy);
        }
        5 => {
            let lines = line_spans(&b);
            let (s, e) = lines[rng.gen_range(0..lines.len())];
            b.drain(s..e);
        }
        _ => {
            let bad: &[&[u8]] = &[b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf0\x28\x8c\x28"];
            let i = at(rng, &b);
            b.splice(i..i, bad[rng.gen_range(0..bad.len())].iter().copied());
        }
    }
    b
}

/// Byte ranges of the runs of digits in `b`.
fn number_spans(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let s = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push((s, i));
        } else {
            i += 1;
        }
    }
    out
}

/// Byte ranges of the lines of `b`, each with its newline.
fn line_spans(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut s = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'\n' {
            out.push((s, i + 1));
            s = i + 1;
        }
    }
    out.push((s, b.len()));
    out
}

/// Parses and plans one mutant; `Err` is the rejection.
fn check(bytes: &[u8], file: &str) -> Result<(), WorkloadError> {
    let w = parse_bytes(bytes, Source::File(file.into()))?;
    let s = Layers::default().resolve(&w)?;
    Plan::compile(&w, &s).map(|_| ())
}

/// What is wrong with the way `e` rejects a mutant of `lines` lines, if anything.
fn unclear(e: &WorkloadError, file: &str, lines: usize) -> Option<String> {
    match e {
        WorkloadError::Invalid {
            file: f,
            line,
            col,
            message,
        } if f == file && (1..=lines + 1).contains(line) && *col >= 1 && !message.is_empty() => {
            None
        }
        WorkloadError::Invalid { message, .. } if message.trim().is_empty() => {
            Some(format!("no message: {e}"))
        }
        other => Some(format!("no file:line:column: {other}")),
    }
}

/// A parser under test: a mutant's bytes and its file name to a rejection, if any.
type Check = fn(&[u8], &str) -> Result<(), WorkloadError>;

/// Mutates each of `files` [`PER_FILE`] times and runs `check` on every mutant, each on its
/// own thread under [`BOUND`]: the counts of accepted and rejected mutants, and the problems.
fn fuzz(seed: u64, files: &[(&str, &str)], check: Check) -> (usize, usize, Vec<String>) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let (mut accepted, mut rejected) = (0, 0);
    let mut problems = Vec::new();
    for (name, text) in files {
        for k in 0..PER_FILE {
            let bytes = mutate(text.as_bytes(), &mut rng);
            let file = format!("fuzz/{name}-{k}.toml");
            let lines = bytes.iter().filter(|&&c| c == b'\n').count() + 1;
            let (tx, rx) = mpsc::channel();
            let (b, f) = (bytes.clone(), file.clone());
            std::thread::spawn(move || {
                let r = std::panic::catch_unwind(|| check(&b, &f));
                let _ = tx.send(r);
            });
            match rx.recv_timeout(BOUND) {
                Err(_) => problems.push(format!("{file}: no answer within {BOUND:?} (a hang)")),
                Ok(Err(_)) => problems.push(format!("{file}: panicked")),
                Ok(Ok(Ok(()))) => accepted += 1,
                Ok(Ok(Err(e))) => {
                    rejected += 1;
                    if let Some(p) = unclear(&e, &file, lines) {
                        problems.push(format!("{file}: {p}"));
                    }
                }
            }
            if problems.len() > 20 {
                return (accepted, rejected, problems);
            }
        }
    }
    (accepted, rejected, problems)
}

/// Asserts a fuzz outcome: no problem, and mutants both refused and accepted (so the
/// mutations reach the checks rather than all failing at the first byte).
fn assert_clean((accepted, rejected, problems): (usize, usize, Vec<String>), min_accepted: usize) {
    assert!(
        problems.is_empty(),
        "{} problem(s) ({accepted} accepted, {rejected} rejected):\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(
        rejected * 4 > accepted + rejected && accepted >= min_accepted,
        "{accepted} accepted, {rejected} rejected"
    );
}

#[test]
fn mutated_workloads_never_panic_or_hang_and_every_rejection_is_located() {
    assert_clean(fuzz(0x10ad_9a7e, BUILTIN, check), 10);
}

/// Text of a mutant, or the located error for its first byte that is not UTF-8.
fn text_of<'a>(bytes: &'a [u8], file: &str) -> Result<&'a str, WorkloadError> {
    std::str::from_utf8(bytes).map_err(|e| super::parse::not_utf8(bytes, e, file))
}

#[test]
fn mutated_bulk_and_index_files_never_panic_or_hang_and_every_rejection_is_located() {
    let bulk: Check = |b, f| {
        let spec = crate::bulk::spec::parse(text_of(b, f)?, Source::File(f.into()))?;
        let flags = crate::bulk::BulkFlags::default();
        // Settings errors name the flag or workload setting; only a panic or hang counts here.
        let _ = crate::bulk::BulkSettings::resolve(&spec, &flags);
        Ok(())
    };
    assert_clean(fuzz(0xb01c, &[crate::bulk::spec::BUILTIN], bulk), 1);
    let index: Check = |b, f| {
        let spec = crate::index::spec::parse(text_of(b, f)?, Source::File(f.into()), &[])?;
        let _ = crate::index::IndexSettings::resolve(&spec, &Default::default());
        Ok(())
    };
    assert_clean(fuzz(0x1dec, &[crate::index::spec::BUILTIN], index), 1);
}

#[test]
fn a_file_that_is_not_utf8_is_refused_at_its_first_bad_byte() {
    let e = parse_bytes(
        b"name = \"x\"\nde\xffsc = 1\n",
        Source::File("w.toml".into()),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("w.toml:2:3: byte 0xff is not UTF-8"), "{e}");
}
