//! Cutting a dataset into parts (train / validation / test): a seeded, stratified shuffle for
//! sources without a canonical order, or the file's own order (Keras' `validation_split`).
//!
//! Stratified as scikit-learn's `train_test_split(..., stratify=y)`: each class keeps its share
//! in both parts (largest-remainder rounding, so the held-out part has exactly
//! round(N · fraction) rows).

use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::Dataset;
use crate::Rng;

/// How [`Dataset::split_off`] picks the held-out rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitOrder {
    /// The last rows of the file, in order (Keras' `validation_split`).
    Tail,
    /// A seeded shuffle first, stratified by class when the labels are class indices.
    Shuffled {
        /// Seed of the shuffle.
        seed: u64,
    },
}

impl Dataset {
    /// Splits off `fraction` of the rows: returns (kept part, held-out part). With
    /// [`SplitOrder::Shuffled`] both parts come in shuffled order.
    pub fn split_off(&self, fraction: f64, order: SplitOrder) -> (Dataset, Dataset) {
        let n = self.len();
        let held = ((n as f64) * fraction).round() as usize;
        let (kept, out) = match order {
            SplitOrder::Tail => ((0..n - held).collect(), (n - held..n).collect()),
            SplitOrder::Shuffled { seed } => self.shuffled_indices(held, seed),
        };
        (self.gather(&kept), self.gather(&out))
    }

    /// (kept, held-out) row indices after a seeded shuffle, stratified by class when possible.
    fn shuffled_indices(&self, held: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
        let mut rng = Rng::seed_from_u64(seed);
        let mut all: Vec<usize> = (0..self.len()).collect();
        all.shuffle(&mut rng);
        let Some(classes) = self.class_indices() else {
            let out = all.split_off(all.len() - held);
            return (all, out);
        };
        // Rows of each class, in shuffled order.
        let count = classes.iter().max().map_or(0, |&m| m + 1);
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); count];
        for &i in &all {
            by_class[classes[i]].push(i);
        }
        // Largest-remainder apportionment of the held-out rows over the classes.
        let n = self.len().max(1) as f64;
        let exact: Vec<f64> = by_class
            .iter()
            .map(|rows| rows.len() as f64 * held as f64 / n)
            .collect();
        let mut quota: Vec<usize> = exact.iter().map(|q| q.floor() as usize).collect();
        let mut by_remainder: Vec<usize> = (0..count).collect();
        by_remainder.sort_by(|&a, &b| {
            let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
            rb.total_cmp(&ra).then(a.cmp(&b))
        });
        let mut missing = held - quota.iter().sum::<usize>();
        for &c in by_remainder.iter().cycle().take(count * 2) {
            if missing == 0 {
                break;
            }
            if quota[c] < by_class[c].len() {
                quota[c] += 1;
                missing -= 1;
            }
        }
        let mut take_out = vec![false; self.len()];
        for (rows, &q) in by_class.iter().zip(&quota) {
            for &i in &rows[..q.min(rows.len())] {
                take_out[i] = true;
            }
        }
        all.into_iter().partition(|&i| !take_out[i])
    }

    /// The class of each row when the labels are one column of small non-negative integers
    /// (at most one distinct class per two rows), else `None` (regression targets).
    pub(crate) fn class_indices(&self) -> Option<Vec<usize>> {
        if self.labels.row_len() != 1 || self.is_empty() {
            return None;
        }
        let limit = (self.len() / 2).max(2);
        let mut classes = Vec::with_capacity(self.len());
        for &v in self.labels.data() {
            if !(v.is_finite() && v >= 0.0 && v.fract() == 0.0 && (v as usize) < limit) {
                return None;
            }
            classes.push(v as usize);
        }
        Some(classes)
    }
}

/// Warnings for a split kept in file order (`shuffle = false`): a class of `other` missing from
/// `train`, or whose share differs strongly between the two (by more than half, and by at least
/// 5 percentage points).
pub fn split_warnings(train: &Dataset, other: &Dataset, part: &str) -> Vec<String> {
    let (Some(a), Some(b)) = (train.class_indices(), other.class_indices()) else {
        return Vec::new();
    };
    let count = a.iter().chain(&b).max().map_or(0, |&m| m + 1);
    let shares = |classes: &[usize]| {
        let mut s = vec![0.0f64; count];
        for &c in classes {
            s[c] += 1.0;
        }
        let n = classes.len().max(1) as f64;
        s.iter_mut().for_each(|v| *v /= n);
        s
    };
    let (sa, sb) = (shares(&a), shares(&b));
    let mut warnings = Vec::new();
    for c in 0..count {
        if sb[c] > 0.0 && sa[c] == 0.0 {
            warnings.push(format!(
                "class {c} is in the {part} part but not in the training part (the split keeps the file's order: set `shuffle = true` under [data])"
            ));
        } else if (sa[c] - sb[c]).abs() >= 0.05 && (sa[c] - sb[c]).abs() > 0.5 * sa[c].max(sb[c]) {
            warnings.push(format!(
                "class {c} is {:.1}% of the training part but {:.1}% of the {part} part (the split keeps the file's order: set `shuffle = true` under [data])",
                100.0 * sa[c],
                100.0 * sb[c]
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tensor;

    /// 100 rows sorted by class: 60 of class 0, 30 of class 1, 10 of class 2.
    fn sorted_classes() -> Dataset {
        let labels: Vec<f32> = (0..100)
            .map(|i| match i {
                0..60 => 0.0,
                60..90 => 1.0,
                _ => 2.0,
            })
            .collect();
        let x: Vec<f32> = (0..100).map(|i| i as f32).collect();
        Dataset::new(
            Tensor::from_vec(x, &[100, 1]),
            Tensor::from_vec(labels, &[100, 1]),
        )
        .unwrap()
    }

    fn count(d: &Dataset, class: f32) -> usize {
        d.labels.data().iter().filter(|&&v| v == class).count()
    }

    #[test]
    fn shuffled_split_is_stratified_seeded_and_complete() {
        let data = sorted_classes();
        let (train, test) = data.split_off(0.2, SplitOrder::Shuffled { seed: 3 });
        assert_eq!((train.len(), test.len()), (80, 20));
        assert_eq!(
            (count(&test, 0.0), count(&test, 1.0), count(&test, 2.0)),
            (12, 6, 2)
        );
        let mut rows: Vec<f32> = train
            .x
            .data()
            .iter()
            .chain(test.x.data())
            .copied()
            .collect();
        rows.sort_by(f32::total_cmp);
        assert_eq!(rows, (0..100).map(|i| i as f32).collect::<Vec<_>>());
        let again = data.split_off(0.2, SplitOrder::Shuffled { seed: 3 });
        assert_eq!(again.1, test);
        let other = data.split_off(0.2, SplitOrder::Shuffled { seed: 4 });
        assert_ne!(other.1, test);
    }

    #[test]
    fn tail_split_keeps_file_order_and_warns_about_missing_classes() {
        let data = sorted_classes();
        let (train, test) = data.split_off(0.1, SplitOrder::Tail);
        assert_eq!(test.x.data()[0], 90.0);
        let warnings = split_warnings(&train, &test, "test");
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("class 2 is in the test part but not in the training part")),
            "{warnings:?}"
        );
        let (train, test) = data.split_off(0.1, SplitOrder::Shuffled { seed: 1 });
        assert!(split_warnings(&train, &test, "test").is_empty());
    }

    #[test]
    fn regression_targets_are_shuffled_without_strata() {
        let x: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let y: Vec<f32> = (0..10).map(|i| i as f32 * 0.5).collect();
        let data =
            Dataset::new(Tensor::from_vec(x, &[10, 1]), Tensor::from_vec(y, &[10, 1])).unwrap();
        assert!(data.class_indices().is_none());
        let (train, test) = data.split_off(0.3, SplitOrder::Shuffled { seed: 0 });
        assert_eq!((train.len(), test.len()), (7, 3));
    }
}
