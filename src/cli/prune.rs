//! `deeptrain prune`: zero the kernel weights below a threshold (the textbook's sparse-model
//! recipe after L1 training), report the sparsity per layer and the accuracy before and after.

use std::path::PathBuf;

use clap::Args;

use deeptrain::model::summary::with_commas;
use deeptrain::run::SavedRun;
use deeptrain::{Error, Result, Sequential};

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// A saved model directory (a run's `model/`, or the run directory).
    model: PathBuf,
    /// Weights with |w| below this become 0.
    #[arg(long)]
    threshold: f32,
    /// Where to write the pruned model (default: MODEL-pruned beside it).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: PruneArgs) -> Result<()> {
    if !(args.threshold.is_finite() && args.threshold > 0.0) {
        return Err(Error::Config(format!(
            "--threshold must be a positive number, got {}",
            args.threshold
        )));
    }
    let run = SavedRun::open(&args.model)?;
    // The rows `evaluate` scores by default, prepared the same way.
    let evaluation = run.recorded_rows()?.map(|rows| rows.data);
    let dir = run.dir().to_path_buf();
    let (mut model, _, metadata) = run.into_parts();
    let score = |model: &mut Sequential| -> Result<String> {
        match &evaluation {
            Some(data) => Ok(model
                .evaluate(data, 1024)?
                .iter()
                .map(|(n, v)| format!("{n}: {v:.4}"))
                .collect::<Vec<_>>()
                .join(" - ")),
            None => Ok("(no data recorded with the model)".into()),
        }
    };
    let before = score(&mut model)?;
    println!("Kernel weights with |w| < {}:", args.threshold);
    for (name, total, small) in model.sparsity(args.threshold) {
        println!(
            "  {name:<16} {:>12} of {:>12} ({:.1}%)",
            with_commas(small),
            with_commas(total),
            100.0 * small as f64 / total.max(1) as f64
        );
    }
    let zeroed = model.prune(args.threshold);
    let after = score(&mut model)?;
    println!("Before: {before}");
    println!("After zeroing {} weights: {after}", with_commas(zeroed));
    let out = args.out.unwrap_or_else(|| {
        let name = dir
            .file_name()
            .map_or("model".into(), |n| n.to_string_lossy().into_owned());
        dir.with_file_name(format!("{name}-pruned"))
    });
    model.save(&out)?;
    metadata.save(&out)?;
    println!("Wrote {}", out.display());
    Ok(())
}
