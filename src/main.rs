//! The `deeptrain` command: train, evaluate, predict and summarize models described in TOML.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`deeptrain ... | head`), as command-line tools do, instead
    // of panicking in println!.
    #[cfg(unix)]
    // SAFETY: resets one signal to its default action before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line, whatever the source of the message.
            eprintln!("error: {}", deeptrain::model::one_line(&err.to_string()));
            ExitCode::FAILURE
        }
    }
}
