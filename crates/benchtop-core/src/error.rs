//! Why a run did not finish: the one error every study returns. Its own module so the run
//! context (which checks for cancellation) and the study trait both use it without
//! depending on each other.

/// Why a run did not finish.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// The user cancelled the run; what it logged so far is kept.
    #[error("cancelled")]
    Cancelled,
    /// The parameters passed their schema but cannot be run (found late).
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    /// The requested device cannot be used in this build or on this machine.
    #[error("backend unavailable: {0}")]
    Backend(String),
    /// Anything else that went wrong inside the study.
    #[error("{0}")]
    Failed(String),
}

impl StudyError {
    /// A failure inside the study, described by anything printable.
    pub fn failed(why: impl std::fmt::Display) -> Self {
        StudyError::Failed(why.to_string())
    }
}
