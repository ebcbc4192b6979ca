//! A model's weights: Keras' `get_weights` / `set_weights`, transfer to a new head, cloning,
//! freezing, and magnitude pruning.

use super::Model;
use crate::layers::LayerSpec;
use crate::tensor::Tensor;
use crate::{Error, Result};

/// A snapshot of a model's parameters and state, per layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Weights(pub Vec<Vec<Tensor>>);

impl Model {
    /// A new model made of this model's first `reuse` layers, weights and state copied (not
    /// shared), with `new_layers` on top, built with `seed` (Keras' transfer-learning recipe:
    /// `Sequential(model_A.layers[:-1])` plus a new head). Not compiled.
    ///
    /// ```
    /// # fn main() -> deeptrain::Result<()> {
    /// # use deeptrain::{data, Activation, DenseSpec, FitOptions, LayerSpec, Loss, Metric, Sequential, Sgd};
    /// # let train = data::digits()?.train;
    /// # let mut model = Sequential::new(&[8, 8])
    /// #     .add(LayerSpec::flatten())
    /// #     .add(DenseSpec::new(10).activation(Activation::Softmax))
    /// #     .build(1)?;
    /// # model.compile(Box::new(Sgd::new(0.01)?), Loss::SparseCategoricalCrossentropy, &[Metric::Accuracy])?;
    /// // Keep the Flatten layer, put a new 2-class head on it.
    /// let new_head = [DenseSpec::new(2).activation(Activation::Softmax).into()];
    /// let reused = model.transfer(1, &new_head, 2)?;
    /// assert_eq!(reused.output_units(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn transfer(&self, reuse: usize, new_layers: &[LayerSpec], seed: u64) -> Result<Model> {
        if reuse > self.layers.len() {
            return Err(Error::Config(format!(
                "cannot reuse {reuse} layers of a model that has {}",
                self.layers.len()
            )));
        }
        let specs: Vec<LayerSpec> = self.layer_specs()[..reuse]
            .iter()
            .cloned()
            .chain(new_layers.iter().cloned())
            .collect();
        let outputs = if reuse == self.layers.len() && new_layers.is_empty() {
            self.output_specs()
        } else {
            Vec::new()
        };
        let mut model = Model::from_graph(
            &self.input_shape,
            &self.model_inputs,
            &specs,
            &outputs,
            seed,
        )?;
        let weights = self.weights();
        for (layer, values) in model.layers.iter_mut().zip(&weights.0[..reuse]) {
            let n = layer.params().len();
            for (p, v) in layer.params_mut().iter_mut().zip(values) {
                p.value.copy_from(v);
            }
            for (s, v) in layer.state_mut().iter_mut().zip(&values[n..]) {
                s.value.copy_from(v);
            }
        }
        Ok(model)
    }

    /// An independent copy of the architecture and weights (Keras' `clone_model` followed by
    /// `set_weights`). Not compiled.
    pub fn clone_model(&self) -> Result<Model> {
        self.transfer(self.layers.len(), &[], self.seed)
    }

    /// Sets layers `range` trainable or frozen.
    pub fn set_trainable(&mut self, range: std::ops::Range<usize>, trainable: bool) {
        for layer in &mut self.layers[range] {
            layer.set_trainable(trainable);
        }
    }

    /// Per layer with a kernel: (layer name, kernel size, how many |w| < `threshold`).
    pub fn sparsity(&self, threshold: f32) -> Vec<(String, usize, usize)> {
        self.layers
            .iter()
            .filter_map(|l| {
                let kernel = l.kernel_param()?;
                let small = kernel
                    .value
                    .data()
                    .iter()
                    .filter(|w| w.abs() < threshold)
                    .count();
                Some((l.name().to_string(), kernel.value.len(), small))
            })
            .collect()
    }

    /// Sets every kernel weight with |w| < `threshold` to zero (the textbook's recipe for a
    /// sparse model after L1 training); returns how many were zeroed.
    pub fn prune(&mut self, threshold: f32) -> usize {
        let mut zeroed = 0;
        for layer in &mut self.layers {
            if let Some(p) = layer.kernel_param_mut() {
                for w in p.value.data_mut() {
                    if w.abs() < threshold && *w != 0.0 {
                        *w = 0.0;
                        zeroed += 1;
                    }
                }
            }
        }
        zeroed
    }

    /// A copy of every parameter and non-trainable state tensor (Keras' `get_weights`).
    ///
    /// ```
    /// # fn main() -> deeptrain::Result<()> {
    /// # use deeptrain::{data, Activation, DenseSpec, FitOptions, LayerSpec, Loss, Metric, Sequential, Sgd};
    /// # let train = data::digits()?.train;
    /// # let mut model = Sequential::new(&[8, 8])
    /// #     .add(LayerSpec::flatten())
    /// #     .add(DenseSpec::new(10).activation(Activation::Softmax))
    /// #     .build(1)?;
    /// # model.compile(Box::new(Sgd::new(0.01)?), Loss::SparseCategoricalCrossentropy, &[Metric::Accuracy])?;
    /// let before = model.weights();
    /// model.fit(&train, None, &FitOptions::default(), &mut [])?;
    /// model.set_weights(&before);
    /// assert!(model.weights() == before);
    /// # Ok(())
    /// # }
    /// ```
    pub fn weights(&self) -> Weights {
        Weights(
            self.layers
                .iter()
                .map(|l| {
                    l.params()
                        .iter()
                        .map(|p| p.value.clone())
                        .chain(l.state().iter().map(|s| s.value.clone()))
                        .collect()
                })
                .collect(),
        )
    }

    /// Puts back weights taken by [`Model::weights`] from this model.
    pub fn set_weights(&mut self, weights: &Weights) {
        for (layer, values) in self.layers.iter_mut().zip(&weights.0) {
            let n = layer.params().len();
            for (p, v) in layer.params_mut().iter_mut().zip(values) {
                p.value.copy_from(v);
            }
            for (s, v) in layer.state_mut().iter_mut().zip(&values[n..]) {
                s.value.copy_from(v);
            }
        }
    }
}
