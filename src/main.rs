//! The `deeptrain` command: train, evaluate, predict and summarize models described in TOML.

mod cli;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use deeptrain::distributed::{self, Communicator};
use deeptrain::{Error, Result};

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`deeptrain ... | head`), as command-line tools do, instead
    // of panicking in println!.
    #[cfg(unix)]
    // SAFETY: resets one signal to its default action before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    let ranks = match communicator() {
        Ok(ranks) => ranks,
        Err(err) => {
            eprintln!("error: {}", deeptrain::one_line(&err.to_string()));
            return ExitCode::FAILURE;
        }
    };
    let (rank, size) = ranks.as_ref().map_or((0, 1), |c| (c.rank(), c.size()));
    match cli::run(args, ranks.clone()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line, whatever the source of the message. Under MPI, rank 0 speaks for the
            // errors every rank meets together (a stop, a divergence).
            let together = matches!(
                err,
                Error::Interrupted { .. } | Error::Stopped(_) | Error::Diverged(_)
            );
            let line = deeptrain::one_line(&err.to_string());
            if rank == 0 {
                eprintln!("error: {line}");
            } else if !together {
                eprintln!("error: rank {rank}: {line}");
            }
            if size > 1 {
                // Without finalizing MPI, which could wait for ranks that are waiting for this
                // one: mpirun sees the failure and ends the others.
                std::process::exit(1);
            }
            ExitCode::FAILURE
        }
    }
}

/// The MPI world when `mpirun` (or another MPI launcher) started this process.
#[cfg(feature = "mpi")]
fn communicator() -> Result<Option<Arc<dyn Communicator>>> {
    if distributed::launched_ranks().is_none() {
        return Ok(None);
    }
    let world = distributed::mpi::MpiCommunicator::initialize()?;
    Ok(Some(Arc::new(world)))
}

/// Without the `mpi` feature, a run under `mpirun` would be N separate runs writing to the same
/// place: refused.
#[cfg(not(feature = "mpi"))]
fn communicator() -> Result<Option<Arc<dyn Communicator>>> {
    match distributed::launched_ranks() {
        Some(n) if n > 1 => Err(Error::Config(format!(
            "started as one of {n} MPI processes, but this deeptrain was built without MPI: build it with `cargo build --release --features mpi`"
        ))),
        _ => Ok(None),
    }
}
