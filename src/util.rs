//! Small things every layer may use and that use nothing of the crate: the version, the
//! clock (milliseconds since the epoch and their RFC 3339 form), the current-thread runtime
//! every part of loadgate runs its async code on, SQL identifier quoting and statement
//! abbreviation for messages.
//!
//! This module is a leaf: it imports nothing from the rest of the crate (checked by
//! `scripts/check-layers.sh`).

/// The version of this build, as stored with every run and shown by `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A tokio runtime on the calling thread with every driver (I/O, time) enabled: the layout
/// loadgate uses everywhere (one per client thread, one for the monitor, one per command).
/// A multi-thread runtime was measured slower on 2 cores (docs/design.md, "Runtime layout").
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// `ident` as a MySQL identifier: in backticks, a backtick doubled.
pub fn quote_ident(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// `sql` on one line for a message: white space folded, and when it has more than `limit`
/// characters, its first `keep` followed by `…`.
pub fn abbreviate(sql: &str, limit: usize, keep: usize) -> String {
    let one: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > limit {
        let end = one.char_indices().nth(keep).map_or(one.len(), |(i, _)| i);
        format!("{}…", &one[..end])
    } else {
        one
    }
}

/// `12.3 %` with a sign.
pub fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:+.1} %", v * 100.0)
    } else {
        "n/a".into()
    }
}

/// Milliseconds since the Unix epoch, now (0 on a clock before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Format milliseconds since the Unix epoch as RFC 3339 UTC (`2026-11-21T10:09:38.123Z`).
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Makes a closed stdout (`loadgate runs | head -1`) end the process quietly with status 141
/// (128 + SIGPIPE, what a shell reports for a tool stopped by a closed pipe) instead of a
/// panic: Rust ignores SIGPIPE so that a server's closed socket is an error, not a kill, and
/// `println!` then panics on the broken pipe. Any other panic goes to the previous hook.
pub fn quiet_broken_pipe() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        previous(info)
    }));
}

#[cfg(test)]
mod tests {
    #[test]
    fn identifiers_are_quoted_and_statements_abbreviated() {
        assert_eq!(super::quote_ident("a`b"), "`a``b`");
        assert_eq!(super::abbreviate("SELECT\n  1", 20, 20), "SELECT 1");
        assert_eq!(super::abbreviate("SELECT 12345", 8, 6), "SELECT…");
        assert_eq!(super::abbreviate("é é é é", 3, 2), "é …");
    }

    #[test]
    fn formats_timestamps() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::rfc3339(1_795_255_778_123),
            "2026-11-21T10:09:38.123Z"
        );
    }
}
