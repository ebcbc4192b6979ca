//! `deeptrain new` (a spec from a preset) and `deeptrain compare` (train every combination of a
//! few settings and show their validation curves side by side).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use deeptrain::plot::{line_chart, Chart, Series};
use deeptrain::presets::{preset, PRESETS};
use deeptrain::spec::Spec;
use deeptrain::{Error, Result};

#[derive(Debug, Args)]
pub struct NewArgs {
    /// default, self-normalizing or fast.
    #[arg(long, default_value = "default")]
    preset: String,
    /// Where to write the spec.
    out: PathBuf,
}

pub fn new(args: NewArgs) -> Result<()> {
    let text = preset(&args.preset).ok_or_else(|| {
        Error::Config(format!(
            "unknown preset `{}`; choose one of: {}",
            args.preset,
            PRESETS
                .iter()
                .map(|p| format!("{} ({})", p.0, p.1))
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })?;
    if args.out.exists() {
        return Err(Error::Config(format!(
            "{} exists; choose another name",
            args.out.display()
        )));
    }
    deeptrain::io::write_atomic(&args.out, text.as_bytes())?;
    println!("Wrote {} (preset {})", args.out.display(), args.preset);
    Ok(())
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The base spec.
    spec: PathBuf,
    /// KEY=V1,V2,...: a dotted key (`optimizer.name`, `fit.batch_size`, or `layers.KEY` for
    /// every layer but the last that already has KEY) and the values to try. Repeat for a grid.
    #[arg(long, required = true)]
    vary: Vec<String>,
    /// Override the spec's epochs for every run.
    #[arg(long)]
    epochs: Option<usize>,
    /// Output directory (default: runs/<spec name>-compare).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Start over where --out holds the checkpoints of an earlier comparison, replacing them.
    #[arg(long)]
    overwrite: bool,
}

/// A TOML value from command-line text: a number or boolean when it parses as one, else a
/// string.
fn value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_str())
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

/// Sets `key` (dotted) in `doc`.
fn set(doc: &mut toml::Table, key: &str, v: &toml::Value) -> Result<()> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.len() == 2 && parts[0] == "layers" {
        let layers = doc
            .get_mut("layers")
            .and_then(|l| l.as_array_mut())
            .ok_or_else(|| Error::Config("the spec has no [[layers]]".into()))?;
        let n = layers.len();
        let mut changed = 0;
        for layer in layers.iter_mut().take(n.saturating_sub(1)) {
            if let Some(t) = layer.as_table_mut().filter(|t| t.contains_key(parts[1])) {
                t.insert(parts[1].to_string(), v.clone());
                changed += 1;
            }
        }
        if changed == 0 {
            return Err(Error::Config(format!(
                "--vary {key}: no layer (but the last) sets `{}`",
                parts[1]
            )));
        }
        return Ok(());
    }
    let (last, path) = parts
        .split_last()
        .ok_or_else(|| Error::Config("empty --vary key".into()))?;
    let mut table = doc;
    for p in path {
        table = table
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| Error::Config(format!("--vary {key}: `{p}` is not a table")))?;
    }
    table.insert(last.to_string(), v.clone());
    Ok(())
}

pub fn compare(args: CompareArgs) -> Result<()> {
    let base_text = deeptrain::io::read_to_string(&args.spec)?;
    let base: toml::Table = toml::from_str(&base_text)
        .map_err(|e| Error::spec(&args.spec, deeptrain::one_line(&e.to_string())))?;
    let mut axes: Vec<(String, Vec<String>)> = Vec::new();
    for v in &args.vary {
        let (key, values) = v
            .split_once('=')
            .ok_or_else(|| Error::Config(format!("--vary {v}: expected KEY=V1,V2,...")))?;
        let values: Vec<String> = values.split(',').map(|s| s.trim().to_string()).collect();
        if values.iter().any(String::is_empty) {
            return Err(Error::Config(format!("--vary {v}: an empty value")));
        }
        axes.push((key.trim().to_string(), values));
    }
    let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (key, values) in &axes {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((key.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    if combos.len() > 64 {
        return Err(Error::Config(format!(
            "{} combinations: at most 64",
            combos.len()
        )));
    }
    let stem = args
        .spec
        .file_stem()
        .map_or("spec".into(), |s| s.to_string_lossy().into_owned());
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("{stem}-compare")));
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    let mut results = Vec::new();
    for combo in &combos {
        let label: String = combo
            .iter()
            .map(|(k, v)| format!("{}={v}", k.rsplit('.').next().unwrap_or(k)))
            .collect::<Vec<_>>()
            .join(",");
        let dir_name: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '=' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut doc = base.clone();
        for (k, v) in combo {
            if k == "optimizer.name" {
                switch_optimizer(&mut doc, v, combo);
            }
            set(&mut doc, k, &value(v))?;
        }
        let text = toml::to_string(&doc).map_err(|e| Error::Config(e.to_string()))?;
        let run_dir = out.join(&dir_name);
        if !args.overwrite && deeptrain::experiment::has_checkpoint(&run_dir) {
            return Err(Error::Config(format!(
                "--out {} holds the checkpoints of an earlier comparison: start it over with --overwrite, or choose another --out",
                out.display()
            )));
        }
        std::fs::create_dir_all(&run_dir).map_err(|e| Error::io(&run_dir, e))?;
        let spec_path = run_dir.join("spec.toml");
        // Checked before anything trains (relative data paths must work from the run directory
        // or the current one).
        let parsed = Spec::parse(&text, &spec_path)?;
        let lr = parsed.optimizer.learning_rate();
        deeptrain::io::write_atomic(&spec_path, text.as_bytes())?;
        println!("=== {label} (learning rate {lr})");
        super::train::run(
            super::train::TrainArgs::for_compare(
                spec_path.clone(),
                run_dir.clone(),
                args.epochs,
                args.overwrite,
            ),
            None,
        )?;
        let history = std::fs::read_to_string(run_dir.join("history.csv"))
            .map_err(|e| Error::io(&run_dir.join("history.csv"), e))?;
        results.push(RunResult {
            label,
            dir: run_dir,
            history,
            learning_rate: lr,
        });
    }
    summarize(&out, &results)
}

/// One finished run of the grid.
struct RunResult {
    label: String,
    dir: PathBuf,
    history: String,
    /// The rate the run's optimizer used (its own default unless the spec or grid set one).
    learning_rate: f32,
}

/// Before `[optimizer] name` becomes `name`: the spec's own hyperparameters (learning rate,
/// momentum, betas, ...) belong to the spec's optimizer, so another optimizer starts from its
/// own (Keras') defaults; what the grid sets, and clipping, stay.
fn switch_optimizer(doc: &mut toml::Table, name: &str, combo: &[(String, String)]) {
    let Some(table) = doc.get_mut("optimizer").and_then(|o| o.as_table_mut()) else {
        return;
    };
    let current = table.get("name").and_then(|n| n.as_str()).unwrap_or("sgd");
    if current == name {
        return;
    }
    table.retain(|key, _| {
        key == "name"
            || key.contains("clip")
            || combo.iter().any(|(k, _)| k == &format!("optimizer.{key}"))
    });
}

/// compare.csv, compare.png (validation curves side by side) and a table on stdout.
fn summarize(out: &Path, results: &[RunResult]) -> Result<()> {
    let mut series = Vec::new();
    let mut csv = String::from("run,learning_rate,epochs,final_val,best_val,test_accuracy\n");
    let mut table = String::new();
    let mut metric_name = String::from("val_loss");
    for RunResult {
        label,
        dir,
        history,
        learning_rate,
    } in results
    {
        let mut lines = history.lines();
        let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
        let col = header
            .iter()
            .position(|h| *h == "val_accuracy")
            .or_else(|| header.iter().position(|h| *h == "val_loss"))
            .or_else(|| header.iter().position(|h| *h == "loss"));
        let Some(col) = col else { continue };
        metric_name = header[col].to_string();
        let points: Vec<(f64, f64)> = lines
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                Some((f.first()?.parse().ok()?, f.get(col)?.parse().ok()?))
            })
            .collect();
        let last = points.last().map_or(f64::NAN, |p| p.1);
        let best = if metric_name.contains("acc") {
            points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max)
        } else {
            points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min)
        };
        let test = std::fs::read_to_string(dir.join("summary.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["test"]["accuracy"].as_f64());
        let _ = writeln!(
            csv,
            "{},{learning_rate},{},{last},{best},{}",
            label.replace(',', " "),
            points.len(),
            test.map_or(String::new(), |t| t.to_string())
        );
        let _ = writeln!(
            table,
            "{label:<40} {learning_rate:>8} {:>8.4} {:>8.4} {:>8}",
            last,
            best,
            test.map_or("-".into(), |t| format!("{t:.4}"))
        );
        series.push(Series {
            name: label.clone(),
            points,
        });
    }
    deeptrain::io::write_atomic(&out.join("compare.csv"), csv.as_bytes())?;
    line_chart(
        &out.join("compare.png"),
        &Chart {
            title: format!("{metric_name} per epoch"),
            x_label: "epoch".into(),
            y_label: metric_name.clone(),
            integer_x: true,
            ..Chart::default()
        },
        &series,
    )?;
    println!(
        "{:<40} {:>8} {:>8} {:>8} {:>8}\n{table}Wrote {}/compare.csv and compare.png",
        "run",
        "lr",
        format!(
            "final {}",
            if metric_name.contains("acc") {
                "acc"
            } else {
                "loss"
            }
        ),
        "best",
        "test",
        out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn optimizer_of(text: &str, combo: &[(&str, &str)]) -> deeptrain::OptimizerSpec {
        let mut doc: toml::Table = toml::from_str(text).unwrap();
        let combo: Vec<(String, String)> = combo
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in &combo {
            if k == "optimizer.name" {
                switch_optimizer(&mut doc, v, &combo);
            }
            set(&mut doc, k, &value(v)).unwrap();
        }
        doc["optimizer"].clone().try_into().unwrap()
    }

    /// The spec's rate (and momentum) belong to its SGD: Adam gets Keras' 0.001, unless the
    /// grid sets a rate; the spec's own optimizer keeps the spec's rate.
    #[test]
    fn each_varied_optimizer_gets_its_own_default_rate_unless_set() {
        let spec =
            "[optimizer]\nname = \"sgd\"\nlearning_rate = 0.05\nmomentum = 0.9\nclipnorm = 1.0\n";
        let adam = optimizer_of(spec, &[("optimizer.name", "adam")]);
        assert_eq!(adam.learning_rate(), 0.001);
        assert_eq!(
            adam.clipping().unwrap(),
            deeptrain::optimizers::Clipping::Norm(1.0)
        );
        adam.build().unwrap();
        let sgd = optimizer_of(spec, &[("optimizer.name", "sgd")]);
        assert_eq!(sgd.learning_rate(), 0.05);
        let deeptrain::OptimizerSpec::Sgd(sgd) = sgd else {
            panic!("{sgd:?}")
        };
        assert_eq!(sgd.momentum, 0.9);
        let set_by_grid = optimizer_of(
            spec,
            &[
                ("optimizer.learning_rate", "0.003"),
                ("optimizer.name", "nadam"),
            ],
        );
        assert_eq!(set_by_grid.learning_rate(), 0.003);
    }
}
