//! A classifier's results class by class on a set: the confusion matrix and each class's
//! precision, recall and F1, as scikit-learn's `confusion_matrix` and `classification_report`
//! (a class never predicted has precision 0 and a class absent from the set recall 0, as
//! `zero_division=0`; the macro average is the unweighted mean over the classes).

use crate::tensor::{argmax, Tensor};

/// Counts of (true class, predicted class) over a set, with the class names.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassReport {
    /// The class names (or their indices as text), one per class.
    pub names: Vec<String>,
    /// `counts[t][p]`: samples of true class `t` predicted as `p`.
    pub counts: Vec<Vec<u64>>,
}

impl ClassReport {
    /// From a classifier's `outputs` on a set and its `labels`: several outputs decide by the
    /// argmax (softmax), one output by p >= 0.5 (sigmoid, Keras' threshold); labels are class
    /// indices (one column) or one-hot rows. `None` when the shapes are not those of a
    /// single-label classifier or a label is not a class.
    ///
    /// ```
    /// use deeptrain::metrics::per_class::ClassReport;
    /// use deeptrain::Tensor;
    /// let outputs = Tensor::from_vec(vec![0.9, 0.1, 0.2, 0.8, 0.6, 0.4], &[3, 2]);
    /// let labels = Tensor::from_vec(vec![0.0, 1.0, 1.0], &[3, 1]);
    /// let r = ClassReport::from_outputs(&outputs, &labels, None).unwrap();
    /// assert_eq!(r.counts, vec![vec![1, 0], vec![1, 1]]);
    /// assert_eq!((r.precision(0), r.recall(1)), (0.5, 0.5));
    /// ```
    pub fn from_outputs(
        outputs: &Tensor,
        labels: &Tensor,
        names: Option<&[String]>,
    ) -> Option<Self> {
        let (rows, width) = (outputs.rows(), outputs.row_len());
        if rows == 0 || labels.rows() != rows || width == 0 {
            return None;
        }
        let classes = width.max(2);
        let decide = |row: &[f32]| -> usize {
            if width == 1 {
                usize::from(row[0] >= 0.5)
            } else {
                argmax(row)
            }
        };
        let truth = |row: &[f32]| -> Option<usize> {
            match row.len() {
                1 if row[0] >= 0.0 && row[0].fract() == 0.0 && (row[0] as usize) < classes => {
                    Some(row[0] as usize)
                }
                n if n == width && width > 1 => Some(argmax(row)),
                _ => None,
            }
        };
        let mut counts = vec![vec![0u64; classes]; classes];
        let label_len = labels.row_len().max(1);
        for (out, label) in outputs
            .data()
            .chunks_exact(width)
            .zip(labels.data().chunks_exact(label_len))
        {
            counts[truth(label)?][decide(out)] += 1;
        }
        let names = match names.filter(|n| n.len() == classes) {
            Some(n) => n.to_vec(),
            None => (0..classes).map(|c| c.to_string()).collect(),
        };
        Some(ClassReport { names, counts })
    }

    /// Samples of class `c` in the set.
    pub fn support(&self, c: usize) -> u64 {
        self.counts[c].iter().sum()
    }

    /// Of the samples predicted as `c`, the fraction that are `c` (0 when none is).
    pub fn precision(&self, c: usize) -> f64 {
        let predicted: u64 = self.counts.iter().map(|row| row[c]).sum();
        ratio(self.counts[c][c], predicted)
    }

    /// Of the samples of class `c`, the fraction predicted as `c` (0 when there are none).
    pub fn recall(&self, c: usize) -> f64 {
        ratio(self.counts[c][c], self.support(c))
    }

    /// The harmonic mean of precision and recall (0 when both are 0).
    pub fn f1(&self, c: usize) -> f64 {
        let (p, r) = (self.precision(c), self.recall(c));
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    /// The fraction of samples predicted right.
    pub fn accuracy(&self) -> f64 {
        let right: u64 = (0..self.names.len()).map(|c| self.counts[c][c]).sum();
        ratio(right, self.counts.iter().flatten().sum())
    }

    /// The unweighted mean of `f` over the classes (scikit-learn's macro average).
    pub fn macro_average(&self, f: impl Fn(&Self, usize) -> f64) -> f64 {
        let n = self.names.len();
        (0..n).map(|c| f(self, c)).sum::<f64>() / n as f64
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scikit-learn 1.9.1 on y_true = [0, 0, 1, 1, 2, 2, 2], y_pred = [0, 1, 1, 1, 2, 0, 0]
    /// (`confusion_matrix`, `precision_recall_fscore_support(zero_division=0)`, and with
    /// `average="macro"`): [[1, 1, 0], [0, 2, 0], [2, 0, 1]]; precision [1/3, 2/3, 1], recall
    /// [1/2, 1, 1/3], f1 [0.4, 0.8, 0.5]; macro f1 0.56667.
    #[test]
    fn matches_scikit_learns_definitions() {
        let truth = [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 2.0];
        let predicted = [0usize, 1, 1, 1, 2, 0, 0];
        let mut outputs = Vec::new();
        for &p in &predicted {
            let mut row = vec![0.1f32; 3];
            row[p] = 0.8;
            outputs.extend(row);
        }
        let outputs = Tensor::from_vec(outputs, &[7, 3]);
        let labels = Tensor::from_vec(truth.to_vec(), &[7, 1]);
        let r = ClassReport::from_outputs(&outputs, &labels, None).unwrap();
        assert_eq!(r.counts, vec![vec![1, 1, 0], vec![0, 2, 0], vec![2, 0, 1]]);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        for (c, (p, rc, f)) in [
            (1.0 / 3.0, 0.5, 0.4),
            (2.0 / 3.0, 1.0, 0.8),
            (1.0, 1.0 / 3.0, 0.5),
        ]
        .into_iter()
        .enumerate()
        {
            assert!(
                close(r.precision(c), p) && close(r.recall(c), rc) && close(r.f1(c), f),
                "class {c}"
            );
        }
        assert!(close(r.macro_average(ClassReport::f1), 1.7 / 3.0));
        assert!(close(r.accuracy(), 4.0 / 7.0));
        // One-hot labels read the same; a label that is not a class gives no report.
        let mut one_hot = vec![0.0f32; 21];
        for (i, &t) in truth.iter().enumerate() {
            one_hot[i * 3 + t as usize] = 1.0;
        }
        let one_hot = Tensor::from_vec(one_hot, &[7, 3]);
        assert_eq!(ClassReport::from_outputs(&outputs, &one_hot, None), Some(r));
        let bad = Tensor::from_vec(vec![0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0], &[7, 1]);
        assert_eq!(ClassReport::from_outputs(&outputs, &bad, None), None);
    }

    #[test]
    fn one_sigmoid_output_is_two_classes_at_one_half() {
        let outputs = Tensor::from_vec(vec![0.2, 0.5, 0.7, 0.4], &[4, 1]);
        let labels = Tensor::from_vec(vec![0.0, 0.0, 1.0, 1.0], &[4, 1]);
        let r = ClassReport::from_outputs(&outputs, &labels, None).unwrap();
        assert_eq!(r.counts, vec![vec![1, 1], vec![1, 1]]);
    }
}
