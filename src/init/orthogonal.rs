//! Keras' `Orthogonal` initializer: a (rows, cols) weight with orthonormal columns or rows.

use super::normal;
use crate::Rng;

/// Keras' flattening for `Orthogonal`: rows = product of all axes but the last.
pub(super) fn flat_rows_cols(shape: &[usize]) -> (usize, usize) {
    match shape.split_last() {
        None => (1, 1),
        Some((&cols, rest)) => (rest.iter().product::<usize>().max(1), cols),
    }
}

/// Fills a (rows, cols) matrix with orthonormal columns (rows ≥ cols) or rows (rows < cols),
/// times `gain`: modified Gram-Schmidt in f64 on a Gaussian (max, min) matrix, which gives
/// the Q of its QR decomposition with diag(R) > 0 (Keras' sign correction).
pub(super) fn orthogonal(values: &mut [f32], shape: &[usize], gain: f64, rng: &mut Rng) {
    let (rows, cols) = flat_rows_cols(shape);
    let (n, m) = (rows.max(cols), rows.min(cols));
    // Column j of the (n, m) matrix is q[j*n .. (j+1)*n].
    let mut q: Vec<f64> = (0..n * m).map(|_| normal(rng)).collect();
    for j in 0..m {
        let (done, rest) = q.split_at_mut(j * n);
        let col = &mut rest[..n];
        for prev in done.chunks_exact(n) {
            let dot: f64 = prev.iter().zip(col.iter()).map(|(a, b)| a * b).sum();
            col.iter_mut().zip(prev).for_each(|(c, p)| *c -= dot * p);
        }
        let norm = col.iter().map(|c| c * c).sum::<f64>().sqrt();
        if norm > 0.0 {
            col.iter_mut().for_each(|c| *c /= norm);
        }
    }
    for i in 0..rows {
        for j in 0..cols {
            // rows ≥ cols: W = Q (n = rows); otherwise W = Qᵀ (n = cols).
            let v = if rows >= cols {
                q[j * n + i]
            } else {
                q[i * n + j]
            };
            values[i * cols + j] = (gain * v) as f32;
        }
    }
}
