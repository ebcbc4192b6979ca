//! Folding batch normalization into a neighbouring Dense layer for inference.
//!
//! At inference a BatchNormalization layer is the per-feature affine map y = s·x + t with
//! s = γ / sqrt(moving_variance + ε) and t = β - s·moving_mean. It folds:
//! - into the Dense layer *before* it, when that layer has no activation (the textbook's
//!   "BN before the activation" pattern): W'[:, j] = s_j W[:, j], b'_j = s_j b_j + t_j;
//! - otherwise into the Dense layer right *after* it: W'[k, :] = s_k W[k, :],
//!   b' = b + Σ_k t_k W[k, :].
//!
//! The folded model makes the same predictions (to float rounding) with one layer less per
//! batch-norm layer. It is for inference: its optimizer state starts afresh.

use super::Sequential;
use crate::activations::Activation;
use crate::layers::LayerSpec;
use crate::{Error, Result};

/// A layer of the folded model: its spec and the values of its parameters and state.
struct Folded {
    spec: LayerSpec,
    params: Vec<Vec<f32>>,
    state: Vec<Vec<f32>>,
}

impl Sequential {
    /// A copy of this model with every foldable batch-normalization layer folded into a
    /// neighbouring Dense layer, and the number folded. BN layers with no Dense neighbour to
    /// absorb them are kept.
    pub fn fold_batch_norm(&self) -> Result<(Sequential, usize)> {
        let Some(optimizer) = self.optimizer() else {
            return Err(Error::Config("compile the model before folding it".into()));
        };
        let specs = self.layer_specs();
        let mut out: Vec<Folded> = Vec::new();
        let mut folded = 0;
        // An affine map (s, t) waiting to be folded into the next layer, if it is Dense.
        let mut pending: Option<(Vec<f32>, Vec<f32>, usize)> = None;
        for (i, (layer, spec)) in self.layers.iter().zip(&specs).enumerate() {
            let mut item = Folded {
                spec: spec.clone(),
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
            };
            if let Some((s, t, bn_index)) = pending.take() {
                match &mut item.spec {
                    LayerSpec::Dense(dense)
                        if s.len() == self.layers[i].params()[0].value.rows() =>
                    {
                        fold_into_next(dense, &mut item.params, &s, &t);
                        folded += 1;
                    }
                    _ => out.insert(bn_index, self.unfolded(bn_index, &specs)),
                }
            }
            if let LayerSpec::BatchNormalization(_) = spec {
                let Some((s, t)) = self.layers[i].inference_affine() else {
                    out.push(item);
                    continue;
                };
                match out.last_mut() {
                    Some(prev) if is_linear_dense(&prev.spec) => {
                        fold_into_previous(prev, &s, &t);
                        folded += 1;
                    }
                    _ => pending = Some((s, t, out.len())),
                }
                continue;
            }
            out.push(item);
        }
        if let Some((_, _, bn_index)) = pending {
            out.insert(bn_index, self.unfolded(bn_index, &specs));
        }
        let specs: Vec<LayerSpec> = out.iter().map(|f| f.spec.clone()).collect();
        let mut model = Sequential::from_specs(&self.input_shape, &specs, self.seed)?;
        for (layer, values) in model.layers.iter_mut().zip(&out) {
            for (p, v) in layer.params_mut().iter_mut().zip(&values.params) {
                p.value.data_mut().copy_from_slice(v);
            }
            for (s, v) in layer.state_mut().iter_mut().zip(&values.state) {
                s.value.data_mut().copy_from_slice(v);
            }
        }
        let optimizer = optimizer.spec().build()?;
        let loss = self
            .loss()
            .ok_or_else(|| Error::Config("not compiled".into()))?;
        model.compile(optimizer, loss, &self.metrics())?;
        Ok((model, folded))
    }

    /// The layer at `index` as it is (for a BN layer with nothing to fold into).
    fn unfolded(&self, index: usize, specs: &[LayerSpec]) -> Folded {
        let layer = &self.layers[index];
        Folded {
            spec: specs[index].clone(),
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

fn is_linear_dense(spec: &LayerSpec) -> bool {
    matches!(spec, LayerSpec::Dense(d) if d.activation == Activation::Linear)
}

/// W'[:, j] = s_j W[:, j]; b'_j = s_j b_j + t_j (the Dense layer gains a bias if it had none).
fn fold_into_previous(prev: &mut Folded, s: &[f32], t: &[f32]) {
    let LayerSpec::Dense(dense) = &mut prev.spec else {
        return;
    };
    let units = dense.units;
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
    dense.use_bias = true;
}

/// W'[k, :] = s_k W[k, :]; b' = b + Σ_k t_k W[k, :] (computed from the original W).
fn fold_into_next(
    dense: &mut crate::layers::DenseSpec,
    params: &mut Vec<Vec<f32>>,
    s: &[f32],
    t: &[f32],
) {
    let units = dense.units;
    let mut shift = vec![0.0f64; units];
    for (row, &tk) in params[0].chunks_exact(units).zip(t) {
        shift
            .iter_mut()
            .zip(row)
            .for_each(|(c, &w)| *c += (tk * w) as f64);
    }
    for (row, &sk) in params[0].chunks_exact_mut(units).zip(s) {
        row.iter_mut().for_each(|w| *w *= sk);
    }
    let bias: Vec<f32> = match params.get(1) {
        Some(b) => b.iter().zip(&shift).map(|(&b, &c)| b + c as f32).collect(),
        None => shift.iter().map(|&c| c as f32).collect(),
    };
    params.truncate(1);
    params.push(bias);
    dense.use_bias = true;
}
