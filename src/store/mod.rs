//! The SQLite run store (stub, replaced by the real module).

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Other(String),
}
