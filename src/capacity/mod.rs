//! The pure parts of capacity planning: service-level objectives (SLOs) and, next, the rate
//! search that finds the highest sustainable rate meeting them. No database, no I/O,
//! deterministic; the command that runs the steps against a server lives in `commands/`, and
//! the Universal Scalability Law fit of a concurrency sweep in [`crate::stats::usl`].
//!
//! # Map
//!
//! - [`slo`]: `--slo 'p99<=20ms'` and `--max-error-rate 0.1%` parsed, checked and printed back.

pub mod slo;

pub use slo::{parse_error_rate, Slo, SloError};
