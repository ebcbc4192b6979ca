//! The targets a model trains against: the labels of a [`Dataset`] checked against every
//! output, the sample weights with `class_weight` folded in, and the features checked finite and
//! shaped for the model's input, before the first step.

use super::Model;
use crate::data::Dataset;
use crate::losses::Targets;
use crate::{Error, Result};

impl Model {
    /// The training targets and sample weights, and the validation targets, after checking
    /// that the features are finite and fit the model's input.
    #[allow(clippy::type_complexity)]
    pub(super) fn training_targets(
        &self,
        train: &Dataset,
        validation: Option<&Dataset>,
        loss: crate::Loss,
        options: &super::FitOptions,
    ) -> Result<(Targets, Option<Vec<f32>>, Option<Targets>)> {
        if let Some(rows) = &train.stream {
            // Streamed rows are checked as they are read.
            if rows.rows() != train.len() {
                return Err(Error::Data(format!(
                    "{} streamed rows for {} labels",
                    rows.rows(),
                    train.len()
                )));
            }
            self.check_input_shape(&rows.empty_batch())?;
        }
        let in_memory = std::iter::once(train).filter(|t| t.stream.is_none());
        for data in in_memory.chain(validation) {
            if let Some((row, col)) = data.first_non_finite() {
                return Err(data.row_error(row, format!("feature {col} is not a finite number")));
            }
            self.check_input(&data.x)?;
        }
        let targets = self.targets_for(train, loss)?;
        let sample_weights = train_weights(train, &targets, options.class_weight.as_deref())?;
        let validation = validation.map(|v| self.targets_for(v, loss)).transpose()?;
        Ok((targets, sample_weights, validation))
    }

    /// `data`'s targets under `loss`, checked against every model output, not only the main
    /// one: every output is trained against the same labels, so an auxiliary output needs as
    /// many units as the label columns (the main output's count), or for class indices, more
    /// units than the highest class.
    pub fn targets_for(&self, data: &Dataset, loss: crate::Loss) -> Result<Targets> {
        let main = self.output_units();
        let targets = data.targets(loss, main)?;
        let highest = match &targets {
            Targets::Classes(c) => c.iter().max().map(|&c| c as usize),
            Targets::Values(_) => None,
        };
        for &o in &self.topology.outputs[1..] {
            let units: usize = self.output_shapes[o].iter().product();
            let name = self.layers[o].name();
            let problem = match highest {
                Some(class) if class >= units => Some(format!(
                    "the labels go up to class {class}, so it needs at least {} units",
                    class + 1
                )),
                None if units != main => {
                    Some(format!("its targets are the main output's {main} columns"))
                }
                _ => None,
            };
            if let Some(problem) = problem {
                return Err(Error::Shape(format!(
                    "output `{name}` has {units} units, but every output is trained against the same labels and {problem} ({})",
                    loss.name()
                )));
            }
        }
        Ok(targets)
    }
}

/// Each training sample's weight: its `sample_weight` times its class's weight (Keras folds
/// `class_weight` into `sample_weight` the same way); `None` when neither is given.
fn train_weights(
    train: &Dataset,
    targets: &Targets,
    class_weight: Option<&[f32]>,
) -> Result<Option<Vec<f32>>> {
    let Some(class_weight) = class_weight else {
        return Ok(train.weights.clone());
    };
    let n = train.len();
    let class_of = |i: usize| -> usize {
        match targets {
            Targets::Classes(c) => c[i] as usize,
            Targets::Values(t) if t.row_len() == 1 => t.data()[i].round().max(0.0) as usize,
            Targets::Values(t) => crate::tensor::argmax(t.row(i)),
        }
    };
    (0..n)
        .map(|i| {
            let c = class_of(i);
            let cw = class_weight.get(c).copied().ok_or_else(|| {
                Error::Config(format!(
                    "class_weight has {} classes but sample {i} has class {c}",
                    class_weight.len()
                ))
            })?;
            Ok(cw * train.weights.as_ref().map_or(1.0, |w| w[i]))
        })
        .collect::<Result<Vec<f32>>>()
        .map(Some)
}
