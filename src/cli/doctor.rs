//! `deeptrain doctor SPEC --out DIR`: diagnose the spec, try the chapter's remedies in short
//! trials, print the table, write `repaired.toml`, `doctor.md` and `doctor.json` (see
//! [`deeptrain::doctor`]).

use std::path::PathBuf;

use clap::Args;

use deeptrain::doctor::{self, DoctorOptions};
use deeptrain::Result;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The experiment spec (TOML) to repair.
    spec: PathBuf,
    /// Where to write repaired.toml, doctor.md and doctor.json.
    #[arg(long)]
    out: PathBuf,
    /// The most training steps of each trial (fewer when the spec's own epochs are fewer).
    #[arg(long, default_value_t = 300)]
    steps: usize,
    /// Rounds of remedies, each on top of the best so far (0: diagnose and score the spec only).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// Runs the doctor and writes its report.
pub fn run(args: DoctorArgs) -> Result<()> {
    let options = DoctorOptions {
        trial_steps: args.steps,
        rounds: args.rounds,
    };
    let report = doctor::doctor(&args.spec, &options)?;
    for f in &report.findings {
        println!("finding: {f}");
    }
    print!("{}", report.table());
    report.write(&args.out)?;
    println!(
        "Wrote {} (repaired.toml, doctor.md, doctor.json)",
        args.out.display()
    );
    Ok(())
}
