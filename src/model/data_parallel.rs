//! The model's side of data-parallel training (see [`crate::distributed`]): the gradient sum
//! between backward and the update, and keeping the replicas' weights and statistics alike.

use rand::SeedableRng;

use super::Model;
use crate::distributed::{fnv_extend, stream_seed, Communicator};
use crate::losses::Targets;
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

/// Slots after the gradients in the per-step sum: ranks asking to stop, ranks whose loss is
/// not finite.
const FLAGS: usize = 2;

/// What one data-parallel step found, summed over the ranks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SharedStep {
    /// This rank's mean loss over its share (0 for an empty share), weight penalty included.
    pub loss: f64,
    /// Whether any rank asked to stop (a signal).
    pub stop: bool,
    /// Whether any rank's loss was not finite.
    pub non_finite: bool,
}

impl Model {
    /// The length of the buffer [`Model::train_step_shared`] sums: every trainable
    /// parameter's gradient, and the flags.
    pub fn shared_buffer_len(&self) -> usize {
        self.layers
            .iter()
            .flat_map(|l| l.params())
            .filter(|p| p.trainable)
            .map(|p| p.value.len())
            .sum::<usize>()
            + FLAGS
    }

    /// One data-parallel training step on this rank's `share` of a global batch of `batch`
    /// samples: forward and backward on the share, then the gradients, each weighted by
    /// `share / batch`, summed over the ranks in `buffer` (one all-reduce), then the weight
    /// penalties, clipping and the optimizer's update, as in
    /// [`Model::train_step_weighted`]. `stop` is this rank's request to stop; it travels
    /// in the same sum.
    #[allow(clippy::too_many_arguments)]
    pub fn train_step_shared(
        &mut self,
        comm: &dyn Communicator,
        x: &Tensor,
        targets: &Targets,
        weights: Option<&[f32]>,
        metric_state: &mut [f64],
        batch: usize,
        stop: bool,
        buffer: &mut [f32],
    ) -> Result<SharedStep> {
        let Some(mut compiled) = self.compiled.take() else {
            return Err(Error::Config("compile the model before training it".into()));
        };
        let share = x.rows();
        let (grads, flags) = buffer.split_at_mut(buffer.len() - FLAGS);
        let mut data_loss = 0.0;
        self.observe_step_begin(compiled.optimizer.as_ref());
        if share > 0 {
            data_loss = self.forward_for_training(&compiled, x, targets, weights, metric_state);
            self.record_stored_gradients(&[]);
            self.backward(x, None);
            let weight = share as f32 / batch as f32;
            let mut at = 0;
            for p in self.layers.iter().flat_map(|l| l.params()) {
                if p.trainable {
                    let g = p.grad.data();
                    for (o, &v) in grads[at..at + g.len()].iter_mut().zip(g) {
                        *o = v * weight;
                    }
                    at += g.len();
                }
            }
        } else {
            grads.fill(0.0);
        }
        flags[0] = f32::from(u8::from(stop));
        flags[1] = f32::from(u8::from(!data_loss.is_finite()));
        comm.sum_f32(buffer);
        let mut at = 0;
        for layer in &mut self.layers {
            for p in layer.params_mut() {
                if p.trainable {
                    let g = p.grad.data_mut();
                    g.copy_from_slice(&buffer[at..at + g.len()]);
                    at += g.len();
                }
            }
        }
        self.last_penalty = self.add_penalties();
        self.update_parameters(compiled.optimizer.as_mut(), &[]);
        self.compiled = Some(compiled);
        self.observe_update();
        let flags = &buffer[buffer.len() - FLAGS..];
        Ok(SharedStep {
            loss: data_loss + self.last_penalty,
            stop: flags[0] > 0.0,
            non_finite: flags[1] > 0.0,
        })
    }

    /// Overwrites every parameter and moving statistic with rank 0's (at start-up, so that all
    /// replicas start alike whatever each built).
    pub fn broadcast_weights(&mut self, comm: &dyn Communicator) {
        let mut values = Vec::new();
        for layer in &self.layers {
            for p in layer.params() {
                values.extend_from_slice(p.value.data());
            }
            for s in layer.state() {
                values.extend_from_slice(s.value.data());
            }
        }
        comm.broadcast_f32(&mut values);
        let mut at = 0;
        let mut take = |t: &mut Tensor| {
            let d = t.data_mut();
            d.copy_from_slice(&values[at..at + d.len()]);
            at += d.len();
        };
        for layer in &mut self.layers {
            for p in layer.params_mut() {
                take(&mut p.value);
            }
            for s in layer.state_mut() {
                take(&mut s.value);
            }
        }
    }

    /// Replaces every layer's moving statistics (batch norm's mean and variance) by their mean
    /// over the ranks. Each rank's are moving averages of its shares' batch statistics; the
    /// mean of the ranks' moving means is exactly the moving mean of the global batches' means
    /// (the average is linear), and the mean of their variances misses only the spread of the
    /// shares' means.
    pub fn average_moving_statistics(&mut self, comm: &dyn Communicator) {
        let mut values: Vec<f64> = self
            .layers
            .iter()
            .flat_map(|l| l.state())
            .flat_map(|s| s.value.data())
            .map(|&v| f64::from(v))
            .collect();
        if values.is_empty() {
            return;
        }
        comm.sum_f64(&mut values);
        let ranks = comm.size() as f64;
        let mut sums = values.iter();
        for layer in &mut self.layers {
            for s in layer.state_mut() {
                for (v, &sum) in s.value.data_mut().iter_mut().zip(&mut sums) {
                    *v = (sum / ranks) as f32;
                }
            }
        }
    }

    /// A hash of every parameter's and moving statistic's bits: equal on two replicas exactly
    /// when their weights are.
    pub fn weights_fingerprint(&self) -> u64 {
        let mut hash = 0xcbf2_9ce4_8422_2325;
        for layer in &self.layers {
            let values = layer
                .params()
                .iter()
                .map(|p| &p.value)
                .chain(layer.state().iter().map(|s| &s.value));
            for t in values {
                for v in t.data() {
                    fnv_extend(&mut hash, &v.to_bits().to_le_bytes());
                }
            }
        }
        hash
    }

    /// Reseeds the random streams of the layers and of augmentation for `rank` in `epoch`, so
    /// that every rank draws its own dropout masks and augmentations, and a run resumed at an
    /// epoch's start draws the same ones again.
    pub(crate) fn reseed_streams(&mut self, epoch: usize, rank: usize) {
        let seed = stream_seed(self.seed, epoch, rank);
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.reseed(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
        let mut augment = Rng::seed_from_u64(seed);
        augment.set_stream(2);
        self.augment_rng = augment;
    }
}

#[cfg(test)]
mod tests {
    use crate::{LayerSpec, Mode, Model, Sequential, Tensor};

    fn dropped(model: &mut Model, epoch: usize, rank: usize) -> Vec<f32> {
        model.reseed_streams(epoch, rank);
        let x = Tensor::from_vec(vec![1.0; 4 * 64], &[4, 64]);
        model.forward(&x, Mode::Train);
        model.last_outputs().last().unwrap().data().to_vec()
    }

    #[test]
    fn each_rank_draws_its_own_dropout_masks_and_the_same_again_in_the_same_epoch() {
        let mut model = Sequential::new(&[64])
            .add(LayerSpec::dropout(0.5))
            .build(3)
            .unwrap();
        let rank0 = dropped(&mut model, 2, 0);
        let rank1 = dropped(&mut model, 2, 1);
        let next_epoch = dropped(&mut model, 3, 0);
        assert_ne!(rank0, rank1);
        assert_ne!(rank0, next_epoch);
        assert_eq!(rank0, dropped(&mut model, 2, 0));
        // Half the units, give or take, are dropped.
        let zeros = rank0.iter().filter(|&&v| v == 0.0).count();
        assert!((64..192).contains(&zeros), "{zeros} of 256 dropped");
    }
}
