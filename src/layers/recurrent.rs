//! The recurrent layers' time loop: `simple_rnn`, `lstm` and `gru` (Keras 3's names and
//! defaults), whose settings are [`super::RecurrentSpec`]. Each cell's step, forward and
//! backward, lives in its own file ([`super::simple_rnn`], [`super::lstm`], [`super::gru`]); this
//! file runs it over time.
//!
//! Shapes: x (B, T, F), units U, G gates per cell (1, 4, 3), kernel W (F, G·U), recurrent kernel
//! R (U, G·U), bias b (G·U), or (2, 3·U) for a GRU (input bias, recurrent bias); the output is
//! the last state h_T (B, U), or every state (B, T, U) with `return_sequences`. With
//! `go_backwards` the sequence is read from its last step to its first, and the returned
//! sequence is in that (reversed) order, as Keras does.
//!
//! Forward: the input projection of every step is one product before the recurrence,
//! P = x̃·W + b over all T·B rows (x̃ the input, time-major, times its dropout mask); then per
//! step, batch-wide, r_t = h̃_{t-1}·R (h̃ the state times its recurrent dropout mask) and the
//! cell turns (P_t, r_t, h_{t-1}, c_{t-1}) into its gates (cached) and (h_t, c_t).
//!
//! Backward (through time, over the cached gates), from the last step to the first: the cell
//! gives dL/d(pre-activations) of its input part (dP_t) and of its recurrent part (dr_t, the same
//! array but for a GRU) and the direct part of dL/dh_{t-1}; then dh_{t-1} += (dr_t·Rᵀ) ⊙ mask.
//! After the loop the weight gradients are three products over all steps: dW = x̃ᵀ·dP,
//! dR = h̃ᵀ·dr, dx = (dP·Wᵀ) ⊙ mask, and db = Σ dP (and Σ dr).
//!
//! Masking (Keras 3, `keras/src/backend/*/rnn.py`, with `zero_output_for_mask = False`, the
//! RNN layers' default): at a step whose mask is 0 (a padded position, from an embedding with
//! `mask_zero`), h_t = h_{t-1} and c_t = c_{t-1}, and the output there is that carried h. So
//! the last state is the state after the last real step, and backward passes dL/dh_t (and dc_t)
//! to step t-1 unchanged while the step's dP_t and dr_t are 0. The output keeps the mask with
//! `return_sequences` (in input order, even with `go_backwards`, as Keras' `compute_mask`),
//! and ends it otherwise.
//!
//! Dropout (Gal & Ghahramani 2016, as Keras): in training, one input mask (B, F) and one state
//! mask (B, U) are drawn per batch of sequences and kept for every step, scaled by 1/(1-rate).
//! Keras 3 draws one mask per gate when `recurrent_dropout > 0` (its `implementation = 1`); here
//! the gates share one mask, as Keras' default implementation does for `dropout`.

use rand::{Rng as _, SeedableRng};

use super::gru_reset_before::ResetBefore;
use super::recurrent_rows::{
    add_rows, backward_rows, backward_step, forward_rows, forward_step, sum_rows, BackwardIn,
    BackwardOut, ForwardOut, Padding, Step,
};
use super::{Layer, LayerSpec, Mode, Param, RecurrentSpec};
use crate::activations::Activation;
use crate::linalg::{matmul, vecmath, Mat};
use crate::regularizers::Regularizer;
use crate::tensor::Tensor;
use crate::{Error, Result, Rng};

const KERNEL: usize = 0;
const RECURRENT: usize = 1;
const BIAS: usize = 2;

/// The activations of a cell: `f` for the state, `gate` for the gates.
#[derive(Clone, Copy, Debug)]
pub(super) struct Activations {
    pub f: Activation,
    pub gate: Activation,
}

/// `act` on every value of `values`, in place: tanh and sigmoid by the vectorized
/// [`crate::linalg::vecmath`] (within 3 ulp of the exact values, not the C library's bits),
/// every other activation by [`Activation::value`].
pub(super) fn activate(act: Activation, values: &mut [f32]) {
    match act {
        Activation::Tanh => vecmath::tanh_in_place(values),
        Activation::Sigmoid => vecmath::sigmoid_in_place(values),
        act => values.iter_mut().for_each(|v| *v = act.value(*v)),
    }
}

/// One step of a recurrent cell over a batch, forward and backward. Slices are row-major over
/// the batch: `p`, `r`, `dp`, `dr` (B, G·U), `cache` (B, CACHE·U), states (B, U).
pub(super) trait Cell: Send + 'static {
    /// Keras' class name.
    const CLASS: &'static str;
    /// Values cached per unit and step for backward.
    const CACHE: usize;
    /// Whether the recurrent part gets its own bias and gradient (GRU): otherwise dr = dP.
    const SPLIT_RECURRENT: bool;
    /// Whether the cell carries a second state c (LSTM).
    const CARRY: bool;
    /// Whether the last U columns of R multiply the state times the reset gate (GRU with
    /// `reset_after = false`): each step's products then run through
    /// [`super::gru_reset_before::ResetBefore`].
    const RESET_BEFORE: bool = false;

    /// Initial bias (G·U values, or 2·G·U for a split cell), after `bias_initializer` filled it.
    fn adjust_bias(_spec: &RecurrentSpec, _bias: &mut [f32]) {}

    /// Writes the gates into `cache` and the new state into `h` (and `c`), from the input part
    /// `p`, the recurrent part `r` and the previous state.
    #[allow(clippy::too_many_arguments)]
    fn forward(
        act: Activations,
        units: usize,
        p: &[f32],
        r: &[f32],
        h_prev: &[f32],
        c_prev: &[f32],
        cache: &mut [f32],
        h: &mut [f32],
        c: &mut [f32],
    );

    /// From dL/dh_t (`dh`) and dL/dc_t (`dc`, overwritten by dL/dc_{t-1}), writes dL/dP_t into
    /// `dp`, dL/dr_t into `dr` (split cells only) and the part of dL/dh_{t-1} that does not go
    /// through R into `dh_prev`.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        act: Activations,
        units: usize,
        cache: &[f32],
        h_prev: &[f32],
        h: &[f32],
        c_prev: &[f32],
        c: &[f32],
        dh: &[f32],
        dc: &mut [f32],
        dp: &mut [f32],
        dr: &mut [f32],
        dh_prev: &mut [f32],
    );
}

/// A recurrent layer running cell `C` over time.
pub(super) struct Recurrent<C: Cell> {
    spec: RecurrentSpec,
    name: String,
    params: Vec<Param>,
    rng: Rng,
    /// Steps T and features F, from the built input shape.
    steps: usize,
    features: usize,
    /// The output's per-batch shape, kept so that forward allocates nothing.
    output_shape: Vec<usize>,
    /// Buffers of the last forward pass (time-major: step s at rows s·B..(s+1)·B).
    buf: Buffers,
    cell: std::marker::PhantomData<C>,
}

/// The layer's buffers, sized on the first batch and reused.
#[derive(Default)]
struct Buffers {
    batch: usize,
    /// Dropout masks of the last training pass (empty when off): (B, F) and (B, U).
    input_mask: Vec<f32>,
    state_mask: Vec<f32>,
    /// x̃ (T·B, F): the input in processing order, masked.
    x: Vec<f32>,
    /// P (T·B, G·U): input projections plus the input bias.
    p: Vec<f32>,
    /// r (B, G·U): the current step's recurrent product.
    r: Vec<f32>,
    /// Gates (T·B, CACHE·U).
    cache: Vec<f32>,
    /// States h ((T+1)·B, U), h_0 = 0; c likewise for a carrying cell.
    h: Vec<f32>,
    c: Vec<f32>,
    /// h̃ (T·B, U): the states the recurrent product read (masked; only with recurrent dropout).
    h_masked: Vec<f32>,
    /// Backward: dP and dr (T·B, G·U), the running dh, dh_prev, dc (B, U), the product dr·Rᵀ.
    dp: Vec<f32>,
    dr: Vec<f32>,
    dh: Vec<f32>,
    dh_prev: Vec<f32>,
    dc: Vec<f32>,
    dh_rec: Vec<f32>,
    /// dx̃ (T·B, F).
    dx: Vec<f32>,
    /// ‖∂L/∂h_s‖ per processing step s of the last observed backward pass (T; empty before
    /// one).
    dh_norms: Vec<f32>,
    /// Whether the next backward computes `dh_norms` (an observed step).
    observed: bool,
    /// The time-step mask (B, T) in input order, 1 for a real step; empty without one.
    step_mask: Vec<f32>,
    /// dc before a step's backward, restored on its masked rows (B, U).
    dc_keep: Vec<f32>,
    /// The two products of a step of a GRU with `reset_after = false` (empty otherwise).
    reset_before: ResetBefore,
}

impl<C: Cell> Recurrent<C> {
    /// An unbuilt layer.
    pub(super) fn new(spec: RecurrentSpec) -> Self {
        Recurrent {
            spec,
            name: String::new(),
            params: Vec::new(),
            rng: Rng::seed_from_u64(0),
            steps: 0,
            features: 0,
            output_shape: Vec::new(),
            buf: Buffers {
                observed: true,
                ..Buffers::default()
            },
            cell: std::marker::PhantomData,
        }
    }

    fn columns(&self) -> usize {
        self.spec.gates() * self.spec.units
    }

    fn activations(&self) -> Activations {
        Activations {
            f: self.spec.activation,
            gate: self.spec.recurrent_activation,
        }
    }

    /// Sizes every buffer for a batch of `batch` (no allocation once they have been this big).
    fn size_buffers(&mut self, batch: usize) {
        let (t, f, u, gu) = (self.steps, self.features, self.spec.units, self.columns());
        let b = &mut self.buf;
        b.batch = batch;
        b.x.resize(t * batch * f, 0.0);
        b.p.resize(t * batch * gu, 0.0);
        b.r.resize(batch * gu, 0.0);
        b.cache.resize(t * batch * C::CACHE * u, 0.0);
        b.h.resize((t + 1) * batch * u, 0.0);
        b.c.resize(if C::CARRY { (t + 1) * batch * u } else { 0 }, 0.0);
    }

    /// Draws the dropout masks of a training pass (or clears them).
    fn draw_masks(&mut self, batch: usize, training: bool) {
        let draw = |mask: &mut Vec<f32>, len: usize, rate: f32, rng: &mut Rng| {
            mask.clear();
            if training && rate > 0.0 {
                let keep = 1.0 - rate;
                mask.extend((0..len).map(|_| {
                    if rng.random::<f32>() < keep {
                        1.0 / keep
                    } else {
                        0.0
                    }
                }));
            }
        };
        let (f, u) = (self.features, self.spec.units);
        draw(
            &mut self.buf.input_mask,
            batch * f,
            self.spec.dropout,
            &mut self.rng,
        );
        draw(
            &mut self.buf.state_mask,
            batch * u,
            self.spec.recurrent_dropout,
            &mut self.rng,
        );
    }

    /// The input time step read at processing step `s`.
    fn time_of(&self, s: usize) -> usize {
        if self.spec.go_backwards {
            self.steps - 1 - s
        } else {
            s
        }
    }
}

impl<C: Cell> Layer for Recurrent<C> {
    fn name(&self) -> &str {
        &self.name
    }

    fn set_name(&mut self, name: String) {
        self.name = name;
    }

    fn class_name(&self) -> &'static str {
        C::CLASS
    }

    super::random_stream!(rng);

    fn build(&mut self, input_shape: &[usize], rng: &mut Rng) -> Result<Vec<usize>> {
        let &[steps, features] = input_shape else {
            return Err(Error::Shape(format!(
                "layer `{}` ({}) expects sequences (timesteps, features) but receives shape {input_shape:?}",
                self.name,
                C::CLASS
            )));
        };
        if steps == 0 || features == 0 {
            return Err(Error::Shape(format!(
                "layer `{}` ({}) receives empty sequences of shape {input_shape:?}",
                self.name,
                C::CLASS
            )));
        }
        let (u, gu) = (self.spec.units, self.columns());
        let mut kernel = Param::new("kernel", &[features, gu]);
        self.spec
            .kernel_initializer
            .fill(kernel.value.data_mut(), &[features, gu], rng);
        let mut recurrent = Param::new("recurrent_kernel", &[u, gu]);
        self.spec
            .recurrent_initializer
            .fill(recurrent.value.data_mut(), &[u, gu], rng);
        self.params = vec![kernel, recurrent];
        if self.spec.use_bias {
            let shape: &[usize] = if C::SPLIT_RECURRENT { &[2, gu] } else { &[gu] };
            let mut bias = Param::new("bias", shape);
            self.spec
                .bias_initializer
                .fill(bias.value.data_mut(), shape, rng);
            C::adjust_bias(&self.spec, bias.value.data_mut());
            self.params.push(bias);
        }
        self.set_trainable(self.spec.trainable);
        self.rng = Rng::seed_from_u64(rng.random());
        self.steps = steps;
        self.features = features;
        Ok(if self.spec.return_sequences {
            vec![steps, u]
        } else {
            vec![u]
        })
    }

    fn forward(&mut self, input: &Tensor, output: &mut Tensor, mode: Mode) {
        let batch = input.rows();
        let (t_len, f, u, gu) = (self.steps, self.features, self.spec.units, self.columns());
        self.size_buffers(batch);
        self.draw_masks(batch, matches!(mode, Mode::Train | Mode::Sample));
        // x̃: time-major, in processing order, times the input mask.
        let x = input.data();
        for s in 0..t_len {
            let t = self.time_of(s);
            for b in 0..batch {
                let src = &x[(b * t_len + t) * f..][..f];
                let dst = &mut self.buf.x[(s * batch + b) * f..][..f];
                dst.copy_from_slice(src);
                if !self.buf.input_mask.is_empty() {
                    let mask = &self.buf.input_mask[b * f..][..f];
                    dst.iter_mut().zip(mask).for_each(|(v, &m)| *v *= m);
                }
            }
        }
        // P = x̃·W (+ input bias), all steps in one product.
        let rows = t_len * batch;
        matmul(
            Mat::new(&self.buf.x, rows, f),
            Mat::new(self.params[KERNEL].value.data(), f, gu),
            &mut self.buf.p,
            false,
        );
        let bias = self.params.get(BIAS).map(|p| p.value.data());
        if let Some(bias) = bias {
            add_rows(&mut self.buf.p, &bias[..gu]);
        }
        let recurrent_bias = bias.filter(|_| C::SPLIT_RECURRENT).map(|b| &b[gu..]);
        let masked = !self.buf.state_mask.is_empty();
        self.buf
            .h_masked
            .resize(if masked { rows * u } else { 0 }, 0.0);
        self.buf.h[..batch * u].fill(0.0);
        if C::CARRY {
            self.buf.c[..batch * u].fill(0.0);
        }
        let act = self.activations();
        let r_kernel = Mat::new(self.params[RECURRENT].value.data(), u, gu);
        if C::RESET_BEFORE {
            self.buf
                .reset_before
                .start(self.params[RECURRENT].value.data(), u, rows);
        }
        let bu = batch * u;
        for s in 0..t_len {
            let b = &mut self.buf;
            let (h_done, h_next) = b.h.split_at_mut((s + 1) * bu);
            let h_prev = &h_done[s * bu..];
            let (c_prev, c): (&[f32], &mut [f32]) = if C::CARRY {
                let (done, next) = b.c.split_at_mut((s + 1) * bu);
                (&done[s * bu..], &mut next[..bu])
            } else {
                (&[], &mut [])
            };
            let cache = &mut b.cache[s * batch * C::CACHE * u..][..batch * C::CACHE * u];
            let p = &b.p[s * batch * gu..][..batch * gu];
            let step = Step {
                act,
                units: u,
                recurrent: r_kernel,
                recurrent_bias,
                state_mask: &b.state_mask,
                padding: Padding {
                    mask: &b.step_mask,
                    steps: t_len,
                    t: if self.spec.go_backwards {
                        t_len - 1 - s
                    } else {
                        s
                    },
                },
            };
            if !C::RESET_BEFORE {
                let h_masked: &mut [f32] = if masked {
                    &mut b.h_masked[s * bu..][..bu]
                } else {
                    &mut []
                };
                let out = ForwardOut {
                    h_masked,
                    r: &mut b.r,
                    cache,
                    h: &mut h_next[..bu],
                    c,
                };
                forward_step::<C>(&step, p, h_prev, c_prev, out);
                continue;
            }
            let h_in: &[f32] = if masked {
                let dst = &mut b.h_masked[s * bu..][..bu];
                for ((d, &h), &m) in dst.iter_mut().zip(h_prev).zip(&b.state_mask) {
                    *d = h * m;
                }
                dst
            } else {
                h_prev
            };
            b.reset_before
                .forward_step(act, u, s, p, h_in, &mut b.r, cache);
            forward_rows::<C>(act, u, p, &b.r, h_prev, c_prev, cache, &mut h_next[..bu], c);
            // A padded step carries the state through.
            for bi in (0..batch).filter(|&bi| step.padding.padded(bi)) {
                let row = bi * u..(bi + 1) * u;
                h_next[row.clone()].copy_from_slice(&h_prev[row.clone()]);
            }
        }
        // The output: the last state, or every state in processing order (B, T, U).
        self.output_shape.clear();
        self.output_shape.push(batch);
        if self.spec.return_sequences {
            self.output_shape.push(t_len);
        }
        self.output_shape.push(u);
        output.resize(&self.output_shape);
        let y = output.data_mut();
        if self.spec.return_sequences {
            for s in 0..t_len {
                let h = &self.buf.h[(s + 1) * bu..][..bu];
                for b in 0..batch {
                    y[(b * t_len + s) * u..][..u].copy_from_slice(&h[b * u..][..u]);
                }
            }
        } else {
            y.copy_from_slice(&self.buf.h[t_len * bu..][..bu]);
        }
    }

    fn backward(
        &mut self,
        input: &Tensor,
        _output: &Tensor,
        grad_output: &Tensor,
        grad_input: Option<&mut Tensor>,
    ) {
        let (t_len, f, u, gu) = (self.steps, self.features, self.spec.units, self.columns());
        let batch = self.buf.batch;
        let (bu, rows) = (batch * u, t_len * batch);
        let act = self.activations();
        let sequences = self.spec.return_sequences;
        let dy = grad_output.data();
        let b = &mut self.buf;
        b.dp.resize(rows * gu, 0.0);
        b.dr.resize(if C::SPLIT_RECURRENT { rows * gu } else { 0 }, 0.0);
        for v in [&mut b.dh, &mut b.dh_prev, &mut b.dh_rec] {
            v.resize(bu, 0.0);
        }
        b.dc.resize(if C::CARRY { bu } else { 0 }, 0.0);
        b.dc.fill(0.0);
        let observed = b.observed;
        if observed {
            b.dh_norms.resize(t_len, 0.0);
        }
        // dL/dh at the processing step s, from the output.
        let output_grad = |s: usize, dst: &mut [f32], add: bool| {
            for bi in 0..batch {
                let src = if sequences {
                    &dy[(bi * t_len + s) * u..][..u]
                } else {
                    &dy[bi * u..][..u]
                };
                let d = &mut dst[bi * u..][..u];
                if add {
                    d.iter_mut().zip(src).for_each(|(d, &g)| *d += g);
                } else {
                    d.copy_from_slice(src);
                }
            }
        };
        output_grad(t_len - 1, &mut b.dh, false);
        let r_kernel = Mat::new(self.params[RECURRENT].value.data(), u, gu);
        let masked = !b.state_mask.is_empty();
        let padding = !b.step_mask.is_empty();
        if padding && C::CARRY {
            b.dc_keep.resize(bu, 0.0);
        }
        for s in (0..t_len).rev() {
            if observed {
                // Summed in f64: in f32 the squares overflow to inf once an entry passes
                // about 1.8e19, and a blow-up would read as an infinite norm.
                let squares: f64 = b.dh.iter().map(|&g| f64::from(g) * f64::from(g)).sum();
                b.dh_norms[s] = squares.sqrt() as f32;
            }
            let (c_prev, c): (&[f32], &[f32]) = if C::CARRY {
                (&b.c[s * bu..][..bu], &b.c[(s + 1) * bu..][..bu])
            } else {
                (&[], &[])
            };
            let dr: &mut [f32] = if C::SPLIT_RECURRENT {
                &mut b.dr[s * batch * gu..][..batch * gu]
            } else {
                &mut []
            };
            let step = Step {
                act,
                units: u,
                recurrent: r_kernel,
                recurrent_bias: None,
                state_mask: &b.state_mask,
                padding: Padding {
                    mask: &b.step_mask,
                    steps: t_len,
                    t: if self.spec.go_backwards {
                        t_len - 1 - s
                    } else {
                        s
                    },
                },
            };
            let cache = &b.cache[s * batch * C::CACHE * u..][..batch * C::CACHE * u];
            let dp = &mut b.dp[s * batch * gu..][..batch * gu];
            if !C::RESET_BEFORE {
                let inp = BackwardIn {
                    cache,
                    h_prev: &b.h[s * bu..][..bu],
                    h: &b.h[(s + 1) * bu..][..bu],
                    c_prev,
                    c,
                    dh: &b.dh,
                    dy: (sequences && s > 0).then(|| (&dy[(s - 1) * u..], t_len)),
                };
                let out = BackwardOut {
                    dc: &mut b.dc,
                    dc_keep: if padding && C::CARRY {
                        &mut b.dc_keep
                    } else {
                        &mut []
                    },
                    dp,
                    dr,
                    dh_prev: &mut b.dh_prev,
                    dh_rec: if masked { &mut b.dh_rec } else { &mut [] },
                };
                backward_step::<C>(&step, s == 0, inp, out);
                if s == 0 {
                    break;
                }
                std::mem::swap(&mut b.dh, &mut b.dh_prev);
                continue;
            }
            let h_prev = &b.h[s * bu..][..bu];
            let h = &b.h[(s + 1) * bu..][..bu];
            backward_rows::<C>(
                act,
                u,
                cache,
                h_prev,
                h,
                c_prev,
                c,
                &b.dh,
                &mut b.dc,
                dp,
                dr,
                &mut b.dh_prev,
            );
            // A padded step passes dh through and has no gradient of its own.
            for bi in (0..batch).filter(|&bi| step.padding.padded(bi)) {
                let row = bi * u..(bi + 1) * u;
                dp[bi * gu..(bi + 1) * gu].fill(0.0);
                b.dh_prev[row.clone()].copy_from_slice(&b.dh[row]);
            }
            let h_in = if masked { &b.h_masked } else { &b.h };
            b.reset_before
                .backward_step(act, u, dp, cache, &h_in[s * bu..][..bu], &mut b.dh_rec);
            if s == 0 {
                break;
            }
            // dh_{s-1} = direct part + dh_rec ⊙ mask + the output's gradient at s - 1, with
            // dh_rec = dp_zr·R_zrᵀ + ds ⊙ r from the step above.
            let mask = b.state_mask.iter().copied().chain(std::iter::repeat(1.0));
            for ((d, &g), m) in b.dh_prev.iter_mut().zip(&b.dh_rec).zip(mask) {
                *d += g * m;
            }
            if sequences {
                output_grad(s - 1, &mut b.dh_prev, true);
            }
            std::mem::swap(&mut b.dh, &mut b.dh_prev);
        }
        // Weight gradients over all steps at once.
        let d_pre = Mat::new(&b.dp, rows, gu);
        let d_rec = Mat::new(if C::SPLIT_RECURRENT { &b.dr } else { &b.dp }, rows, gu);
        if let Some(dx) = grad_input {
            b.dx.resize(rows * f, 0.0);
            let w = Mat::new(self.params[KERNEL].value.data(), f, gu);
            matmul(d_pre, w.t(), &mut b.dx, false);
            dx.resize(input.shape());
            let dx = dx.data_mut();
            for s in 0..t_len {
                let t = if self.spec.go_backwards {
                    t_len - 1 - s
                } else {
                    s
                };
                for bi in 0..batch {
                    let src = &b.dx[(s * batch + bi) * f..][..f];
                    let dst = &mut dx[(bi * t_len + t) * f..][..f];
                    dst.copy_from_slice(src);
                    if !b.input_mask.is_empty() {
                        let mask = &b.input_mask[bi * f..][..f];
                        dst.iter_mut().zip(mask).for_each(|(v, &m)| *v *= m);
                    }
                }
            }
        }
        if self.params[KERNEL].trainable {
            let x_t = Mat::new(&b.x, rows, f).t();
            matmul(x_t, d_pre, self.params[KERNEL].grad.data_mut(), false);
        }
        if self.params[RECURRENT].trainable {
            let h_in: &[f32] = if masked {
                &b.h_masked
            } else {
                &b.h[..rows * u]
            };
            let grad = self.params[RECURRENT].grad.data_mut();
            if C::RESET_BEFORE {
                b.reset_before.kernel_gradient(u, &b.dp, h_in, grad);
            } else {
                matmul(Mat::new(h_in, rows, u).t(), d_rec, grad, false);
            }
        }
        if let Some(bias) = self.params.get_mut(BIAS).filter(|p| p.trainable) {
            let grad = bias.grad.data_mut();
            sum_rows(&b.dp, &mut grad[..gu]);
            if C::SPLIT_RECURRENT {
                sum_rows(&b.dr, &mut grad[gu..]);
            }
        }
    }

    fn params(&self) -> &[Param] {
        &self.params
    }

    /// Takes a mask; keeps it on its output with `return_sequences` (Keras' `compute_mask`).
    fn mask_flow(&self, input_masked: bool) -> Result<bool> {
        Ok(input_masked && self.spec.return_sequences)
    }

    fn set_input_mask(&mut self, mask: &[f32]) {
        self.buf.step_mask.clear();
        self.buf.step_mask.extend_from_slice(mask);
    }

    fn output_mask(&self) -> &[f32] {
        &self.buf.step_mask
    }

    fn set_gradients_observed(&mut self, observed: bool) {
        self.buf.observed = observed;
    }

    fn time_gradient_norms(&self) -> Option<&[f32]> {
        Some(&self.buf.dh_norms)
    }

    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }

    fn kernel_param(&self) -> Option<&Param> {
        self.params.first()
    }

    fn kernel_param_mut(&mut self) -> Option<&mut Param> {
        self.params.first_mut()
    }

    fn scratch_values(&self, batch: usize) -> usize {
        let (t, f, u, gu) = (self.steps, self.features, self.spec.units, self.columns());
        let per_step = 2 * f + 3 * gu + (C::CACHE + 3) * u;
        let staged = if C::RESET_BEFORE {
            ResetBefore::scratch_values(t, batch, u)
        } else {
            0
        };
        batch
            .saturating_mul(t.saturating_add(1))
            .saturating_mul(per_step)
            .saturating_add(staged)
    }

    fn has_penalty(&self) -> bool {
        self.regularizers().iter().any(Option::is_some)
    }

    fn penalty(&self) -> f64 {
        crate::regularizers::penalty_of(&self.params, &self.regularizers())
    }

    fn add_penalty_gradients(&mut self) {
        let regularizers = self.regularizers();
        crate::regularizers::add_penalty_gradients(&mut self.params, &regularizers);
    }

    fn spec(&self) -> LayerSpec {
        let mut spec = self.spec.clone();
        spec.trainable = self.params.iter().all(|p| p.trainable);
        LayerSpec::new(spec).named(&self.name)
    }

    fn describe(&self) -> String {
        let mut text = format!("{}", self.spec.activation);
        if self.spec.return_sequences {
            text.push_str(", sequences");
        }
        if self.spec.go_backwards {
            text.push_str(", backwards");
        }
        text
    }
}

impl<C: Cell> Recurrent<C> {
    /// Kernel, recurrent kernel and bias regularizers, in the order of the parameters.
    fn regularizers(&self) -> [Option<Regularizer>; 3] {
        [
            self.spec.kernel_regularizer,
            self.spec.recurrent_regularizer,
            self.spec.bias_regularizer,
        ]
    }
}
