//! The learning-rate range test (Smith 2017; Géron ch. 11): train for one epoch (or N steps)
//! while the rate grows exponentially from a minimum to a maximum, record the loss, stop when it
//! explodes, then put the model back exactly as it was.

use rand::seq::SliceRandom;

use super::Model;
use crate::data::Dataset;
use crate::losses::Targets;
use crate::tensor::Tensor;
use crate::{Error, Result};

/// Settings of [`Model::lr_range_test`].
#[derive(Clone, Debug, PartialEq)]
pub struct LrFindOptions {
    /// The first rate.
    pub min_lr: f64,
    /// The last rate.
    pub max_lr: f64,
    /// Steps (default: one epoch, at least 100 so the curve has enough points).
    pub steps: Option<usize>,
    /// Samples per step.
    pub batch_size: usize,
    /// Stop when the smoothed loss exceeds this multiple of its best value.
    pub divergence_factor: f64,
    /// Weight of the past in the loss's exponential moving average (fastai's 0.98).
    pub smoothing: f64,
}

/// The fewest steps of a range test: fewer points give no curve to read a rate from.
pub const MIN_LR_FIND_STEPS: usize = 10;
/// The most steps of a range test (the curve is kept in memory, a point per step).
pub const MAX_LR_FIND_STEPS: usize = 100_000;

impl Default for LrFindOptions {
    fn default() -> Self {
        LrFindOptions {
            min_lr: 1e-6,
            max_lr: 10.0,
            steps: None,
            batch_size: 32,
            divergence_factor: 4.0,
            smoothing: 0.98,
        }
    }
}

/// What the range test measured.
#[derive(Clone, Debug, PartialEq)]
pub struct LrFindResult {
    /// (rate, batch loss, smoothed loss) per step, in order.
    pub points: Vec<(f64, f64, f64)>,
    /// The rate where the smoothed loss was lowest.
    pub best_lr: f64,
    /// Where the loss starts to climb: the first rate past `best_lr` at which the smoothed loss
    /// is 25% above its minimum (the last rate tried if it never is).
    pub turning_lr: f64,
    /// The suggested rate: `turning_lr / 10`.
    pub suggested_lr: f64,
    /// Whether the run stopped because the loss exploded.
    pub diverged: bool,
}

/// The rule behind [`LrFindResult::suggested_lr`], for messages.
pub const SUGGESTION_RULE: &str = "a tenth of the rate where the loss starts to climb (the \
    first rate past the minimum with the smoothed loss 25% above it), as Géron, ch. 11 advises";

/// How far above its minimum the smoothed loss must be to count as climbing.
const CLIMB: f64 = 1.25;

impl Model {
    /// Runs the range test on `train`, then restores the weights, the non-trainable state, the
    /// optimizer (rate and state) and the shuffling RNG, so that the model is as it was.
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
    /// use deeptrain::model::LrFindOptions;
    /// let options = LrFindOptions { steps: Some(20), ..Default::default() };
    /// let result = model.lr_range_test(&train, &options)?;
    /// println!("suggested learning rate: {:?}", result.suggested_lr);
    /// # Ok(())
    /// # }
    /// ```
    pub fn lr_range_test(
        &mut self,
        train: &Dataset,
        options: &LrFindOptions,
    ) -> Result<LrFindResult> {
        let loss = self
            .loss()
            .ok_or_else(|| Error::Config("compile the model before the range test".into()))?;
        if !(options.min_lr > 0.0 && options.max_lr > options.min_lr && options.max_lr.is_finite())
        {
            return Err(Error::Config(format!(
                "lr-find needs 0 < min < max, got min {} and max {}",
                options.min_lr, options.max_lr
            )));
        }
        if let Some(steps) = options.steps {
            if !(MIN_LR_FIND_STEPS..=MAX_LR_FIND_STEPS).contains(&steps) {
                return Err(Error::Config(format!(
                    "lr-find --steps must be from {MIN_LR_FIND_STEPS} (for a curve to suggest from) to {MAX_LR_FIND_STEPS}, got {steps}"
                )));
            }
        }
        if options.batch_size == 0 || train.is_empty() {
            return Err(Error::Config(
                "lr-find needs a batch size ≥ 1 and some data".into(),
            ));
        }
        self.check_input(&train.x)?;
        let targets = self.targets_for(train, loss)?;
        crate::budget::check(self, options.batch_size.min(train.len()), true, "lr-find")?;
        let steps = options
            .steps
            .unwrap_or_else(|| train.len().div_ceil(options.batch_size).max(100))
            .clamp(MIN_LR_FIND_STEPS, MAX_LR_FIND_STEPS);

        // Everything the test changes, to put back afterwards.
        let saved_params: Vec<Vec<Tensor>> = self
            .layers
            .iter()
            .map(|l| l.params().iter().map(|p| p.value.clone()).collect())
            .collect();
        let saved_state: Vec<Vec<Tensor>> = self
            .layers
            .iter()
            .map(|l| l.state().iter().map(|s| s.value.clone()).collect())
            .collect();
        let saved_rng = self.shuffle_rng.clone();
        let optimizer = self
            .optimizer()
            .ok_or_else(|| Error::Config("not compiled".into()))?;
        let (saved_lr, saved_optimizer) = (optimizer.learning_rate(), optimizer.state());

        let ratio = (options.max_lr / options.min_lr).powf(1.0 / (steps - 1) as f64);
        let mut order: Vec<usize> = (0..train.len()).collect();
        let mut batch_x = Tensor::default();
        let mut batch_targets = Targets::default();
        let mut points = Vec::with_capacity(steps);
        let (mut average, mut best, mut best_lr) = (0.0, f64::INFINITY, options.min_lr);
        let mut diverged = false;
        let mut cursor = order.len();
        for step in 0..steps {
            if cursor + options.batch_size > order.len() {
                order.shuffle(&mut self.shuffle_rng);
                cursor = 0;
            }
            let chunk = &order[cursor..(cursor + options.batch_size).min(order.len())];
            cursor += chunk.len();
            let lr = options.min_lr * ratio.powi(step as i32);
            if let Some(o) = self.optimizer_mut() {
                o.set_learning_rate(lr as f32);
            }
            batch_x.gather_rows(&train.x, chunk);
            targets.gather(chunk, &mut batch_targets);
            let batch_loss = self.train_step(&batch_x, &batch_targets, &mut [])?;
            if !batch_loss.is_finite() {
                diverged = true;
                break;
            }
            // Bias-corrected exponential moving average of the loss.
            average = options.smoothing * average + (1.0 - options.smoothing) * batch_loss;
            let smoothed = average / (1.0 - options.smoothing.powi(step as i32 + 1));
            points.push((lr, batch_loss, smoothed));
            if smoothed < best {
                best = smoothed;
                best_lr = lr;
            }
            if step > 0 && smoothed > options.divergence_factor * best {
                diverged = true;
                break;
            }
        }

        for (layer, (params, state)) in self
            .layers
            .iter_mut()
            .zip(saved_params.into_iter().zip(saved_state))
        {
            for (p, v) in layer.params_mut().iter_mut().zip(params) {
                p.value = v;
            }
            for (s, v) in layer.state_mut().iter_mut().zip(state) {
                s.value = v;
            }
        }
        self.shuffle_rng = saved_rng;
        if let Some(o) = self.optimizer_mut() {
            o.set_learning_rate(saved_lr);
            o.load_state(&saved_optimizer)?;
        }
        if points.is_empty() {
            return Err(Error::Diverged(format!(
                "the loss was not finite at the first rate, {}; lower --min",
                options.min_lr
            )));
        }
        let turning_lr = points
            .iter()
            .skip_while(|p| p.0 <= best_lr)
            .find(|p| p.2 > CLIMB * best)
            .or(points.last())
            .map_or(best_lr, |p| p.0);
        Ok(LrFindResult {
            points,
            best_lr,
            turning_lr,
            suggested_lr: turning_lr / 10.0,
            diverged,
        })
    }
}
