//! The UCI handwritten digits, embedded in the binary as the offline default dataset.
//!
//! 1,797 images of 8×8 pixels (values 0..16) in 10 classes: the test set of "Optical Recognition
//! of Handwritten Digits" (E. Alpaydin, C. Kaynak, 1998; CC BY 4.0), as shipped inside
//! scikit-learn (`sklearn/datasets/data/digits.csv.gz`). No test split of its own: 20% of the
//! rows, picked by a seeded stratified shuffle, are held out as the test set (the file is sorted
//! in scikit-learn's order, so its tail is no fair sample).

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use super::csv::{parse_csv, LabelColumn};
use super::{Dataset, SplitOrder, Splits, DEFAULT_SPLIT_SEED};
use crate::Result;

/// The attribution the license asks for.
pub const DIGITS_ATTRIBUTION: &str = "UCI Optical Recognition of Handwritten Digits (E. Alpaydin, C. Kaynak, 1998), CC BY 4.0, via scikit-learn";

const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");

/// Fraction of the rows held out as the test set.
pub const DIGITS_TEST_FRACTION: f64 = 0.2;

/// Loads the embedded digits: (1,438 training, 359 test) images of shape (8, 8), split by a
/// stratified shuffle with seed [`DEFAULT_SPLIT_SEED`].
///
/// ```
/// # fn main() -> deeptrain::Result<()> {
/// let splits = deeptrain::data::digits()?;
/// assert_eq!(splits.train.feature_shape(), &[8, 8]);
/// assert_eq!(splits.train.len() + splits.test.map_or(0, |t| t.len()), 1797);
/// # Ok(())
/// # }
/// ```
pub fn digits() -> Result<Splits> {
    let all = digits_all()?;
    let (train, test) = all.split_off(
        DIGITS_TEST_FRACTION,
        SplitOrder::Shuffled {
            seed: DEFAULT_SPLIT_SEED,
        },
    );
    Ok(Splits {
        train,
        test: Some(test),
        class_names: Some((0..10).map(|d| d.to_string()).collect()),
        table: None,
    })
}

/// All 1,797 embedded digits in the file's order, images of shape (8, 8).
pub fn digits_all() -> Result<Dataset> {
    let source = Path::new("<embedded digits.csv.gz>");
    let mut csv = Vec::new();
    GzDecoder::new(DIGITS_CSV_GZ)
        .read_to_end(&mut csv)
        .map_err(|e| crate::Error::format(source, e.to_string()))?;
    let mut all = parse_csv(&csv, source, LabelColumn::LastWithoutHeader)?;
    let n = all.len();
    all.x.resize(&[n, 8, 8]);
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_digits_load_with_all_ten_classes() {
        let s = digits().unwrap();
        let test = s.test.unwrap();
        assert_eq!(s.train.len() + test.len(), 1797);
        assert_eq!(s.train.x.shape(), &[1438, 8, 8]);
        let max = s.train.x.data().iter().copied().fold(0.0, f32::max);
        assert_eq!(max, 16.0);
        for class in 0..10 {
            assert!(s.train.labels.data().contains(&(class as f32)));
        }
    }
}
