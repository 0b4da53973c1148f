//! Small things every layer may use and that use nothing of the crate: the version, the
//! current-thread runtime every part of loadgate runs its async code on.
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
