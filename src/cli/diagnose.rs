//! `deeptrain diagnose`: a short training run with per-layer statistics, a table of what the
//! activations and gradients are doing, and plain-language verdicts with reasons and fixes.

use std::path::PathBuf;

use clap::Args;

use deeptrain::callbacks::{BatchEnd, Callback};
use deeptrain::diagnostics::{self, Diagnostics, LayerStats, Verdict};
use deeptrain::{Error, Experiment, Result};

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// The experiment spec (TOML); without it, the built-in digits model.
    spec: Option<PathBuf>,
    /// Training steps to run.
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Record statistics every this many steps (default: about 30 samples over the run).
    #[arg(long)]
    every: Option<u64>,
    /// Also write diagnostics.csv here.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs the diagnosis; returns the verdicts (also printed).
pub fn run(args: DiagnoseArgs) -> Result<Vec<Verdict>> {
    if args.steps == 0 {
        return Err(Error::Config("--steps must be at least 1".into()));
    }
    let spec = super::load_spec(args.spec.as_deref())?;
    // The spec's whole run (class weights, augmentation, `[transfer]`), cut to --steps steps.
    let mut experiment = Experiment::from_spec(&spec)?;
    if let Some(line) = experiment.origin().describe() {
        println!("{line}");
    }
    for w in experiment.warnings() {
        println!("warning: {w}");
    }
    let batch = spec.fit.batch_size.max(1);
    let (samples, epochs) = experiment.limit_to_steps(args.steps);
    let diagnostics = Diagnostics::new(args.every.unwrap_or((args.steps as u64 / 30).max(1)));
    experiment
        .model_mut()
        .set_observer(Some(Box::new(diagnostics.clone())));
    println!(
        "Training {} steps ({} samples x {epochs} epoch(s), batch {batch}) with statistics every {} steps",
        args.steps,
        samples,
        args.every.unwrap_or((args.steps as u64 / 30).max(1))
    );
    let mut counter = StepCounter::default();
    let outcome = experiment.fit(&mut [&mut counter], None).map(|_| ());
    let rows = diagnostics.rows();
    print!("{}", table(&rows));
    let mut verdicts = diagnostics::verdicts(&rows);
    let ran = match outcome {
        Ok(_) => format!("all {} steps", args.steps),
        Err(Error::Diverged(message)) => {
            verdicts = diagnostics::with_divergence(verdicts, &message);
            format!(
                "{} of {} steps; then training diverged",
                counter.steps, args.steps
            )
        }
        Err(e) => return Err(e),
    };
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        diagnostics.write_csv(&out.join("diagnostics.csv"))?;
    }
    println!("Verdicts (after {ran}):");
    for v in &verdicts {
        println!(
            "- {}: {}\n    why: {}\n    fix: {}",
            v.kind, v.finding, v.reason, v.fix
        );
    }
    if verdicts.is_empty() {
        println!("- none: not enough statistics (run more --steps)");
    }
    Ok(verdicts)
}

/// Counts the training steps that finished.
#[derive(Default)]
struct StepCounter {
    steps: usize,
}

impl Callback for StepCounter {
    fn on_batch_end(&mut self, _: &BatchEnd) {
        self.steps += 1;
    }
}

/// The last sampled step, one line per layer.
fn table(rows: &[LayerStats]) -> String {
    let Some(last) = rows.iter().map(|r| r.step).max() else {
        return String::new();
    };
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{:.0}%", 100.0 * x));
    let sci = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.2e}"));
    let mut out = format!(
        "Step {last}:\n{:<14} {:<18} {:>9} {:>9} {:>6} {:>6} {:>10} {:>10}\n",
        "layer", "activation", "act mean", "act std", "satur.", "dead", "grad norm", "update/w"
    );
    for r in rows.iter().filter(|r| r.step == last) {
        out.push_str(&format!(
            "{:<14} {:<18} {:>9.3} {:>9.3} {:>6} {:>6} {:>10} {:>10}\n",
            r.name,
            r.activation,
            r.act_mean,
            r.act_std,
            pct(r.saturated),
            pct(r.dead),
            sci(r.grad_norm),
            sci(rows
                .iter()
                .rev()
                .find(|p| p.layer == r.layer && p.update_ratio.is_some())
                .and_then(|p| p.update_ratio)),
        ));
    }
    out
}
