//! Capacity planning: the pure parts — the latency objectives a step must meet and the rate
//! search that finds the highest sustainable rate — with no database and no I/O, deterministic
//! given their inputs. The `capacity` command (in `commands/`) runs the real steps and renders
//! the result.
//!
//! # Map
//!
//! - [`search`]: the open-loop rate search (exponential growth, bisection, verification holds)
//!   as a state machine driven by a [`search::StepRunner`], and the judgement of one step
//!   against achieved rate, error rate and latency objectives (an upper confidence bound on
//!   each percentile, [`crate::stats::quantile`]).

pub mod search;

#[cfg(test)]
mod sim;
