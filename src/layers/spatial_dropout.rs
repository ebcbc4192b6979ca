//! SpatialDropout2D (Tompson et al. 2015, "Efficient Object Localization Using Convolutional
//! Networks"; Keras' `SpatialDropout2D`): dropout of whole feature maps.
//!
//! Shapes: x, y (B, H, W, C) or (B, H, W) taken as one channel. In training (and `Mode::Sample`,
//! as [`super::Dropout`]) one draw per (sample, channel) keeps the channel with probability
//! 1 - rate: y = x·m, m = 1/(1 - rate) if kept else 0, the same m at every (h, w);
//! backward dx = dy·m. Inference is the identity. Draws come from the layer's own seeded stream,
//! in (sample, channel) order.

use rand::{Rng as _, SeedableRng};
use serde::{Deserialize, Serialize};

use super::geometry::image_shape;
use super::{Layer, LayerConfig, LayerSpec, Mode};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

crate::builder::layer_setters!(SpatialDropoutSpec);
crate::builder::setters!(SpatialDropoutSpec { rate: f32 });

/// Settings of a [`SpatialDropout2D`] layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpatialDropoutSpec {
    /// Fraction of channels dropped in training, in [0, 1).
    pub rate: f32,
}

impl LayerConfig for SpatialDropoutSpec {
    fn type_name(&self) -> &str {
        "spatial_dropout2d"
    }
    fn param_count(&self, _input_shape: &[usize]) -> u64 {
        0
    }
    fn largest_param_tensor(&self, _input_shape: &[usize]) -> u64 {
        0
    }
    fn build(&self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(SpatialDropout2D::new(self.clone())))
    }
    /// Refuses a rate outside [0, 1).
    fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(Error::Config(format!(
                "spatial_dropout2d layer: `rate` must be in [0, 1), got {}",
                self.rate
            )));
        }
        Ok(())
    }
}

impl LayerSpec {
    /// A SpatialDropout2D layer dropping a fraction `rate` of the channels in training.
    ///
    /// ```
    /// use deeptrain::{LayerSpec, Mode, Sequential, Tensor};
    /// let mut model = Sequential::new(&[2, 2, 3])
    ///     .add(LayerSpec::spatial_dropout2d(0.5))
    ///     .build(1)
    ///     .unwrap();
    /// let x = Tensor::from_vec(vec![1.0; 12], &[1, 2, 2, 3]);
    /// assert_eq!(model.predict(&x, 1).unwrap().data(), x.data()); // the identity in inference
    /// ```
    pub fn spatial_dropout2d(rate: f32) -> Self {
        LayerSpec::new(SpatialDropoutSpec { rate })
    }
}

/// Drops whole channels in training.
pub struct SpatialDropout2D {
    rate: f32,
    name: String,
    rng: Rng,
    channels: usize,
    /// Per (sample, channel), the factor of the last stochastic pass (0 when dropped).
    mask: Vec<f32>,
    active: bool,
}

impl SpatialDropout2D {
    /// An unbuilt layer dropping a fraction `rate` ∈ [0, 1) of the channels.
    pub fn new(spec: SpatialDropoutSpec) -> Self {
        SpatialDropout2D {
            rate: spec.rate,
            name: String::new(),
            rng: Rng::seed_from_u64(0),
            channels: 0,
            mask: Vec::new(),
            active: false,
        }
    }

    /// `dst` ← `src` · m, m per (sample, channel) from the mask.
    fn apply_mask(&self, src: &[f32], dst: &mut [f32], sample_len: usize) {
        let c = self.channels;
        for (n, (d, s)) in dst
            .chunks_exact_mut(sample_len)
            .zip(src.chunks_exact(sample_len))
            .enumerate()
        {
            let m = &self.mask[n * c..(n + 1) * c];
            for (dp, sp) in d.chunks_exact_mut(c).zip(s.chunks_exact(c)) {
                for ((o, &v), &f) in dp.iter_mut().zip(sp).zip(m) {
                    *o = v * f;
                }
            }
        }
    }
}

impl Layer for SpatialDropout2D {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        "SpatialDropout2D"
    }

    super::random_stream!(rng);

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let label = format!("spatial_dropout2d layer `{}`", self.name);
        let (_, _, c) = image_shape(&label, input_shape)?;
        if input_shape.contains(&0) {
            return Err(Error::Shape(format!(
                "{label}: expects a non-empty image, got {input_shape:?}"
            )));
        }
        self.channels = c;
        self.rng = Rng::seed_from_u64(rng.random());
        Ok(input_shape.to_vec())
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, mode: Mode) {
        self.active = matches!(mode, Mode::Train | Mode::Sample) && self.rate > 0.0;
        if !self.active {
            output.copy_from(input);
            return;
        }
        let keep = 1.0 - self.rate;
        let scale = 1.0 / keep;
        self.mask.resize(input.rows() * self.channels, 0.0);
        for m in self.mask.iter_mut() {
            *m = if self.rng.random::<f32>() < keep {
                scale
            } else {
                0.0
            };
        }
        output.resize(input.shape());
        self.apply_mask(input.data(), output.data_mut(), input.row_len());
    }

    fn backward(
        &mut self,
        input: &Tensor,
        _output: &Tensor,
        grad_output: &Tensor,
        grad_input: Option<&mut Tensor>,
    ) {
        let Some(dx) = grad_input else { return };
        if !self.active {
            dx.copy_from(grad_output);
            return;
        }
        dx.resize(grad_output.shape());
        self.apply_mask(grad_output.data(), dx.data_mut(), input.row_len());
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::new(SpatialDropoutSpec { rate: self.rate }).named(&self.name)
    }

    fn describe(&self) -> String {
        format!("rate {}", self.rate)
    }
}
