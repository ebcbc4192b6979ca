//! MaxPooling2D and AveragePooling2D (Keras' names and arguments), channels last.
//!
//! Shapes: x (B, H, W, C) or (B, H, W) taken as one channel; y (B, OH, OW, C) with OH, OW from
//! [`Window2`] (`valid`/`same`, as TensorFlow). Per window of real (non-padded) inputs R:
//! - max: y = max_R x; backward routes dy to the first arg-max recorded in forward;
//! - average: y = Σ_R x / |R| (padding is not counted, as `tf.nn.avg_pool`); dx = dy / |R|.
//!
//! Source: Keras `MaxPooling2D` / `AveragePooling2D`; `tf.nn.max_pool2d`, `tf.nn.avg_pool2d`.

use serde::{Deserialize, Serialize};

use super::geometry::{image_shape, Padding, Size2, Window2};
use super::{Layer, LayerConfig, LayerSpec, Mode};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

/// Settings of a [`Pooling2D`] layer (Keras' `pool_size`, `strides`, `padding`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolingSpec {
    /// Window size, an int or a pair (default 2).
    #[serde(default = "two")]
    pub pool_size: Size2,
    /// Step between windows (default: `pool_size`, as Keras).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strides: Option<Size2>,
    /// `valid` (default) or `same`.
    #[serde(default)]
    pub padding: Padding,
    /// Max or average (from the `type`: `max_pooling2d`, `average_pooling2d`).
    #[serde(skip)]
    pub kind: PoolKind,
}

fn two() -> Size2 {
    Size2::square(2)
}

impl PoolingSpec {
    /// A pooling window of `pool_size`, moved by itself, `valid` padding (Keras' defaults).
    pub fn new(pool_size: impl Into<Size2>) -> Self {
        PoolingSpec {
            pool_size: pool_size.into(),
            strides: None,
            padding: Padding::Valid,
            kind: PoolKind::Max,
        }
    }

    /// Sets the kind (max or average).
    #[must_use]
    pub fn kind(mut self, kind: PoolKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the strides.
    pub fn strides(mut self, strides: impl Into<Size2>) -> Self {
        self.strides = Some(strides.into());
        self
    }

    /// Sets the padding.
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }

    /// The strides in effect: `strides`, else `pool_size`.
    pub fn effective_strides(&self) -> Size2 {
        self.strides.unwrap_or(self.pool_size)
    }
}

impl LayerConfig for PoolingSpec {
    fn type_name(&self) -> &str {
        match self.kind {
            PoolKind::Max => "max_pooling2d",
            PoolKind::Average => "average_pooling2d",
        }
    }
    /// Refuses a zero pool size or stride, and `causal` padding.
    fn validate(&self) -> Result<()> {
        let layer = format!("{} layer", self.type_name());
        self.padding.check_not_causal(&layer)?;
        self.pool_size.check_positive(&layer, "`pool_size`")?;
        self.effective_strides().check_positive(&layer, "`strides`")
    }
    fn param_count(&self, _input_shape: &[usize]) -> u64 {
        0
    }
    fn largest_param_tensor(&self, _input_shape: &[usize]) -> u64 {
        0
    }
    fn build(&self) -> Result<Box<dyn Layer>> {
        Ok(Box::new(Pooling2D::new(self.kind, self.clone())))
    }
}

impl Default for PoolingSpec {
    fn default() -> Self {
        PoolingSpec::new(2)
    }
}

impl From<usize> for PoolingSpec {
    fn from(n: usize) -> Self {
        PoolingSpec::new(n)
    }
}

impl From<(usize, usize)> for PoolingSpec {
    fn from(size: (usize, usize)) -> Self {
        PoolingSpec::new(size)
    }
}

impl From<Size2> for PoolingSpec {
    fn from(size: Size2) -> Self {
        PoolingSpec::new(size)
    }
}

impl LayerSpec {
    /// A MaxPooling2D layer: `LayerSpec::max_pooling2d(2)`, or a [`PoolingSpec`] for strides
    /// and padding.
    ///
    /// ```
    /// use deeptrain::layers::{Padding, PoolingSpec};
    /// use deeptrain::{LayerSpec, Sequential};
    /// let model = Sequential::new(&[6, 6, 3])
    ///     .add(LayerSpec::max_pooling2d(2))
    ///     .add(LayerSpec::average_pooling2d(PoolingSpec::new(3).strides(2).padding(Padding::Same)))
    ///     .build(1)
    ///     .unwrap();
    /// assert_eq!(model.output_shapes().last().unwrap(), &[2, 2, 3]);
    /// ```
    pub fn max_pooling2d(spec: impl Into<PoolingSpec>) -> Self {
        LayerSpec::new(spec.into().kind(PoolKind::Max))
    }

    /// An AveragePooling2D layer (see [`LayerSpec::max_pooling2d`]).
    pub fn average_pooling2d(spec: impl Into<PoolingSpec>) -> Self {
        LayerSpec::new(spec.into().kind(PoolKind::Average))
    }
}

/// Which statistic a pooling layer takes over its window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PoolKind {
    /// The largest value.
    #[default]
    Max,
    /// The mean of the real (non-padded) values.
    Average,
}

impl PoolKind {
    fn base_name(self) -> &'static str {
        match self {
            PoolKind::Max => "max_pooling2d",
            PoolKind::Average => "average_pooling2d",
        }
    }
}

/// A 2-D max or average pooling layer.
pub struct Pooling2D {
    kind: PoolKind,
    spec: PoolingSpec,
    name: String,
    window: Window2,
    channels: usize,
    /// (0, OH, OW, C): the output shape with the batch written in forward.
    output_shape: Vec<usize>,
    /// Max: per output value, the index within its sample's input of its arg-max (reused
    /// buffer).
    argmax: Vec<u32>,
    /// Average: per output position (OH·OW), the number of real inputs in its window.
    counts: Vec<f32>,
}

impl Pooling2D {
    /// An unbuilt pooling layer.
    pub fn new(kind: PoolKind, spec: PoolingSpec) -> Self {
        Pooling2D {
            kind,
            name: String::new(),
            spec,
            window: Window2::new(
                0,
                0,
                Size2::square(1),
                Size2::square(1),
                Size2::square(1),
                Padding::Valid,
            ),
            channels: 0,
            output_shape: Vec::new(),
            argmax: Vec::new(),
            counts: Vec::new(),
        }
    }

    fn label(&self) -> String {
        format!("{} layer `{}`", self.kind.base_name(), self.name)
    }
}

/// The real (non-padded) taps of window (oh, ow): (input row, input col) pairs, row-major.
fn taps(window: Window2, oh: usize, ow: usize) -> impl Iterator<Item = (usize, usize)> + Clone {
    let (rows, cols) = (window.rows, window.cols);
    rows.sources(oh)
        .flat_map(move |ih| cols.sources(ow).map(move |iw| (ih, iw)))
}

/// Max pooling at one output position: for each of the `out.len()` channels, the largest value
/// over the window's taps (`bases`: each tap's offset within the sample `x`) and, in `idx`, the
/// index within the sample of the first tap that holds it. Strict `>`, so the first maximum in
/// scan order wins a tie and a NaN never replaces a value (it stays when the first tap has it).
/// On x86-64 CPUs with AVX2 (checked at run time) 8 channels at a time, their maximum and
/// index kept in registers over the taps and stored once (a blend stored back where it was
/// read becomes `vmaskmovps`, microcoded and slow on AMD processors: 86% of max pooling's time
/// in a profile of bench model (f) before this).
fn max_position<I>(out: &mut [f32], idx: &mut [u32], x: &[f32], bases: I)
where
    I: Iterator<Item = usize> + Clone,
{
    let channels = out.len();
    assert!(
        idx.len() == channels && bases.clone().all(|b| b + channels <= x.len()),
        "a pooling window reaches outside its sample"
    );
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, and every tap's channels lie within `x` (asserted).
        done = unsafe { max_position_avx2(out, idx, x, bases.clone()) };
    }
    for channel in done..channels {
        let mut taps = bases.clone().map(|b| b + channel);
        let Some(first) = taps.next() else { return };
        let (mut best, mut at) = (x[first], first);
        for tap in taps {
            let greater = x[tap] > best;
            best = if greater { x[tap] } else { best };
            at = if greater { tap } else { at };
        }
        out[channel] = best;
        idx[channel] = at as u32;
    }
}

/// [`max_position`] of the first multiple of 8 channels; returns how many it did.
///
/// # Safety
/// The CPU supports AVX2; `idx` is as long as `out`, and `b + out.len() <= x.len()` for every
/// tap `b`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn max_position_avx2<I>(out: &mut [f32], idx: &mut [u32], x: &[f32], bases: I) -> usize
where
    I: Iterator<Item = usize> + Clone,
{
    use std::arch::x86_64::*;
    let len = out.len() / 8 * 8;
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let index = |at: usize| _mm256_add_epi32(_mm256_set1_epi32(at as i32), lane);
    for k in (0..len).step_by(8) {
        let mut taps = bases.clone().map(|b| b + k);
        let Some(first) = taps.next() else { return 0 };
        // SAFETY (loads and stores): tap + k + 8 <= b + out.len() <= x.len() (the caller), and
        // k + 8 <= len <= out.len() = idx.len().
        unsafe {
            let mut best = _mm256_loadu_ps(x.as_ptr().add(first));
            let mut at = _mm256_castsi256_ps(index(first));
            for tap in taps {
                let v = _mm256_loadu_ps(x.as_ptr().add(tap));
                // Ordered greater-than: false when either is NaN, as Rust's `>`.
                let greater = _mm256_cmp_ps::<_CMP_GT_OQ>(v, best);
                best = _mm256_blendv_ps(best, v, greater);
                at = _mm256_blendv_ps(at, _mm256_castsi256_ps(index(tap)), greater);
            }
            _mm256_storeu_ps(out.as_mut_ptr().add(k), best);
            _mm256_storeu_si256(idx.as_mut_ptr().add(k).cast(), _mm256_castps_si256(at));
        }
    }
    len
}

/// Pools one sample: `x` (H, W, C) into `y` (OH, OW, C). Max pooling records in `argmax` the
/// index within the sample of each maximum, the first on a tie ([`max_position`]); average
/// pooling divides by the real inputs of each window (`counts`).
fn pool_sample(
    (window, ow, iw, c): (Window2, usize, usize, usize),
    counts: &[f32],
    x: &[f32],
    y: &mut [f32],
    mut argmax: Option<&mut [u32]>,
) {
    for (p, out) in y.chunks_exact_mut(c).enumerate() {
        match argmax.as_deref_mut() {
            Some(argmax) => {
                let idx = &mut argmax[p * c..(p + 1) * c];
                let bases = taps(window, p / ow, p % ow).map(|(ih, iw_)| (ih * iw + iw_) * c);
                // The taps' offsets found once per position (finding them divides), unless
                // the window has more than 16 taps.
                let mut found = [0usize; 16];
                let mut count = 0;
                for (slot, base) in found.iter_mut().zip(bases.clone()) {
                    *slot = base;
                    count += 1;
                }
                if count < found.len() || bases.clone().nth(found.len()).is_none() {
                    max_position(out, idx, x, found[..count].iter().copied());
                } else {
                    max_position(out, idx, x, bases);
                }
            }
            None => {
                out.fill(0.0);
                for (ih, iw_) in taps(window, p / ow, p % ow) {
                    let base = (ih * iw + iw_) * c;
                    out.iter_mut()
                        .zip(&x[base..base + c])
                        .for_each(|(o, v)| *o += v);
                }
                let count = counts[p];
                out.iter_mut().for_each(|o| *o /= count);
            }
        }
    }
}

impl Layer for Pooling2D {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "MaxPooling2D",
            PoolKind::Average => "AveragePooling2D",
        }
    }

    fn build(&mut self, input_shape: &[usize], _rng: &mut Rng) -> Result<Vec<usize>> {
        let label = self.label();
        self.spec.validate()?;
        let (h, w, c) = image_shape(&label, input_shape)?;
        if input_shape.contains(&0) {
            return Err(Error::Shape(format!(
                "{label}: expects a non-empty image, got {input_shape:?}"
            )));
        }
        if h * w * c > u32::MAX as usize {
            return Err(Error::Shape(format!(
                "{label}: an image of {h}×{w}×{c} values is more than pooling indexes (2^32)"
            )));
        }
        let strides = self.spec.effective_strides();
        self.window = Window2::checked(
            &label,
            (h, w),
            self.spec.pool_size,
            strides,
            Size2::square(1),
            self.spec.padding,
        )?;
        let (oh, ow) = self.window.output();
        if oh == 0 || ow == 0 {
            return Err(Error::Shape(format!(
                "{label}: pool_size {} does not fit in a {h}×{w} input with padding \"valid\"",
                self.spec.pool_size
            )));
        }
        self.channels = c;
        self.output_shape = vec![0, oh, ow, c];
        self.counts = (0..oh * ow)
            .map(|p| taps(self.window, p / ow, p % ow).count() as f32)
            .collect();
        Ok(vec![oh, ow, c])
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, _mode: Mode) {
        let batch = input.rows();
        self.output_shape[0] = batch;
        output.resize(&self.output_shape);
        let (oh, ow) = self.window.output();
        let (iw, c) = (self.window.cols.input, self.channels);
        let in_len = input.row_len();
        let out_len = oh * ow * c;
        let x = input.data();
        if self.kind == PoolKind::Max {
            self.argmax.resize(batch * out_len, 0);
        }
        let (window, kind, counts) = (self.window, self.kind, &self.counts);
        let argmax = crate::parallel::SharedMut::new(&mut self.argmax);
        // Over the batch in parallel, a few samples (at least 4096 outputs) per piece.
        let min_len = 4096usize.div_ceil(out_len.max(1)) * out_len;
        crate::parallel::chunks_mut(output.data_mut(), min_len, out_len.max(1), &|at, y| {
            for (i, out) in y.chunks_exact_mut(out_len).enumerate() {
                let n = at / out_len + i;
                let sample = &x[n * in_len..(n + 1) * in_len];
                let idx = match kind {
                    // SAFETY: argmax has the layout of the output, and this piece of it is
                    // written by this part alone.
                    PoolKind::Max => Some(unsafe { argmax.slice(n * out_len..(n + 1) * out_len) }),
                    PoolKind::Average => None,
                };
                let geometry = (window, ow, iw, c);
                pool_sample(geometry, counts, sample, out, idx);
            }
        });
    }

    fn backward(
        &mut self,
        input: &Tensor,
        _output: &Tensor,
        grad_output: &Tensor,
        grad_input: Option<&mut Tensor>,
    ) {
        let Some(dx) = grad_input else { return };
        dx.resize(input.shape());
        let dy = grad_output.data();
        let (oh, ow) = self.window.output();
        let (iw, c) = (self.window.cols.input, self.channels);
        let in_len = input.row_len();
        let out_len = oh * ow * c;
        let (window, kind, counts, argmax) = (self.window, self.kind, &self.counts, &self.argmax);
        // Over the batch in parallel: a sample's outputs reach only its own inputs, and each
        // sample adds them in the same order as a serial pass.
        let min_len = 4096usize.div_ceil(out_len.max(1)) * in_len;
        crate::parallel::chunks_mut(dx.data_mut(), min_len, in_len.max(1), &|at, d| {
            d.fill(0.0);
            for (i, d) in d.chunks_exact_mut(in_len).enumerate() {
                let n = at / in_len + i;
                let g = &dy[n * out_len..(n + 1) * out_len];
                match kind {
                    PoolKind::Max => {
                        let idx = &argmax[n * out_len..(n + 1) * out_len];
                        for (&i, &g) in idx.iter().zip(g) {
                            d[i as usize] += g;
                        }
                    }
                    PoolKind::Average => {
                        for p in 0..oh * ow {
                            let count = counts[p];
                            let g = &g[p * c..(p + 1) * c];
                            for (ih, iw_) in taps(window, p / ow, p % ow) {
                                let base = (ih * iw + iw_) * c;
                                d[base..base + c]
                                    .iter_mut()
                                    .zip(g)
                                    .for_each(|(o, g)| *o += g / count);
                            }
                        }
                    }
                }
            }
        });
    }

    fn spec(&self) -> LayerSpec {
        LayerSpec::new(self.spec.clone().kind(self.kind)).named(&self.name)
    }

    fn describe(&self) -> String {
        format!(
            "pool {}, strides {}, {}",
            self.spec.pool_size,
            self.spec.effective_strides(),
            self.spec.padding.name()
        )
    }
}
