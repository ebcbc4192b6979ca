//! The dynamic-shape, row-major f32 tensor that layers pass to each other.
//!
//! Shapes: the first axis is always the batch (B); a Dense layer sees (B, F).
//! Buffers are reused: [`Tensor::resize`] keeps the allocation when the new size fits, so a
//! steady-state training step does not allocate.

/// A row-major f32 tensor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tensor {
    data: Vec<f32>,
    shape: Vec<usize>,
}

impl Tensor {
    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Tensor {
            data: vec![0.0; shape.iter().product()],
            shape: shape.to_vec(),
        }
    }

    /// A tensor from data and shape; panics if the sizes differ (a bug in the caller).
    pub fn from_vec(data: Vec<f32>, shape: &[usize]) -> Self {
        assert_eq!(
            data.len(),
            shape.iter().product::<usize>(),
            "data length does not match shape {shape:?}"
        );
        Tensor {
            data,
            shape: shape.to_vec(),
        }
    }

    /// Resizes in place to `shape`, reusing the allocation when it fits. Contents are unspecified
    /// (old values or zeros); callers overwrite them.
    pub fn resize(&mut self, shape: &[usize]) {
        if self.shape != shape {
            self.shape.clear();
            self.shape.extend_from_slice(shape);
        }
        let len = shape.iter().product();
        if self.data.len() != len {
            self.data.resize(len, 0.0);
        }
    }

    /// Resizes like [`Tensor::resize`] to `shape` with its last axis set to `last` (a
    /// concatenation's output), without building the new shape on the heap.
    pub fn resize_last_axis(&mut self, shape: &[usize], last: usize) {
        let same = self.shape.len() == shape.len()
            && self
                .shape
                .split_last()
                .zip(shape.split_last())
                .is_some_and(|((&mine, lead), (_, theirs))| mine == last && lead == theirs);
        if !same {
            self.shape.clear();
            self.shape.extend_from_slice(shape);
            if let Some(l) = self.shape.last_mut() {
                *l = last;
            }
        }
        let len = self.shape.iter().product();
        if self.data.len() != len {
            self.data.resize(len, 0.0);
        }
    }

    /// Resizes like [`Tensor::resize`] and fills with zeros.
    pub fn resize_zeroed(&mut self, shape: &[usize]) {
        self.resize(shape);
        self.data.fill(0.0);
    }

    /// The shape, batch axis first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of rows (size of the first axis).
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// The number of elements per row (product of all axes but the first).
    pub fn row_len(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    /// The flat data.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The flat data, mutable.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Exchanges the tensor's data with `data`, which must have as many values (so that a
    /// filled buffer becomes the tensor without a copy, and the tensor's old buffer is reused).
    pub(crate) fn swap_data(&mut self, data: &mut Vec<f32>) {
        assert_eq!(
            data.len(),
            self.data.len(),
            "swapped data does not match shape {:?}",
            self.shape
        );
        std::mem::swap(&mut self.data, data);
    }

    /// Consumes the tensor, returning its data.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// Row `i` as a slice.
    pub fn row(&self, i: usize) -> &[f32] {
        let n = self.row_len();
        &self.data[i * n..(i + 1) * n]
    }

    /// Total number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the tensor holds no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Copies `other`'s shape and values into `self`, reusing the allocation.
    pub fn copy_from(&mut self, other: &Tensor) {
        self.resize(other.shape());
        self.data.copy_from_slice(&other.data);
    }

    /// Copies the rows `indices` of `source` into `self` (a mini-batch gather).
    pub fn gather_rows(&mut self, source: &Tensor, indices: &[usize]) {
        let n = source.row_len();
        let mut shape = [0usize; 8];
        let rank = source.shape.len().min(8);
        shape[..rank].copy_from_slice(&source.shape[..rank]);
        shape[0] = indices.len();
        self.resize(&shape[..rank]);
        for (dst, &i) in self.data.chunks_exact_mut(n.max(1)).zip(indices) {
            dst.copy_from_slice(&source.data[i * n..(i + 1) * n]);
        }
    }

    /// The index of the largest value in each row.
    pub fn argmax_rows(&self) -> impl Iterator<Item = usize> + '_ {
        self.data.chunks_exact(self.row_len().max(1)).map(argmax)
    }
}

/// The index of the largest value (the first one on ties); 0 for an empty slice.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_keeps_allocation_when_shrinking() {
        let mut t = Tensor::zeros(&[32, 10]);
        let ptr = t.data().as_ptr();
        t.resize(&[16, 10]);
        t.resize(&[32, 10]);
        assert_eq!(t.data().as_ptr(), ptr);
        assert_eq!(t.shape(), &[32, 10]);
    }

    #[test]
    fn gather_rows_copies_selected_rows() {
        let src = Tensor::from_vec((0..12).map(|v| v as f32).collect(), &[4, 3]);
        let mut dst = Tensor::default();
        dst.gather_rows(&src, &[2, 0]);
        assert_eq!(dst.shape(), &[2, 3]);
        assert_eq!(dst.data(), &[6.0, 7.0, 8.0, 0.0, 1.0, 2.0]);
    }

    #[test]
    fn argmax_takes_first_of_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        let t = Tensor::from_vec(vec![0.1, 0.9, 0.8, 0.2], &[2, 2]);
        assert_eq!(t.argmax_rows().collect::<Vec<_>>(), vec![1, 0]);
    }
}
