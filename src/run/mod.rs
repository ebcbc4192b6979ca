//! A run around an [`crate::Experiment`]: what `deeptrain train` does besides training, in the
//! library so that a Rust program (or a binding) gets the same run.
//!
//! - [`RunOutputs`]: the files a finished run writes (evaluation, `model/`,
//!   `inference_model/`, diagnostics, plots, report, `summary.json`).
//! - [`Replicas`]: data-parallel start-up over a [`crate::distributed::Communicator`], with the
//!   checks that every rank agrees.
//! - [`fold_and_check`]: the folded inference model, checked and timed.
//! - [`SavedRun`]: a saved model with what prepares rows for it, for `evaluate`, `predict`,
//!   `prune`, `fold` and `summary`.

mod inference;
mod outputs;
mod replicas;
mod saved;

pub use inference::{fold_and_check, FoldReport};
pub use outputs::{RunOutputs, Written};
pub use replicas::Replicas;
pub use saved::{DataSource, Rows, SavedRun};
