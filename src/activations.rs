//! Activation functions, each value beside its derivative.
//!
//! Element-wise activations give `f(x)` and `f'(x)`; the derivative may read the output `y = f(x)`
//! (cheaper for sigmoid and tanh). Softmax acts on whole rows; its backward is the
//! Jacobian-vector product `dx_i = y_i (dy_i - Σ_j dy_j y_j)`.

use serde::{Deserialize, Serialize};

/// An activation, by its Keras name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// f(x) = x.
    #[default]
    Linear,
    /// f(x) = 1 / (1 + e^-x); f' = y (1 - y).
    Sigmoid,
    /// f(x) = tanh x; f' = 1 - y².
    Tanh,
    /// f(x) = max(0, x); f' = [x > 0] (0 at the kink, as PyTorch and Keras).
    Relu,
    /// Row-wise e^x_i / Σ_j e^x_j, computed after subtracting the row maximum.
    Softmax,
}

impl Activation {
    /// All activations, in declaration order (for tests and messages).
    pub const ALL: [Activation; 5] = [
        Activation::Linear,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::Softmax,
    ];

    /// Keras' name.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Softmax => "softmax",
        }
    }

    /// True for activations that act on a whole row (softmax) rather than element by element.
    pub fn is_row_wise(self) -> bool {
        self == Activation::Softmax
    }

    /// f(x) for an element-wise activation (softmax of a single element is 1).
    #[inline]
    pub fn value(self, x: f32) -> f32 {
        match self {
            Activation::Linear => x,
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => x.tanh(),
            Activation::Relu => x.max(0.0),
            Activation::Softmax => 1.0,
        }
    }

    /// f'(x), given x and y = f(x), for an element-wise activation.
    #[inline]
    pub fn derivative(self, x: f32, y: f32) -> f32 {
        match self {
            Activation::Linear => 1.0,
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Tanh => 1.0 - y * y,
            Activation::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Softmax => 0.0,
        }
    }

    /// Whether the derivative needs the input `x` (otherwise the output `y` suffices).
    pub fn needs_input(self) -> bool {
        false
    }

    /// Applies f in place.
    pub fn forward_in_place(self, values: &mut [f32], features: usize) {
        match self {
            Activation::Linear => {}
            Activation::Softmax => {
                for row in values.chunks_exact_mut(features) {
                    softmax_row_in_place(row);
                }
            }
            _ => {
                for v in values {
                    *v = self.value(*v);
                }
            }
        }
    }

    /// Multiplies `grad` in place by f'(x), given y = f(x) (element-wise activations only).
    pub fn backward_in_place(self, y: &[f32], grad: &mut [f32], features: usize) {
        match self {
            Activation::Linear => {}
            Activation::Relu => {
                for (g, &yv) in grad.iter_mut().zip(y) {
                    if yv <= 0.0 {
                        *g = 0.0;
                    }
                }
            }
            Activation::Softmax => {
                for (yr, gr) in y
                    .chunks_exact(features)
                    .zip(grad.chunks_exact_mut(features))
                {
                    let dot: f32 = yr.iter().zip(gr.iter()).map(|(a, b)| a * b).sum();
                    for (g, &yv) in gr.iter_mut().zip(yr) {
                        *g = yv * (*g - dot);
                    }
                }
            }
            _ => {
                for (g, &yv) in grad.iter_mut().zip(y) {
                    *g *= self.derivative(0.0, yv);
                }
            }
        }
    }
}

/// Logistic sigmoid, stable for large |x| (no overflow of e^-x).
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Softmax of one row, computed as e^(x - max) / Σ e^(x - max).
pub fn softmax_row(x: &[f32], y: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv = (xv - max).exp();
        sum += *yv;
    }
    let inv = 1.0 / sum;
    y.iter_mut().for_each(|v| *v *= inv);
}

/// Softmax of one row, in place.
pub fn softmax_row_in_place(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}
