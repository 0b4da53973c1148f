//! Targets (stub).

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Other(String),
}

impl TargetError {
    pub fn exit_code(&self) -> u8 {
        crate::error::exit::TARGET
    }
}
