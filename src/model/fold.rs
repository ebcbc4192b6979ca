//! Folding batch normalization into a neighbouring Dense or Conv2D layer for inference.
//!
//! At inference a BatchNormalization layer is the per-feature affine map y = s·x + t with
//! s = γ / sqrt(moving_variance + ε) and t = β - s·moving_mean. Both Dense (W (I, U)) and
//! Conv2D (W (kh, kw, C, F), read as the (kh·kw·C, F) matrix of its im2col product) compute
//! x·W + b per output feature, so the same algebra folds into either. It folds:
//! - into the layer *before* it, when that layer has no activation (the textbook's
//!   "BN before the activation" pattern): W'[.., j] = s_j W[.., j], b'_j = s_j b_j + t_j;
//! - otherwise into the layer right *after* it: W'[.., k, :] = s_k W[.., k, :],
//!   b' = b + Σ t_k W[.., k, :] (summed over every tap for a convolution). A convolution with
//!   padding `same` is not folded into this way: its zero padding would not carry the shift t
//!   at the borders.
//!
//! The folded model makes the same predictions (to float rounding) with one layer less per
//! batch-norm layer. It is for inference: its optimizer state starts afresh.

use super::{Model, ModelOutput};
use crate::activations::Activation;
use crate::layers::LayerSpec;
use crate::{Error, Result};

/// A layer of the folded model: its spec and the values of its parameters and state.
struct Folded {
    spec: LayerSpec,
    params: Vec<Vec<f32>>,
    state: Vec<Vec<f32>>,
}

impl Folded {
    /// `layer` as it is, described by `spec`.
    fn of(layer: &dyn crate::layers::Layer, spec: LayerSpec) -> Self {
        Folded {
            spec,
            params: layer
                .params()
                .iter()
                .map(|p| p.value.data().to_vec())
                .collect(),
            state: layer
                .state()
                .iter()
                .map(|s| s.value.data().to_vec())
                .collect(),
        }
    }
}

impl Model {
    /// Whether a layer is a fixed per-feature affine map at inference (a batch norm,
    /// [`crate::Layer::inference_affine`]) that [`Model::fold_batch_norm`] may fold.
    pub fn has_foldable_layers(&self) -> bool {
        self.layers.iter().any(|l| l.inference_affine().is_some())
    }

    /// A copy of this model with every foldable batch-normalization layer folded into a
    /// neighbouring Dense layer, and the number folded. BN layers with no Dense neighbour to
    /// absorb them are kept.
    ///
    /// In a graph a batch norm folds only where the graph allows it: into the linear Dense
    /// layer it reads when nothing else reads that layer, else into the Dense layer that reads
    /// it when nothing else does; a model output is never folded away.
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
    /// # let mut model = Sequential::new(&[8, 8])
    /// #     .add(LayerSpec::flatten())
    /// #     .add(DenseSpec::new(16))
    /// #     .add(LayerSpec::batch_normalization())
    /// #     .add(DenseSpec::new(10).activation(Activation::Softmax))
    /// #     .build(1)?;
    /// # model.compile(Box::new(Sgd::new(0.01)?), Loss::SparseCategoricalCrossentropy, &[])?;
    /// model.fit(&train, None, &FitOptions::default(), &mut [])?;
    /// let (mut folded, count) = model.fold_batch_norm()?;
    /// assert_eq!((count, folded.layers().len()), (1, 3));
    /// let (a, b) = (model.predict(&train.x, 256)?, folded.predict(&train.x, 256)?);
    /// assert!(a.data().iter().zip(b.data()).all(|(p, q)| (p - q).abs() < 1e-4));
    /// # Ok(())
    /// # }
    /// ```
    pub fn fold_batch_norm(&self) -> Result<(Model, usize)> {
        if self.optimizer().is_none() {
            return Err(Error::Config("compile the model before folding it".into()));
        }
        if !self.is_sequential() {
            return self.fold_graph_batch_norm();
        }
        let specs = self.layer_specs();
        let mut out: Vec<Folded> = Vec::new();
        let mut folded = 0;
        // An affine map (s, t) waiting to be folded into the next layer, if it can take it,
        // with the batch norm's place in `out` and its index among the model's layers.
        let mut pending: Option<(Vec<f32>, Vec<f32>, usize, usize)> = None;
        for (i, (layer, spec)) in self.layers.iter().zip(&specs).enumerate() {
            let mut item = Folded::of(layer.as_ref(), spec.clone());
            if let Some((s, t, at, bn_index)) = pending.take() {
                if takes_folded_input(&item.spec, self.layers[i].as_ref(), s.len()) {
                    fold_into_next(&mut item, &s, &t);
                    folded += 1;
                } else {
                    out.insert(at, self.unfolded(bn_index, &specs));
                }
            }
            // A layer that is a fixed per-feature affine map at inference (batch norm).
            if let Some((s, t)) = self.layers[i].inference_affine() {
                match out.last_mut() {
                    Some(prev) if is_linear_affine(&prev.spec) => {
                        fold_into_previous(prev, &s, &t);
                        folded += 1;
                    }
                    _ => pending = Some((s, t, out.len(), i)),
                }
                continue;
            }
            out.push(item);
        }
        if let Some((_, _, at, bn_index)) = pending {
            out.insert(at, self.unfolded(bn_index, &specs));
        }
        let specs: Vec<LayerSpec> = out.iter().map(|f| f.spec.clone()).collect();
        let model = Model::from_specs(&self.input_shape, &specs, self.seed)?;
        Ok((self.with_values(model, &out)?, folded))
    }

    /// [`Model::fold_batch_norm`] on a graph: works on the layers with the names they
    /// read, removing each folded batch norm and pointing its readers at the layer that
    /// absorbed it.
    fn fold_graph_batch_norm(&self) -> Result<(Model, usize)> {
        let mut out: Vec<Folded> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for (layer, spec) in self.layers.iter().zip(self.layer_specs()) {
            names.push(layer.name().to_string());
            out.push(Folded::of(layer.as_ref(), spec));
        }
        let mut outputs: Vec<ModelOutput> = self
            .topology
            .outputs
            .iter()
            .zip(&self.topology.loss_weights)
            .map(|(&o, &w)| ModelOutput {
                layer: names[o].clone(),
                loss_weight: w,
            })
            .collect();
        let readers = |out: &[Folded], outputs: &[ModelOutput], name: &str| -> usize {
            let by_layers = out
                .iter()
                .flat_map(|f| f.spec.inputs().unwrap_or(&[]))
                .filter(|n| *n == name)
                .count();
            by_layers + outputs.iter().filter(|o| o.layer == name).count()
        };
        let mut folded = 0;
        let mut i = 0;
        while i < out.len() {
            let affine = self
                .layers
                .iter()
                .find(|l| l.name() == names[i])
                .and_then(|l| l.inference_affine());
            let Some((s, t)) = affine else {
                i += 1;
                continue;
            };
            let bn = names[i].clone();
            let read = out[i].spec.inputs().unwrap_or(&[]).to_vec();
            let before = match read.as_slice() {
                [one] => names.iter().position(|n| n == one),
                _ => None,
            };
            // Into the linear Dense layer it reads, when only the batch norm reads that one:
            // the folded layer takes over the batch norm's readers.
            if let Some(p) = before.filter(|&p| {
                is_linear_affine(&out[p].spec) && readers(&out, &outputs, &names[p]) == 1
            }) {
                fold_into_previous(&mut out[p], &s, &t);
                let absorbed_by = names[p].clone();
                rename_reads(&mut out, &mut outputs, &bn, &absorbed_by);
                out.remove(i);
                names.remove(i);
                folded += 1;
                continue;
            }
            // Into the one Dense (or valid Conv2D) layer that reads it, when nothing else does
            // (nor an output).
            let only_reader = (readers(&out, &outputs, &bn) == 1)
                .then(|| {
                    out.iter()
                        .position(|f| f.spec.inputs().is_some_and(|r| r == [bn.as_str()]))
                })
                .flatten();
            if let Some(n) = only_reader {
                let layer = self.layers.iter().find(|l| l.name() == names[n]);
                let next = &mut out[n];
                if layer.is_some_and(|l| takes_folded_input(&next.spec, l.as_ref(), s.len())) {
                    fold_into_next(next, &s, &t);
                    next.spec.set_inputs(Some(read));
                    out.remove(i);
                    names.remove(i);
                    folded += 1;
                    continue;
                }
            }
            i += 1;
        }
        let specs: Vec<LayerSpec> = out.iter().map(|f| f.spec.clone()).collect();
        let model = Model::from_graph(
            &self.input_shape,
            self.model_inputs(),
            &specs,
            &outputs,
            self.seed,
        )?;
        Ok((self.with_values(model, &out)?, folded))
    }

    /// `model` (built from the folded specs) with the folded values, compiled as this one.
    fn with_values(&self, mut model: Model, values: &[Folded]) -> Result<Model> {
        for (layer, values) in model.layers.iter_mut().zip(values) {
            for (p, v) in layer.params_mut().iter_mut().zip(&values.params) {
                p.value.data_mut().copy_from_slice(v);
            }
            for (s, v) in layer.state_mut().iter_mut().zip(&values.state) {
                s.value.data_mut().copy_from_slice(v);
            }
        }
        let (Some(optimizer), Some(loss)) = (self.optimizer(), self.loss()) else {
            return Err(Error::Config("compile the model before folding it".into()));
        };
        let optimizer = optimizer.spec().build()?;
        model.compile(optimizer, loss, &self.metrics())?;
        Ok(model)
    }

    /// The layer at `index` as it is (for a BN layer with nothing to fold into).
    fn unfolded(&self, index: usize, specs: &[LayerSpec]) -> Folded {
        Folded::of(self.layers[index].as_ref(), specs[index].clone())
    }
}

/// Points every layer and output that reads `from` at `to`.
fn rename_reads(out: &mut [Folded], outputs: &mut [ModelOutput], from: &str, to: &str) {
    for f in out.iter_mut() {
        if let Some(inputs) = f.spec.inputs() {
            if inputs.iter().any(|n| n == from) {
                let renamed = inputs
                    .iter()
                    .map(|n| if n == from { to.to_string() } else { n.clone() })
                    .collect();
                f.spec.set_inputs(Some(renamed));
            }
        }
    }
    for o in outputs.iter_mut().filter(|o| o.layer == from) {
        o.layer = to.to_string();
    }
}

/// An affine layer (x·W + b per output feature, [`crate::layers::LayerConfig::affine`])
/// without activation.
fn is_linear_affine(spec: &LayerSpec) -> bool {
    spec.config
        .affine()
        .is_some_and(|a| a.activation == Activation::Linear)
}

/// Whether a batch norm of `features` features folds into `layer` after it: an affine layer
/// that takes a folded input (Dense; Conv2D with padding `valid`) of that many inputs
/// (W's second-to-last axis).
fn takes_folded_input(spec: &LayerSpec, layer: &dyn crate::layers::Layer, features: usize) -> bool {
    let inputs = layer.params().first().map(|p| {
        let shape = p.value.shape();
        shape[shape.len().saturating_sub(2)]
    });
    let takes = spec.config.affine().is_some_and(|a| a.takes_folded_input);
    takes && inputs == Some(features)
}

/// W'[.., j] = s_j W[.., j]; b'_j = s_j b_j + t_j (the layer gains a bias if it had none).
fn fold_into_previous(prev: &mut Folded, s: &[f32], t: &[f32]) {
    let Some(units) = prev.spec.config.affine().map(|a| a.outputs) else {
        return;
    };
    prev.spec.config.set_use_bias(true);
    for row in prev.params[0].chunks_exact_mut(units) {
        row.iter_mut().zip(s).for_each(|(w, &sj)| *w *= sj);
    }
    let bias: Vec<f32> = match prev.params.get(1) {
        Some(b) => b
            .iter()
            .zip(s.iter().zip(t))
            .map(|(&b, (&sj, &tj))| sj * b + tj)
            .collect(),
        None => t.to_vec(),
    };
    prev.params.truncate(1);
    prev.params.push(bias);
}

/// W'[.., k, :] = s_k W[.., k, :]; b' = b + Σ t_k W[.., k, :] (computed from the original W);
/// row r of W read as a matrix belongs to input feature k = r mod (number of features).
fn fold_into_next(next: &mut Folded, s: &[f32], t: &[f32]) {
    let Some(units) = next.spec.config.affine().map(|a| a.outputs) else {
        return;
    };
    next.spec.config.set_use_bias(true);
    let params = &mut next.params;
    let mut shift = vec![0.0f64; units];
    for (row, &tk) in params[0].chunks_exact(units).zip(t.iter().cycle()) {
        shift
            .iter_mut()
            .zip(row)
            .for_each(|(c, &w)| *c += (tk * w) as f64);
    }
    for (row, &sk) in params[0].chunks_exact_mut(units).zip(s.iter().cycle()) {
        row.iter_mut().for_each(|w| *w *= sk);
    }
    let bias: Vec<f32> = match params.get(1) {
        Some(b) => b.iter().zip(&shift).map(|(&b, &c)| b + c as f32).collect(),
        None => shift.iter().map(|&c| c as f32).collect(),
    };
    params.truncate(1);
    params.push(bias);
}
