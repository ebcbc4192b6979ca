//! `deeptrain lr-find`: the learning-rate range test on a spec's model and data; writes the
//! loss-versus-rate curve (CSV and PNG, log-scale rate) and prints a suggested rate.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use deeptrain::model::{LrFindOptions, SUGGESTION_RULE};
use deeptrain::plot::{line_chart, Chart, Series};
use deeptrain::{Error, Experiment, Result};

#[derive(Debug, Args)]
pub struct LrFindArgs {
    /// The experiment spec (TOML); without it, the built-in digits model.
    spec: Option<PathBuf>,
    /// The first learning rate.
    #[arg(long, default_value_t = 1e-6)]
    min: f64,
    /// The last learning rate.
    #[arg(long, default_value_t = 10.0)]
    max: f64,
    /// Steps (default: one epoch of the training data, at least 100).
    #[arg(long)]
    steps: Option<usize>,
    /// Output directory (default: runs/<spec name>-lr-find).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: LrFindArgs) -> Result<()> {
    let spec = super::load_spec(args.spec.as_deref())?;
    let name = args
        .spec
        .as_deref()
        .and_then(|p| p.file_stem())
        .map_or("default".into(), |s| s.to_string_lossy().into_owned());
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("{name}-lr-find")));
    let experiment = Experiment::from_spec(&spec)?;
    if let Some(line) = experiment.origin().describe() {
        println!("{line}");
    }
    let (mut model, data, _) = experiment.into_parts();
    let options = LrFindOptions {
        min_lr: args.min,
        max_lr: args.max,
        steps: args.steps,
        batch_size: spec.fit.batch_size,
        ..LrFindOptions::default()
    };
    let result = model.lr_range_test(&data.train, &options)?;

    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    let mut csv = String::from("step,learning_rate,loss,smoothed_loss\n");
    for (i, (lr, loss, smoothed)) in result.points.iter().enumerate() {
        let _ = writeln!(csv, "{},{lr:e},{loss},{smoothed}", i + 1);
    }
    deeptrain::io::write_atomic(&out.join("lr_find.csv"), csv.as_bytes())?;
    let chart = Chart {
        title: format!(
            "Learning-rate range test: {name} ({})",
            spec.optimizer.name()
        ),
        x_label: "learning rate (log scale)".into(),
        y_label: "training loss".into(),
        log_x: true,
        marker: Some((
            result.suggested_lr,
            format!("suggested {:.2e}", result.suggested_lr),
        )),
        // Up to twice the starting loss: the explosion at the end would flatten the curve.
        y_range: Some((
            result
                .points
                .iter()
                .map(|p| p.1)
                .fold(f64::INFINITY, f64::min)
                * 0.9,
            result.points[0].2 * 2.0,
        )),
        ..Chart::default()
    };
    let series = [
        Series {
            name: "batch loss".into(),
            points: result.points.iter().map(|p| (p.0, p.1)).collect(),
        },
        Series {
            name: "smoothed loss".into(),
            points: result.points.iter().map(|p| (p.0, p.2)).collect(),
        },
    ];
    line_chart(&out.join("lr_find.png"), &chart, &series)?;
    let last = result.points.last().map_or(args.min, |p| p.0);
    println!(
        "{} steps from {:.1e} to {:.1e}{}; lowest smoothed loss at {:.2e}, climbing from {:.2e}",
        result.points.len(),
        args.min,
        last,
        if result.diverged {
            " (stopped: the loss exploded)"
        } else {
            ""
        },
        result.best_lr,
        result.turning_lr
    );
    println!(
        "Suggested learning rate: {:.2e}, {SUGGESTION_RULE}",
        result.suggested_lr
    );
    println!("Wrote {}/lr_find.csv and lr_find.png", out.display());
    Ok(())
}
