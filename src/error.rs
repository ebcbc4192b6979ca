//! One error type for the whole crate: every message is a single line a user can act on.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in deeptrain, as a value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file was read but its content is malformed (bad header, truncated, wrong type...).
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An experiment spec or model config is invalid.
    #[error("{path}: {message}")]
    Spec {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A configuration error not tied to a file (built in Rust code).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Shapes that do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// Data that is inconsistent with the model (labels out of range, NaN features, ...).
    #[error("invalid data: {0}")]
    Data(String),
    /// Training produced a non-finite loss.
    #[error("training diverged: {0}")]
    Diverged(String),
    /// A command was stopped by a signal; the message says what was kept and how to continue.
    #[error("{0}")]
    Stopped(String),
    /// Training was asked to stop (Ctrl-C, SIGTERM) and stopped between two steps.
    #[error("interrupted at epoch {epoch}, step {step}")]
    Interrupted {
        /// Epoch (from 1) in progress.
        epoch: usize,
        /// Steps done in it.
        step: usize,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error on `path`, with the OS message.
    pub fn io(path: &Path, err: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            message: err.to_string(),
        }
    }

    /// A malformed file.
    pub fn format(path: &Path, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.to_path_buf(),
            // Parser messages from other crates may quote the input over several lines.
            message: one_line(&message.into()),
        }
    }

    /// What is wrong, without the variant's prefix (`invalid configuration: `, `invalid data: `,
    /// ...): the message for a caller that names the file ([`Error::spec`], [`Error::format`]) or
    /// the section itself. Errors about a file keep its name.
    pub fn detail(&self) -> String {
        match self {
            Error::Config(message)
            | Error::Shape(message)
            | Error::Data(message)
            | Error::Diverged(message)
            | Error::Stopped(message) => message.clone(),
            other => other.to_string(),
        }
    }

    /// An invalid spec or model config file.
    pub fn spec(path: &Path, message: impl Into<String>) -> Self {
        Error::Spec {
            path: path.to_path_buf(),
            message: one_line(&message.into()),
        }
    }
}

/// Collapses a multi-line parser message (TOML errors quote the line) into one line.
pub fn one_line(message: &str) -> String {
    message
        .split('\n')
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with('|') && !l.chars().all(|c| c == '^' || c == ' ')
        })
        .collect::<Vec<_>>()
        .join(" ")
}
