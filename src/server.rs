//! The throwaway local server (stub, replaced by the real module).

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Other(String),
}
