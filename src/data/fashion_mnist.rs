//! Fashion-MNIST (Xiao, Rasul, Vollgraf 2017; MIT license): 60,000 training and 10,000 test
//! images of 28×28 pixels in 10 classes, read from its four IDX files.

use std::path::{Path, PathBuf};

use super::{read_idx, Dataset, RowOrigin, Splits};
use crate::tensor::Tensor;
use crate::{Error, Result};

/// Where Debian's `dataset-fashion-mnist` package installs the files.
pub const FASHION_MNIST_DEFAULT_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The environment variable that overrides the default directory.
pub const FASHION_MNIST_ENV: &str = "DEEPTRAIN_FASHION_MNIST";

/// The class names, by label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// The directory to read from: `explicit`, else `$DEEPTRAIN_FASHION_MNIST`, else the default.
pub fn fashion_mnist_dir(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(FASHION_MNIST_ENV).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(FASHION_MNIST_DEFAULT_DIR))
}

/// Finds `stem` or `stem.gz` in `dir`; `fashion` adds how to install Fashion-MNIST to the
/// error (a custom IDX directory gets no such hint).
fn find(dir: &Path, stem: &str, fashion: bool) -> Result<PathBuf> {
    for name in [format!("{stem}.gz"), stem.to_string()] {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    let hint = if fashion {
        format!("; install Fashion-MNIST with `apt-get install dataset-fashion-mnist` or set {FASHION_MNIST_ENV}")
    } else {
        " (an IDX directory holds train-images-idx3-ubyte and train-labels-idx1-ubyte, optionally gzipped, and the same for t10k)".to_string()
    };
    Err(Error::format(dir, format!("no {stem}(.gz) here{hint}")))
}

/// Loads images and labels of one part (`train` or `t10k`) from an IDX directory (`fashion`:
/// the Fashion-MNIST one, see [`find`]).
pub fn load_idx_pair(dir: &Path, prefix: &str, fashion: bool) -> Result<Dataset> {
    let images_path = find(dir, &format!("{prefix}-images-idx3-ubyte"), fashion)?;
    let labels_path = find(dir, &format!("{prefix}-labels-idx1-ubyte"), fashion)?;
    let images = read_idx(&images_path)?;
    let labels = read_idx(&labels_path)?;
    if labels.dims.len() != 1 {
        return Err(Error::format(
            &labels_path,
            format!(
                "labels must be one-dimensional, found dimensions {:?}",
                labels.dims
            ),
        ));
    }
    if images.dims[0] != labels.dims[0] {
        return Err(Error::format(
            &labels_path,
            format!(
                "{} labels for {} images in {}",
                labels.dims[0],
                images.dims[0],
                images_path.display()
            ),
        ));
    }
    let n = labels.dims[0];
    Ok(Dataset {
        x: Tensor::from_vec(images.values, &images.dims),
        labels: Tensor::from_vec(labels.values, &[n, 1]),
        weights: None,
        origin: RowOrigin::rows(&images_path, n),
        stream: None,
    })
}

/// Loads Fashion-MNIST (training and test sets) from `dir` (see [`fashion_mnist_dir`]).
pub fn fashion_mnist(dir: &Path) -> Result<Splits> {
    Ok(Splits {
        train: load_idx_pair(dir, "train", true)?,
        test: Some(load_idx_pair(dir, "t10k", true)?),
        class_names: Some(
            FASHION_MNIST_CLASSES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        ),
        table: None,
    })
}
