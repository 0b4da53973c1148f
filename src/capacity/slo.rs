//! Service-level objectives on latency percentiles (`--slo 'p99<=20ms'`) and the error-rate
//! limit (`--max-error-rate 0.1%`): parsed from what the user typed, checked, and printed back
//! in one canonical form.
//!
//! # Accepted forms
//!
//! `pPERCENTILE<=BOUND` or `pPERCENTILE<BOUND`, the bound with a unit: `us` (or `µs`, `μs`),
//! `ms` or `s`. Spaces between the parts are allowed. The percentile is in (0, 100], the bound
//! above 0 and at most one hour. Examples: `p99<=20ms`, `p95<5ms`, `p99.9<=100ms`,
//! `p50<=1.5ms`, `p99<=2s`, `p99 <= 20 ms`, `p90<800us`. The canonical text
//! ([`std::fmt::Display`]) gives the bound in milliseconds: `p99<=2s` prints as `p99<=2000ms`.
//!
//! An error rate is a fraction in [0, 1) (`0.001`) or a percentage below 100 (`0.1%`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The accepted forms, quoted in every parse error.
const SLO_FORMS: &str =
    "expected pPERCENTILE<=BOUND or pPERCENTILE<BOUND with a unit (us, ms, s), \
                         e.g. p99<=20ms, p95<5ms, p99.9<=100ms";

const ERROR_RATE_FORMS: &str =
    "expected a fraction in [0, 1) or a percentage below 100, e.g. 0.001 or 0.1%";

/// The largest bound accepted: one hour, in milliseconds.
const MAX_BOUND_MS: f64 = 3_600_000.0;

/// A latency objective: the `percentile`th percentile at most (or below) `bound_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// The percentile, in (0, 100]: 99.0 for p99, 99.9 for p99.9.
    pub percentile: f64,
    /// The bound in milliseconds, in (0, 3,600,000].
    pub bound_ms: f64,
    /// `<=` (true) or `<` (false).
    pub inclusive: bool,
}

/// Why an SLO or an error-rate limit was refused; each message quotes the text and the
/// accepted forms.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SloError {
    /// The text does not have the shape of an SLO.
    #[error("`{text}`: {SLO_FORMS}")]
    Malformed { text: String },

    /// The unit after the bound is not one of us, µs, ms, s.
    #[error("`{text}`: unknown unit `{unit}`; {SLO_FORMS}")]
    UnknownUnit { text: String, unit: String },

    /// The percentile is not in (0, 100].
    #[error("`{text}`: the percentile {percentile} is outside (0, 100]; {SLO_FORMS}")]
    PercentileOutOfRange { text: String, percentile: f64 },

    /// The bound is 0 or more than an hour.
    #[error("`{text}`: the bound must be above 0 and at most 1 hour; {SLO_FORMS}")]
    BoundOutOfRange { text: String },

    /// An error-rate limit that is not a number, or outside [0, 1).
    #[error("`{text}`: {reason}; {ERROR_RATE_FORMS}")]
    ErrorRate { text: String, reason: &'static str },
}

impl Slo {
    /// Parses an SLO in one of the accepted forms (see the module documentation).
    pub fn parse(text: &str) -> Result<Slo, SloError> {
        let malformed = || SloError::Malformed {
            text: text.to_string(),
        };
        let rest = text.trim();
        let rest = rest
            .strip_prefix('p')
            .or_else(|| rest.strip_prefix('P'))
            .ok_or_else(malformed)?;
        let (percentile, rest) = leading_number(rest.trim_start()).ok_or_else(malformed)?;
        let rest = rest.trim_start();
        let (inclusive, rest) = if let Some(r) = rest.strip_prefix("<=") {
            (true, r)
        } else if let Some(r) = rest.strip_prefix('≤') {
            (true, r)
        } else if let Some(r) = rest.strip_prefix('<') {
            (false, r)
        } else {
            return Err(malformed());
        };
        let (bound, unit) = leading_number(rest.trim_start()).ok_or_else(malformed)?;
        let unit = unit.trim();
        let scale_to_ms = match unit {
            "us" | "µs" | "μs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "" => return Err(malformed()),
            _ => {
                return Err(SloError::UnknownUnit {
                    text: text.to_string(),
                    unit: unit.to_string(),
                })
            }
        };
        if !(percentile > 0.0 && percentile <= 100.0) {
            return Err(SloError::PercentileOutOfRange {
                text: text.to_string(),
                percentile,
            });
        }
        let bound_ms = bound * scale_to_ms;
        if !(bound_ms > 0.0 && bound_ms <= MAX_BOUND_MS) {
            return Err(SloError::BoundOutOfRange {
                text: text.to_string(),
            });
        }
        Ok(Slo {
            percentile,
            bound_ms,
            inclusive,
        })
    }

    /// Whether a latency (at this SLO's percentile, in milliseconds) meets it: `<=` or `<` the
    /// bound as the user wrote it.
    pub fn met_by(&self, value_ms: f64) -> bool {
        if self.inclusive {
            value_ms <= self.bound_ms
        } else {
            value_ms < self.bound_ms
        }
    }
}

/// The number (digits with at most one decimal point) at the start of `s`, and what follows.
fn leading_number(s: &str) -> Option<(f64, &str)> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, rest) = s.split_at(end);
    if !number.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok().map(|v| (v, rest))
}

impl FromStr for Slo {
    type Err = SloError;

    fn from_str(s: &str) -> Result<Slo, SloError> {
        Slo::parse(s)
    }
}

impl fmt::Display for Slo {
    /// The canonical text, bound in milliseconds: `p99<=20ms`, `p99.9<0.5ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = if self.inclusive { "<=" } else { "<" };
        write!(f, "p{}{}{}ms", self.percentile, op, self.bound_ms)
    }
}

/// Parses an error-rate limit: a fraction (`0.001`) or a percentage (`0.1%`), in [0, 1).
pub fn parse_error_rate(text: &str) -> Result<f64, SloError> {
    let refuse = |reason| SloError::ErrorRate {
        text: text.to_string(),
        reason,
    };
    let trimmed = text.trim();
    let (number, scale) = match trimmed.strip_suffix('%') {
        Some(n) => (n.trim_end(), 0.01),
        None => (trimmed, 1.0),
    };
    let value: f64 = number.parse().map_err(|_| refuse("not a number"))?;
    if !value.is_finite() {
        return Err(refuse("not a finite number"));
    }
    let rate = value * scale;
    if !(0.0..1.0).contains(&rate) {
        return Err(refuse("out of range"));
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slo(percentile: f64, bound_ms: f64, inclusive: bool) -> Slo {
        Slo {
            percentile,
            bound_ms,
            inclusive,
        }
    }

    #[test]
    fn every_accepted_form_parses() {
        let cases = [
            ("p99<=20ms", slo(99.0, 20.0, true)),
            ("p95<5ms", slo(95.0, 5.0, false)),
            ("p99.9<=100ms", slo(99.9, 100.0, true)),
            ("p50<=1.5ms", slo(50.0, 1.5, true)),
            ("p99<=2s", slo(99.0, 2000.0, true)),
            ("p99 <= 20 ms", slo(99.0, 20.0, true)),
            ("  P99.99 < 250 us ", slo(99.99, 0.25, false)),
            ("p90<800µs", slo(90.0, 0.8, false)),
            ("p90<800μs", slo(90.0, 0.8, false)),
            ("p100<=1s", slo(100.0, 1000.0, true)),
            ("p99≤20ms", slo(99.0, 20.0, true)),
            ("p99<=3600s", slo(99.0, 3_600_000.0, true)),
        ];
        for (text, want) in cases {
            let got: Slo = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(got.percentile, want.percentile, "{text}");
            assert!(
                (got.bound_ms - want.bound_ms).abs() < 1e-12,
                "{text}: {got:?}"
            );
            assert_eq!(got.inclusive, want.inclusive, "{text}");
        }
    }

    #[test]
    fn malformed_slos_name_the_text_and_the_accepted_forms() {
        let e = Slo::parse("p99=20ms").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`p99=20ms`: expected pPERCENTILE<=BOUND or pPERCENTILE<BOUND with a unit \
             (us, ms, s), e.g. p99<=20ms, p95<5ms, p99.9<=100ms"
        );
        for text in [
            "",
            "99<=20ms",
            "p<=20ms",
            "p99<=ms",
            "p99<=20",
            "p99>=20ms",
            "p9.9.9<=20ms",
            "latency<20ms",
            "p99<=-20ms",
        ] {
            let e = Slo::parse(text).unwrap_err();
            assert_eq!(
                e,
                SloError::Malformed {
                    text: text.to_string()
                },
                "{text}"
            );
            assert!(e.to_string().starts_with(&format!("`{text}`: expected")));
        }
    }

    #[test]
    fn out_of_range_slos_are_refused_with_the_reason() {
        let e = Slo::parse("p99<=20min").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`p99<=20min`: unknown unit `min`; expected pPERCENTILE<=BOUND or pPERCENTILE<BOUND \
             with a unit (us, ms, s), e.g. p99<=20ms, p95<5ms, p99.9<=100ms"
        );
        let e = Slo::parse("p0<=20ms").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("`p0<=20ms`: the percentile 0 is outside (0, 100];"));
        assert!(matches!(
            Slo::parse("p100.1<=20ms"),
            Err(SloError::PercentileOutOfRange { .. })
        ));
        let e = Slo::parse("p99<0ms").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("`p99<0ms`: the bound must be above 0 and at most 1 hour;"));
        assert!(matches!(
            Slo::parse("p99<=3601s"),
            Err(SloError::BoundOutOfRange { .. })
        ));
    }

    #[test]
    fn met_by_follows_the_operator() {
        let inclusive = Slo::parse("p99<=20ms").unwrap();
        assert!(inclusive.met_by(19.9));
        assert!(inclusive.met_by(20.0));
        assert!(!inclusive.met_by(20.1));
        let strict = Slo::parse("p99<20ms").unwrap();
        assert!(strict.met_by(19.9));
        assert!(!strict.met_by(20.0));
        assert!(!strict.met_by(f64::NAN));
        assert!(!inclusive.met_by(f64::NAN));
    }

    #[test]
    fn display_gives_the_canonical_text_back() {
        for (text, canonical) in [
            ("p99<=20ms", "p99<=20ms"),
            ("p99 <= 20 ms", "p99<=20ms"),
            ("p95<5ms", "p95<5ms"),
            ("p99.9<=100ms", "p99.9<=100ms"),
            ("p50<=1.5ms", "p50<=1.5ms"),
            ("p99<=2s", "p99<=2000ms"),
            ("p90<500us", "p90<0.5ms"),
        ] {
            let parsed = Slo::parse(text).unwrap();
            assert_eq!(parsed.to_string(), canonical, "{text}");
            assert_eq!(Slo::parse(canonical).unwrap(), parsed, "{text}");
        }
    }

    #[test]
    fn error_rates_parse_as_fractions_or_percentages() {
        let close = |text: &str, want: f64| {
            let got = parse_error_rate(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!((got - want).abs() < 1e-15, "{text}: {got}");
        };
        close("0.1%", 0.001);
        close("0.001", 0.001);
        close("0", 0.0);
        close("0%", 0.0);
        close(" 5 % ", 0.05);
        close("99.9%", 0.999);
        close("0.5", 0.5);
    }

    #[test]
    fn bad_error_rates_name_the_text() {
        let e = parse_error_rate("1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`1`: out of range; expected a fraction in [0, 1) or a percentage below 100, \
             e.g. 0.001 or 0.1%"
        );
        for (text, reason) in [
            ("100%", "out of range"),
            ("-0.1%", "out of range"),
            ("2", "out of range"),
            ("abc", "not a number"),
            ("", "not a number"),
            ("%", "not a number"),
            ("0.1%%", "not a number"),
            ("NaN", "not a finite number"),
            ("inf%", "not a finite number"),
        ] {
            assert_eq!(
                parse_error_rate(text),
                Err(SloError::ErrorRate {
                    text: text.to_string(),
                    reason
                }),
                "{text}"
            );
        }
    }
}
