//! Command-line parsing and dispatch.

mod bench;
mod bench_profile;
mod compare;
mod diagnose;
mod doctor;
mod fma_peak;
mod fold;
mod lr_find;
mod predict;
mod prune;
mod run_lock;
mod train;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use deeptrain::distributed::Communicator;
use deeptrain::spec::{Spec, DEFAULT_SPEC};
use deeptrain::Result;

/// Train deep neural networks well.
#[derive(Debug, Parser)]
#[command(name = "deeptrain", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Threads for matrix products (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Matrix kernel (default: avx512 where the CPU has AVX-512F, else gemm, the `gemm` 0.18
    /// crate; avx512 and avx2 are private-gemm-x86's, as fast or up to 17% faster than gemm on
    /// the bench models on an AVX-512 machine). Kernels sum in different orders, so runs
    /// differ in their last bits between them.
    #[arg(long, global = true, value_enum)]
    kernel: Option<KernelChoice>,
}

/// `--kernel`'s values: [`deeptrain::linalg::Kernel`] by name.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum KernelChoice {
    Avx512,
    Avx2,
    Gemm,
}

/// The `--kernel` value that names `kernel`.
pub(crate) fn kernel_arg(kernel: deeptrain::linalg::Kernel) -> &'static str {
    match kernel {
        deeptrain::linalg::Kernel::Avx512 => "avx512",
        deeptrain::linalg::Kernel::Avx2 => "avx2",
        deeptrain::linalg::Kernel::Gemm => "gemm",
    }
}

impl From<KernelChoice> for deeptrain::linalg::Kernel {
    fn from(choice: KernelChoice) -> Self {
        match choice {
            KernelChoice::Avx512 => Self::Avx512,
            KernelChoice::Avx2 => Self::Avx2,
            KernelChoice::Gemm => Self::Gemm,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train the model a spec describes (without a spec: a default model on the embedded digits).
    Train(train::TrainArgs),
    /// Evaluate a trained model on a dataset (default: the test set of the data it was trained on).
    Evaluate(predict::EvaluateArgs),
    /// Predict class probabilities (or values) for the rows of a CSV or NPY file.
    Predict(predict::PredictArgs),
    /// A short run with per-layer statistics and plain-language verdicts (vanishing or
    /// exploding gradients, dead ReLUs, saturation, self-normalization, divergence).
    Diagnose(diagnose::DiagnoseArgs),
    /// Diagnose a spec, try the chapter's remedies in short trials, write the best spec.
    Doctor(doctor::DoctorArgs),
    /// Write a spec from a preset that follows the chapter's guidelines, commented.
    New(compare::NewArgs),
    /// Train every combination of --vary settings; compare their validation curves.
    Compare(compare::CompareArgs),
    /// Speed and memory of the standard benchmark models (see bench/compare.py for PyTorch).
    Bench(bench::BenchArgs),
    /// The learning-rate range test: loss versus an exponentially growing rate, and a suggestion.
    LrFind(lr_find::LrFindArgs),
    /// Zero the kernel weights below a threshold; report sparsity and accuracy before and after.
    Prune(prune::PruneArgs),
    /// Fold batch normalization into Dense layers for faster inference (predictions unchanged).
    Fold(fold::FoldArgs),
    /// Print the layers, output shapes and parameter counts of a spec's model, or of a saved
    /// model.
    Summary {
        /// The spec, or a saved model: a run directory, its `model/` folder or the
        /// `model.toml` in it (default: the built-in digits model).
        spec: Option<PathBuf>,
    },
}

/// Runs a parsed command line.
pub fn run(cli: Cli, ranks: Option<Arc<dyn Communicator>>) -> Result<()> {
    if let Some(kernel) = cli.kernel {
        deeptrain::linalg::set_kernel(kernel.into())?;
    }
    if let Some(threads) = cli.threads {
        deeptrain::linalg::set_num_threads(threads);
    } else if let Some(local) = deeptrain::distributed::local_ranks().filter(|&n| n > 1) {
        // Ranks sharing a machine share its cores.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        deeptrain::linalg::set_num_threads((cores / local).max(1));
    }
    if ranks.as_ref().is_some_and(|c| c.size() > 1)
        && !matches!(cli.command, Command::Train(_) | Command::Bench(_))
    {
        return Err(deeptrain::Error::Config(
            "only `train` and `bench` run on several MPI processes; run this command alone".into(),
        ));
    }
    match cli.command {
        Command::Train(args) => train::run(args, ranks),
        Command::Evaluate(args) => predict::evaluate(args),
        Command::Predict(args) => predict::predict(args),
        Command::Fold(args) => fold::run(args),
        Command::Prune(args) => prune::run(args),
        Command::LrFind(args) => lr_find::run(args),
        Command::Bench(args) => bench::run(args, ranks),
        Command::New(args) => compare::new(args),
        Command::Compare(args) => compare::compare(args),
        Command::Diagnose(args) => diagnose::run(args).map(|_| ()),
        Command::Doctor(args) => doctor::run(args),
        Command::Summary { spec } => {
            let model = match spec.as_deref() {
                Some(path) if deeptrain::run::SavedRun::is_saved(path) => {
                    deeptrain::run::SavedRun::open(path)?.into_parts().0
                }
                path => deeptrain::Experiment::build_model(&load_spec(path)?)?,
            };
            print!("{}", model.summary());
            Ok(())
        }
    }
}

/// Reads the spec at `path`, or the built-in default.
pub fn load_spec(path: Option<&std::path::Path>) -> Result<Spec> {
    match path {
        Some(p) => Spec::from_file(p),
        None => Spec::parse(
            DEFAULT_SPEC,
            std::path::Path::new("<built-in default spec>"),
        ),
    }
}
