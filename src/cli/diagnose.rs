//! `deeptrain diagnose`: a short training run with every instrument on, a table of what the
//! activations and gradients are doing, and verdicts with their evidence and fixes; `--json`
//! prints them in the stable form of [`deeptrain::diagnostics::Diagnosis::to_json`].

use std::path::PathBuf;

use clap::Args;

use deeptrain::diagnostics::{self, Diagnosis, Verdict};
use deeptrain::{Error, Experiment, Result};

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// The experiment spec (TOML); without it, the built-in digits model.
    spec: Option<PathBuf>,
    /// Training steps to run (exactly these, unless training diverges first).
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Record statistics every this many steps (default: about 30 samples over the run).
    #[arg(long)]
    every: Option<u64>,
    /// Also write diagnostics.csv here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print one JSON object on stdout instead of the text: {"steps", "warnings": [{"id",
    /// "message"}], "verdicts": [{"id", "layer", "evidence", "fix"}], "instruments"}.
    #[arg(long)]
    json: bool,
}

/// Runs the diagnosis; returns the verdicts (also printed).
pub fn run(args: DiagnoseArgs) -> Result<Vec<Verdict>> {
    if args.steps == 0 {
        return Err(Error::Config("--steps must be at least 1".into()));
    }
    let spec = super::load_spec(args.spec.as_deref())?;
    let mut experiment = Experiment::from_spec(&spec)?;
    // The spec's [[callbacks]] run as under `train` (those that write, under --out).
    let skipped = experiment.run_spec_callbacks(args.out.as_deref(), !args.json)?;
    // The configuration warnings, before training (the setup checks follow it).
    let before = experiment.warnings();
    if !args.json {
        if let Some(line) = experiment.origin().describe() {
            println!("{line}");
        }
        for w in &before {
            println!("warning: {w}");
        }
        for name in &skipped {
            println!("note: the {name} callback writes files: give --out to run it");
        }
        println!(
            "Training {} steps (batch {}) with statistics every {} steps",
            args.steps,
            spec.fit.batch_size.max(1),
            args.every.unwrap_or((args.steps as u64 / 30).max(1))
        );
    }
    let diagnosis = diagnostics::diagnose(experiment, args.steps, args.every)?;
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        deeptrain::io::write_atomic(
            &out.join("diagnostics.csv"),
            diagnostics::Diagnostics::csv_of(&diagnosis.rows).as_bytes(),
        )?;
    }
    if args.json {
        println!("{}", diagnosis.to_json());
    } else {
        print_text(&diagnosis, &before);
    }
    Ok(diagnosis.verdicts)
}

fn print_text(d: &Diagnosis, printed: &[String]) {
    for w in d
        .warnings
        .iter()
        .filter(|w| !printed.contains(&w.to_string()))
    {
        println!("warning: {w}");
    }
    print!("{}", table(d));
    let ran = match &d.diverged {
        None if d.steps >= d.requested => format!("all {} steps", d.steps),
        None => format!(
            "{} of {} steps; a callback (such as early stopping) ended training",
            d.steps, d.requested
        ),
        Some(_) => format!(
            "{} of {} steps; then training diverged",
            d.steps, d.requested
        ),
    };
    println!("Curve: {}", d.curve.evidence());
    if let Some(l) = d.lambda_max {
        println!(
            "Top Hessian eigenvalue {l:.3e} (2/λmax = {:.3e}; learning rate {})",
            2.0 / l,
            d.learning_rate
        );
    }
    if let Some(n) = d.noise {
        println!(
            "Gradient noise: a minibatch gradient's variance is {:.2} times its mean's squared norm ({} minibatches of {})",
            n.ratio, n.parts, n.batch
        );
    }
    let problems: Vec<&Verdict> = d.verdicts.iter().filter(|v| !v.is_healthy()).collect();
    let findings: Vec<&Verdict> = d
        .findings
        .iter()
        .filter(|f| f.is_healthy() || !problems.iter().any(|p| p.kind == f.kind))
        .collect();
    println!("Verdicts (after {ran}):");
    for v in &d.verdicts {
        print_verdict(v);
    }
    if !findings.is_empty() {
        println!("Other findings:");
        for v in findings {
            print_verdict(v);
        }
    }
}

fn print_verdict(v: &Verdict) {
    println!(
        "- {}{}: {}\n    why: {}\n    fix: {}",
        v.kind,
        v.layer
            .as_deref()
            .map_or(String::new(), |l| format!(" (layer {l})")),
        v.finding,
        v.reason,
        v.fix
    );
}

/// The last sampled step, one line per layer.
fn table(d: &Diagnosis) -> String {
    let rows = &d.rows;
    let Some(last) = rows.iter().map(|r| r.step).max() else {
        return String::new();
    };
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{:.0}%", 100.0 * x));
    let sci = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.2e}"));
    let mut out = format!(
        "Step {last}:\n{:<14} {:<18} {:>9} {:>9} {:>6} {:>6} {:>10} {:>10} {:>10}\n",
        "layer",
        "activation",
        "act mean",
        "act std",
        "satur.",
        "dead",
        "grad norm",
        "update/w",
        "from init"
    );
    for r in rows.iter().filter(|r| r.step == last) {
        out.push_str(&format!(
            "{:<14} {:<18} {:>9.3} {:>9.3} {:>6} {:>6} {:>10} {:>10} {:>10}\n",
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
            sci(d
                .distances
                .iter()
                .find(|(name, _)| *name == r.name)
                .map(|(_, m)| *m)),
        ));
    }
    out
}
