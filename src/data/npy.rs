//! NPY arrays (NumPy's `.npy` format, read with the `npyz` crate): features from one file, labels
//! from another.

use std::path::Path;

use npyz::{DType, NpyFile, Order, TypeChar};

use super::{Dataset, RowOrigin};
use crate::tensor::Tensor;
use crate::{io, limits, Error, Result};

/// Reads a C-order numeric `.npy` array as f32, with its shape.
pub fn read_npy(path: &Path) -> Result<Tensor> {
    let bytes = io::read(path)?;
    let head = &bytes[..bytes.len().min(4096)];
    if [&b"'|O'"[..], b"\"|O\""]
        .iter()
        .any(|pat| head.windows(pat.len()).any(|w| w == *pat))
    {
        return Err(Error::format(
            path,
            "object arrays (dtype `O`) are not supported; save a numeric array (e.g. x.astype(np.float32))",
        ));
    }
    let npy = NpyFile::new(&bytes[..])
        .map_err(|e| Error::format(path, format!("not a valid .npy file: {e}")))?;
    if npy.shape().contains(&0) {
        return Err(Error::format(
            path,
            format!("shape {:?} holds no values", npy.shape()),
        ));
    }
    limits::array_values(path, npy.shape())?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    if npy.order() != Order::C {
        return Err(Error::format(
            path,
            "Fortran-ordered arrays are not supported; save with np.ascontiguousarray",
        ));
    }
    let DType::Plain(type_str) = npy.dtype() else {
        return Err(Error::format(
            path,
            "structured arrays are not supported; save a plain numeric array",
        ));
    };
    let width = type_str.num_bytes().unwrap_or(0) as u64;
    let count = shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
        .unwrap_or(u64::MAX);
    if count.saturating_mul(width) > bytes.len() as u64 {
        return Err(Error::format(
            path,
            format!(
                "truncated .npy file: shape {shape:?} needs {} bytes of data, the file has {}",
                count.saturating_mul(width),
                bytes.len()
            ),
        ));
    }
    let bad = |e: std::io::Error| Error::format(path, format!("cannot read the values: {e}"));
    let values: Vec<f32> = match (type_str.type_char(), width) {
        (TypeChar::Float, 4) => npy.into_vec::<f32>().map_err(bad)?,
        (TypeChar::Float, 8) => npy
            .into_vec::<f64>()
            .map_err(bad)?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        (TypeChar::Uint, 1) => npy
            .into_vec::<u8>()
            .map_err(bad)?
            .into_iter()
            .map(f32::from)
            .collect(),
        (TypeChar::Int, 4) => npy
            .into_vec::<i32>()
            .map_err(bad)?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        (TypeChar::Int, 8) => npy
            .into_vec::<i64>()
            .map_err(bad)?
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        (TypeChar::Bool, 1) => npy
            .into_vec::<bool>()
            .map_err(bad)?
            .into_iter()
            .map(|v| v as u8 as f32)
            .collect(),
        _ => {
            return Err(Error::format(
                path,
                format!(
                "unsupported dtype `{type_str}`; use float32, float64, uint8, int32, int64 or bool"
            ),
            ))
        }
    };
    let shape = if shape.is_empty() { vec![1] } else { shape };
    Ok(Tensor::from_vec(values, &shape))
}

/// Loads features from `features` (N, ...) and labels from `labels` (N) or (N, L).
pub fn load_npy(features: &Path, labels: &Path) -> Result<Dataset> {
    let x = read_npy(features)?;
    if x.shape().len() < 2 {
        return Err(Error::format(
            features,
            format!(
                "a 1-D array of shape {:?}: features are (N, F), one row per sample; save x.reshape(-1, 1) for a single feature",
                x.shape()
            ),
        ));
    }
    let mut y = read_npy(labels)?;
    if y.rows() != x.rows() {
        return Err(Error::format(
            labels,
            format!(
                "{} labels for {} samples in {}",
                y.rows(),
                x.rows(),
                features.display()
            ),
        ));
    }
    let width = y.row_len().max(1);
    y.resize(&[x.rows(), width]);
    let origin = RowOrigin::rows(features, x.rows());
    Ok(Dataset {
        x,
        labels: y,
        weights: None,
        origin,
    })
}
