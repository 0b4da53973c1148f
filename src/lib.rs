//! loadgate: a MySQL/MariaDB benchmark and load-testing harness with regression tracking.
//!
//! The binary (`src/main.rs`) only parses arguments, sets up logging and maps the result of
//! [`app::run`] to an exit code. Everything else lives here; ARCHITECTURE.md has the map.

pub mod bulk;
pub mod capacity;
pub mod cli;
pub mod commands;
pub mod engine;
pub mod error;
pub mod index;
pub mod monitor;
pub mod prepare;
pub mod record;
pub mod regress;
pub mod report;
pub mod runner;
pub mod server;
pub mod settings;
pub mod stats;
pub mod store;
pub mod target;
pub mod testbed;
pub mod util;
pub mod workload;

pub use error::{Error, Result};
