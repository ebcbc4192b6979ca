//! Resuming a run: which keys of a spec differ from the checkpoint it would continue, so that
//! `--resume` refuses a changed model, optimizer, schedule or data (`[fit]` and `[[callbacks]]`
//! may change).

use std::path::Path;

use serde::Serialize;

use super::Spec;
use crate::data::DataSpec;
use crate::layers::LayerSpec;
use crate::model::ModelFile;
use crate::Result;

impl Spec {
    /// The keys in which this spec differs from the checkpoint whose model file is `file` and
    /// whose recorded data is `data` (`optimizer.learning_rate`, `layers #2.units`,
    /// `data.dataset`, ...): resuming is safe only when none does. `[fit]` and `[[callbacks]]`
    /// are not recorded and may change.
    pub fn resume_conflicts(
        &self,
        file: &ModelFile,
        data: Option<&DataSpec>,
    ) -> Result<Vec<String>> {
        let mut out = Vec::new();
        if self.seed != file.seed {
            out.push("seed".to_string());
        }
        diff(
            "compile.loss",
            &json(&self.compile.loss),
            &json(&file.loss),
            &mut out,
        );
        diff(
            "compile.metrics",
            &json(&self.compile.metrics),
            &json(&file.metrics),
            &mut out,
        );
        // The saved optimizer spec is normalized (defaults written out) and, under a schedule
        // or an unfreezing rate, carries the rate of the moment.
        let built = self.optimizer.build()?;
        let ours = built.spec();
        let (mut a, mut b) = (json(&ours), json(&file.optimizer));
        let rate_moves = self.schedule.is_some()
            || self
                .transfer
                .as_ref()
                .is_some_and(|t| t.unfreeze_learning_rate.is_some());
        // 1cycle also moves the momentum (SGD's, RMSprop's) or Adam's β₁.
        let momentum_moves = matches!(
            &self.schedule,
            Some(crate::schedules::ScheduleSpec::OneCycle(c)) if c.cycle_momentum
        );
        for v in [&mut a, &mut b] {
            if let Some(m) = v.as_object_mut() {
                if rate_moves {
                    m.remove("learning_rate");
                }
                if momentum_moves {
                    m.remove("momentum");
                    m.remove("beta_1");
                }
            }
        }
        diff("optimizer", &a, &b, &mut out);
        // The saved schedule is normalized too (its starting rate written out).
        let schedule = match &self.schedule {
            Some(spec) => Some(
                crate::schedules::Scheduler::new(spec.clone(), built.learning_rate() as f64)?
                    .spec()
                    .clone(),
            ),
            None => None,
        };
        diff(
            "schedule",
            &json(&schedule),
            &json(&file.schedule),
            &mut out,
        );
        if let Some(recorded) = data {
            let mut recorded = recorded.clone();
            recorded.resolve_paths(Path::new("."));
            let mut current = self.data.clone();
            current.resolve_paths(Path::new("."));
            // Which rank reads which rows does not change the data.
            current.shard = recorded.shard;
            // Nor does reading the training rows from disk rather than memory.
            current.stream = recorded.stream;
            diff("data", &json(&current), &json(&recorded), &mut out);
        }
        match &self.transfer {
            None => {
                let built = crate::Sequential::from_graph(
                    &file.input_shape,
                    &file.model_inputs(),
                    &self.layers,
                    &self.outputs,
                    self.seed,
                )
                .map(|m| m.layer_specs());
                let table = |l: &LayerSpec| crate::layers::layer_spec_to_table(l).ok();
                match built {
                    Ok(layers) if layers.len() == file.layers.len() => {
                        for (i, (a, b)) in layers.iter().zip(&file.layers).enumerate() {
                            diff(
                                &format!("layers #{}", i + 1),
                                &json(&table(a)),
                                &json(&table(b)),
                                &mut out,
                            );
                        }
                        diff(
                            "outputs",
                            &json(&self.outputs),
                            &json(&file.outputs),
                            &mut out,
                        );
                    }
                    Ok(layers) => out.push(format!(
                        "layers ({} in the spec, {} in the checkpoint)",
                        layers.len(),
                        file.layers.len()
                    )),
                    Err(_) => out.push("layers".to_string()),
                }
            }
            Some(t) => {
                if t.layers + self.layers.len() != file.layers.len() {
                    out.push("layers".to_string());
                }
            }
        }
        Ok(out)
    }
}

/// `v` as JSON, for [`diff`].
fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Pushes onto `out` the dotted keys under `prefix` whose values differ between `a` and `b`.
fn diff(prefix: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                diff(&format!("{prefix}.{k}"), va, vb, out);
            }
        }
        _ if a != b => out.push(prefix.to_string()),
        _ => {}
    }
}
