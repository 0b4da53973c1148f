//! Output for people and machines from a stored or fresh [`RunRecord`].
//!
//! One file per format: [`text`] (the terminal summary) and [`json`] (the versioned JSON
//! report, schema in `schema/run-v1.json`). Both read only the record, so a stored run
//! prints exactly as it did when it was fresh.
//!
//! The verdicts of `compare`, `ab` and `gate` ([`crate::regress::GateReport`]) have their own
//! renderers: [`gate`] (text and JSON, schema `schema/gate-v1.json`), [`markdown`] (a
//! PR comment or CI step summary) and [`junit`] (one test case per metric).

pub mod bulk;
pub mod gate;
pub mod health;
pub mod index;
pub mod json;
pub mod junit;
pub mod live;
pub mod markdown;
pub mod regress;
pub mod text;
