//! `deeptrain fold`: fold batch normalization into Dense layers for inference, check that the
//! predictions are unchanged and measure the inference speed before and after. `train` does the
//! same after training any model that has batch normalization.

use std::path::{Path, PathBuf};

use clap::Args;

use deeptrain::run::{fold_and_check, SavedRun};
use deeptrain::{Error, Result, Tensor};

/// Rows the folded model is checked and timed on.
const PROBE_ROWS: usize = 4096;

#[derive(Debug, Args)]
pub struct FoldArgs {
    /// A saved model directory (a run's `model/`, or the run directory).
    model: PathBuf,
    /// Where to write the folded model (default: MODEL-folded beside it).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Deterministic standard-normal-like inputs of a model's input shape (inference speed does
/// not depend on the values).
fn probe_inputs(input_shape: &[usize], rows: usize) -> Tensor {
    let features: usize = input_shape.iter().product();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let data = (0..rows * features)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.4
        })
        .collect();
    let mut shape = vec![rows];
    shape.extend_from_slice(input_shape);
    Tensor::from_vec(data, &shape)
}

pub fn run(args: FoldArgs) -> Result<()> {
    let run = SavedRun::open(&args.model)?;
    // The run's own evaluation rows when it records its data, else made-up inputs of its shape
    // (the speed does not depend on the values).
    let inputs = match run.recorded_rows()? {
        Some(rows) => rows.data.slice(0..rows.data.len().min(PROBE_ROWS)).x,
        None => probe_inputs(&run.file().input_shape, PROBE_ROWS),
    };
    let dir = run.dir().to_path_buf();
    let (mut model, _, metadata) = run.into_parts();
    let Some(report) = fold_and_check(&mut model, &inputs)? else {
        return Err(Error::Config(format!(
            "{}: no batch-normalization layer next to a Dense layer, nothing to fold",
            args.model.display()
        )));
    };
    let out = args.out.unwrap_or_else(|| folded_dir(&dir));
    report.model.save(&out)?;
    metadata.save(&out)?;
    println!("{}; wrote {}", report.line(), out.display());
    Ok(())
}

fn folded_dir(model: &Path) -> PathBuf {
    let name = model
        .file_name()
        .map_or("model".into(), |n| n.to_string_lossy().into_owned());
    model.with_file_name(format!("{name}-folded"))
}
