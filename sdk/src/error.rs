use std::fmt;

/// The one error type that crosses the plugin boundary. Plain strings only, so it maps onto a
/// WIT variant unchanged and never carries a type owned by one side.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A workflow parameter is missing, unknown or of the wrong type.
    #[error("parameter `{key}`: {reason}")]
    Param { key: String, reason: String },
    /// A file could not be read or has bad content; `location` is `path` or `path:line`.
    #[error("{location}: {reason}")]
    File { location: String, reason: String },
    /// Input of the wrong shape or content (shapes, tokens, values).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The method does not apply to this input (e.g. Pert without an expression matrix).
    #[error("not applicable: {0}")]
    NotApplicable(String),
    /// A numerical or device failure inside a plugin.
    #[error("{0}")]
    Compute(String),
    /// A panic caught at the plugin boundary.
    #[error("plugin `{plugin}` panicked: {message}")]
    Panic { plugin: String, message: String },
    /// A WebAssembly component trapped or broke the contract (panic, out of fuel, over its
    /// memory cap, output of the wrong shape); `message` says which.
    #[error("component plugin `{plugin}` failed: {message}")]
    Trap { plugin: String, message: String },
}

impl Error {
    pub fn param(key: impl Into<String>, reason: impl fmt::Display) -> Self {
        Error::Param { key: key.into(), reason: reason.to_string() }
    }
    pub fn file(location: impl fmt::Display, reason: impl fmt::Display) -> Self {
        Error::File { location: location.to_string(), reason: reason.to_string() }
    }
    pub fn invalid(reason: impl fmt::Display) -> Self {
        Error::Invalid(reason.to_string())
    }
    pub fn compute(reason: impl fmt::Display) -> Self {
        Error::Compute(reason.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
