//! Capacity planning: the pure parts — the service-level objectives (SLOs) a step must meet
//! and the rate search that finds the highest sustainable rate — with no database and no I/O,
//! deterministic given their inputs. The `capacity` command (in `commands/`, not there yet)
//! will run the real steps and render the result; the Universal Scalability Law fit of a
//! concurrency sweep is [`crate::stats::usl`].
//!
//! # Map
//!
//! - [`slo`]: `--slo 'p99<=20ms'` and `--max-error-rate 0.1%` parsed, checked and printed back.
//! - [`search`]: the open-loop rate search (exponential growth, bisection, verification holds)
//!   as a state machine driven by a [`search::StepRunner`], and the judgement of one step
//!   against achieved rate, error rate and latency objectives (an upper confidence bound on
//!   each percentile, [`crate::stats::quantile`]).

pub mod search;
pub mod slo;

pub use slo::{parse_error_rate, Slo, SloError};

#[cfg(test)]
mod sim;
