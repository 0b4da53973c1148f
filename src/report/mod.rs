//! Output for people and machines from a stored or fresh [`RunRecord`].
//!
//! One file per format: [`text`] (the terminal summary) and [`json`] (the versioned JSON
//! report, schema in `schema/run-v1.json`). Both read only the record, so a stored run
//! prints exactly as it did when it was fresh.
//!
//! The verdicts of `compare`, `ab` and `gate` ([`crate::regress::GateReport`]) have their own
//! renderers: [`gate`] (text and JSON, schema `schema/gate-v1.json`), [`markdown`] (a
//! PR comment or CI step summary) and [`junit`] (one test case per metric).

pub mod gate;
pub mod json;
pub mod junit;
pub mod live;
pub mod markdown;
pub mod text;

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

#[cfg(test)]
mod tests {
    #[test]
    fn formats_timestamps() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::rfc3339(1_795_255_778_123),
            "2026-11-21T10:09:38.123Z"
        );
    }
}
