//! 2-D window geometry shared by convolution and pooling layers (channels last, (N, H, W, C)).
//!
//! Output lengths and padding follow Keras/TensorFlow: for one axis of length `n`, a window of
//! `k` taps spread by `dilation` d (effective size `k_eff = (k - 1)·d + 1`) moved by `stride` s,
//! - `valid`: out = ⌊(n - k_eff) / s⌋ + 1 (no padding; zero when the window does not fit);
//! - `same`:  out = ⌈n / s⌉, with `total = max((out - 1)·s + k_eff - n, 0)` zeros of padding,
//!   `⌊total / 2⌋` before and the rest after (TensorFlow puts the odd one at the end);
//! - `causal` (Keras' `Conv1D` only): out = ⌈n / s⌉, with `k_eff - 1` zeros before and none
//!   after, so that output t reads inputs up to t·s only.
//!
//! Source: `tf.nn.convolution` docs, "Notes on padding"; Keras' `conv_output_length`; Keras 3
//! `Conv1D._compute_causal_padding` (left pad `dilation_rate·(kernel_size - 1)`, then "valid").

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

use crate::{Error, Result};

/// A 2-D size (rows, columns): written in a spec as one int for both axes (`3`) or a pair
/// (`[3, 5]`), as Keras takes `kernel_size`, `strides`, `pool_size` and `dilation_rate`.
///
/// ```
/// use deeptrain::layers::Size2;
/// #[derive(serde::Deserialize)]
/// struct S { k: Size2 }
/// let s: S = toml::from_str("k = 3").unwrap();
/// assert_eq!(s.k, Size2::square(3));
/// let s: S = toml::from_str("k = [3, 5]").unwrap();
/// assert_eq!(s.k, Size2::new(3, 5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Size2 {
    /// Along the height axis.
    pub rows: usize,
    /// Along the width axis.
    pub cols: usize,
}

impl Size2 {
    /// A size of `rows` × `cols`.
    pub const fn new(rows: usize, cols: usize) -> Self {
        Size2 { rows, cols }
    }

    /// The same size `n` on both axes.
    pub const fn square(n: usize) -> Self {
        Size2 { rows: n, cols: n }
    }

    /// rows · cols.
    pub fn area(&self) -> usize {
        self.rows * self.cols
    }

    /// Refuses a zero on either axis: `"<layer>: <what> must be positive, got [0, 3]"`.
    pub fn check_positive(&self, layer: &str, what: &str) -> Result<()> {
        if self.rows == 0 || self.cols == 0 {
            return Err(Error::Config(format!(
                "{layer}: {what} must be positive, got [{}, {}]",
                self.rows, self.cols
            )));
        }
        Ok(())
    }
}

impl From<usize> for Size2 {
    fn from(n: usize) -> Self {
        Size2::square(n)
    }
}

impl From<(usize, usize)> for Size2 {
    fn from((rows, cols): (usize, usize)) -> Self {
        Size2::new(rows, cols)
    }
}

impl fmt::Display for Size2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}×{}", self.rows, self.cols)
    }
}

impl Serialize for Size2 {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        if self.rows == self.cols {
            serializer.serialize_u64(self.rows as u64)
        } else {
            [self.rows, self.cols].serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Size2 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Size2Visitor;
        impl<'de> Visitor<'de> for Size2Visitor {
            type Value = Size2;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a positive integer or a pair of them, such as 3 or [3, 3]")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Size2, E> {
                let n = usize::try_from(v).map_err(|_| {
                    E::custom(format!(
                        "{v} is negative: a size (kernel_size, strides, pool_size, dilation_rate) is a positive integer or a pair of them"
                    ))
                })?;
                Ok(Size2::square(n))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Size2, E> {
                let n = usize::try_from(v).map_err(|_| E::custom(format!("{v} is too large")))?;
                Ok(Size2::square(n))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Size2, A::Error> {
                let rows: usize = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let cols: usize = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                if seq.next_element::<usize>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &self));
                }
                Ok(Size2::new(rows, cols))
            }
        }
        deserializer.deserialize_any(Size2Visitor)
    }
}

/// How a window treats the border: Keras' `padding` argument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// No padding: windows lie wholly inside the input (Keras' default).
    #[default]
    Valid,
    /// Zero padding so that the output has ⌈n / stride⌉ positions.
    Same,
    /// Zeros only before the input, so that no output reads a later position (for
    /// convolutions over time: Keras' `Conv1D`; other layers refuse it).
    Causal,
}

impl Padding {
    /// Keras' spelling: `valid`, `same`, `causal`.
    pub fn name(self) -> &'static str {
        match self {
            Padding::Valid => "valid",
            Padding::Same => "same",
            Padding::Causal => "causal",
        }
    }

    /// Refuses `causal` for a layer that has no time axis to be causal along (every layer but
    /// `conv1d`, as Keras): `"<layer>: `padding = \"causal\"` is for conv1d only; ..."`.
    pub fn check_not_causal(self, layer: &str) -> Result<()> {
        if self == Padding::Causal {
            return Err(Error::Config(format!(
                "{layer}: `padding = \"causal\"` is for conv1d only (as in Keras); use \"valid\" or \"same\""
            )));
        }
        Ok(())
    }
}

/// Where a window goes along one axis: its output length and the padding before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AxisWindow {
    /// Input length.
    pub input: usize,
    /// Output length.
    pub output: usize,
    /// Taps in the window.
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
    /// Spacing between taps (1: contiguous).
    pub dilation: usize,
    /// Zeros before the first input position (the rest of the padding is after the end).
    pub pad_before: usize,
}

impl AxisWindow {
    /// The geometry of one axis (formulas in the module docs). The output length is 0 when a
    /// `valid` window does not fit.
    pub fn new(
        input: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
        padding: Padding,
    ) -> Self {
        // Saturating: an overflowing span (refused by `Window2::checked`) never wraps to 1.
        let effective = span(kernel, dilation);
        let (output, pad_before) = match padding {
            Padding::Valid => {
                let output = if input >= effective {
                    (input - effective) / stride + 1
                } else {
                    0
                };
                (output, 0)
            }
            Padding::Same => {
                let output = input.div_ceil(stride);
                let needed = (output.saturating_sub(1) * stride + effective).saturating_sub(input);
                (output, needed / 2)
            }
            Padding::Causal => (input.div_ceil(stride), effective - 1),
        };
        AxisWindow {
            input,
            output,
            kernel,
            stride,
            dilation,
            pad_before,
        }
    }

    /// The input position read by tap `k` of output position `o`, or `None` when it falls in the
    /// padding.
    #[inline]
    pub fn source(&self, o: usize, k: usize) -> Option<usize> {
        let at = (o * self.stride + k * self.dilation).checked_sub(self.pad_before)?;
        (at < self.input).then_some(at)
    }

    /// The input positions the taps of output position `o` read, in tap order, padding left
    /// out: [`AxisWindow::source`] of the taps k with `pad ≤ o·s + k·d < pad + n`, found
    /// without visiting the others, so that the cost is at most the input's length whatever
    /// the window's size (a `same` pool of 10^12 taps over 8 positions reads 8).
    pub fn sources(&self, o: usize) -> impl Iterator<Item = usize> + Clone {
        let (base, d) = (o * self.stride, self.dilation);
        let (pad, end) = (self.pad_before, self.pad_before + self.input);
        // The first tap at or after `at`: ⌈(at - base) / d⌉, clamped to the window.
        let first_at = |at: usize| at.saturating_sub(base).div_ceil(d).min(self.kernel);
        let (lo, hi) = (first_at(pad), first_at(end));
        (lo..hi.max(lo)).map(move |k| base + k * d - pad)
    }
}

/// The positions a window of `kernel` taps spread by `dilation` covers, (k - 1)·d + 1
/// (saturating at `usize::MAX`).
pub fn span(kernel: usize, dilation: usize) -> usize {
    kernel
        .saturating_sub(1)
        .saturating_mul(dilation)
        .saturating_add(1)
}

/// Whether a window of `kernel` taps spread by `dilation` and moved by `stride` over `input`
/// positions keeps its reach, (k − 1)·d + n + s, within a machine word (`dilation_rate = 2^62`
/// would wrap it); false for a zero `kernel`.
pub fn reach_fits(input: usize, kernel: usize, stride: usize, dilation: usize) -> bool {
    kernel
        .checked_sub(1)
        .and_then(|k| k.checked_mul(dilation))
        .and_then(|extent| extent.checked_add(input))
        .and_then(|reach| reach.checked_add(stride))
        .is_some()
}

/// The geometry of a 2-D window over an (H, W) grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window2 {
    /// Along the height axis.
    pub rows: AxisWindow,
    /// Along the width axis.
    pub cols: AxisWindow,
}

impl Window2 {
    /// The window of `kernel` taps moved by `strides`, spread by `dilation`, over an
    /// `input_rows` × `input_cols` grid.
    pub fn new(
        input_rows: usize,
        input_cols: usize,
        kernel: Size2,
        strides: Size2,
        dilation: Size2,
        padding: Padding,
    ) -> Self {
        Window2 {
            rows: AxisWindow::new(
                input_rows,
                kernel.rows,
                strides.rows,
                dilation.rows,
                padding,
            ),
            cols: AxisWindow::new(
                input_cols,
                kernel.cols,
                strides.cols,
                dilation.cols,
                padding,
            ),
        }
    }

    /// [`Window2::new`] after refusing, with a line naming `layer`, a window whose span, added
    /// to the input's length and the stride, overflows a machine word (`dilation_rate = 2^62`
    /// would wrap it to 1). Any other window is valid, as in Keras, however much larger than the
    /// input (a 5×5 `same` convolution of a 1×1 map): its padded taps are never visited
    /// ([`AxisWindow::sources`]).
    pub fn checked(
        layer: &str,
        (input_rows, input_cols): (usize, usize),
        kernel: Size2,
        strides: Size2,
        dilation: Size2,
        padding: Padding,
    ) -> Result<Self> {
        for (axis, input, k, s, d) in [
            ("rows", input_rows, kernel.rows, strides.rows, dilation.rows),
            (
                "columns",
                input_cols,
                kernel.cols,
                strides.cols,
                dilation.cols,
            ),
        ] {
            if !reach_fits(input, k, s, d) {
                return Err(Error::Config(format!(
                    "{layer}: a window of {k} taps with dilation {d} along the {axis} spans more positions than a machine word counts; use a smaller kernel or dilation_rate"
                )));
            }
        }
        Ok(Window2::new(
            input_rows, input_cols, kernel, strides, dilation, padding,
        ))
    }

    /// Output grid (rows, cols).
    pub fn output(&self) -> (usize, usize) {
        (self.rows.output, self.cols.output)
    }
}

/// Reads a per-sample shape as (H, W, C): (H, W) is one channel, as Keras' image layers take a
/// grayscale image; anything else is an error naming the layer.
pub fn image_shape(layer: &str, input_shape: &[usize]) -> Result<(usize, usize, usize)> {
    match *input_shape {
        [h, w] => Ok((h, w, 1)),
        [h, w, c] => Ok((h, w, c)),
        _ => Err(Error::Config(format!(
            "{layer}: expects images of shape (height, width) or (height, width, channels), got {input_shape:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_same_lengths_match_keras() {
        // Keras conv_output_length: valid (n - k_eff + 1) / s rounded up, same ceil(n / s).
        assert_eq!(AxisWindow::new(28, 3, 1, 1, Padding::Valid).output, 26);
        assert_eq!(AxisWindow::new(28, 3, 2, 1, Padding::Valid).output, 13);
        assert_eq!(AxisWindow::new(28, 3, 1, 2, Padding::Valid).output, 24);
        assert_eq!(AxisWindow::new(2, 3, 1, 1, Padding::Valid).output, 0);
        let same = AxisWindow::new(28, 3, 2, 1, Padding::Same);
        assert_eq!((same.output, same.pad_before), (14, 0)); // total 1: 0 before, 1 after
        let same = AxisWindow::new(5, 4, 1, 1, Padding::Same);
        assert_eq!((same.output, same.pad_before), (5, 1)); // total 3: 1 before, 2 after
                                                            // Causal: (k - 1)·d zeros before; output t reads t·s − (k−1)·d + k·d, the last tap t·s.
        let causal = AxisWindow::new(9, 3, 1, 2, Padding::Causal);
        assert_eq!((causal.output, causal.pad_before), (9, 4));
        assert_eq!(causal.sources(0).collect::<Vec<_>>(), vec![0]);
        assert_eq!(causal.sources(5).collect::<Vec<_>>(), vec![1, 3, 5]);
        assert_eq!(AxisWindow::new(10, 3, 3, 1, Padding::Causal).output, 4);
        assert_eq!(same.source(0, 0), None);
        assert_eq!(same.source(0, 1), Some(0));
        assert_eq!(same.source(4, 3), None);
    }

    #[test]
    fn sources_are_the_taps_on_the_input_without_visiting_the_padding() {
        for (n, k, s, d, padding) in [
            (5, 4, 1, 1, Padding::Same),
            (1, 5, 1, 1, Padding::Same),
            (8, 3, 2, 1, Padding::Valid),
            (9, 3, 1, 3, Padding::Same),
            (7, 2, 3, 1, Padding::Same),
        ] {
            let w = AxisWindow::new(n, k, s, d, padding);
            for o in 0..w.output {
                let visited: Vec<usize> = (0..k).filter_map(|t| w.source(o, t)).collect();
                assert_eq!(w.sources(o).collect::<Vec<_>>(), visited, "{w:?} at {o}");
            }
        }
        // 10^12 taps over 8 positions: every output reads the whole input, at once.
        let huge = AxisWindow::new(8, 1_000_000_000_000, 1, 1, Padding::Same);
        assert_eq!(huge.output, 8);
        assert!((0..8).all(|o| huge.sources(o).eq(0..8)));
    }

    #[test]
    fn size_reads_an_int_or_a_pair() {
        #[derive(Deserialize, Serialize)]
        struct S {
            k: Size2,
        }
        let s: S = toml::from_str("k = [2, 3]").unwrap();
        assert_eq!(s.k, Size2::new(2, 3));
        assert_eq!(toml::to_string(&s).unwrap().trim(), "k = [2, 3]");
        let s: S = toml::from_str("k = 4").unwrap();
        assert_eq!(toml::to_string(&s).unwrap().trim(), "k = 4");
        assert!(toml::from_str::<S>("k = [1, 2, 3]").is_err());
        assert!(toml::from_str::<S>("k = -1").is_err());
        assert!(toml::from_str::<S>("k = \"3\"").is_err());
    }
}
