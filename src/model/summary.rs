//! The Keras-style model summary: layers, output shapes, parameter counts.

use std::fmt::Write as _;

use super::Model;

/// Formats an integer with thousands separators (266,610).
pub fn with_commas(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Model {
    /// The summary table, as `model.summary()` prints in Keras; a graph model (Keras'
    /// "functional") also shows what each layer reads, and its inputs and outputs.
    ///
    /// ```
    /// # fn main() -> deeptrain::Result<()> {
    /// # use deeptrain::{data, Activation, DenseSpec, FitOptions, LayerSpec, Loss, Metric, Sequential, Sgd};
    /// # let train = data::digits()?.train;
    /// # let mut model = Sequential::new(&[8, 8])
    /// #     .add(LayerSpec::flatten())
    /// #     .add(DenseSpec::new(10).activation(Activation::Softmax))
    /// #     .build(1)?;
    /// # model.compile(Box::new(Sgd::new(0.01)?), Loss::SparseCategoricalCrossentropy, &[Metric::Accuracy])?;
    /// print!("{}", model.summary());
    /// assert!(model.summary().contains("Total params: 650"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn summary(&self) -> String {
        let graph = !self.is_sequential();
        let inputs = self.layer_inputs();
        let rows: Vec<Vec<String>> = self
            .layers
            .iter()
            .zip(&self.output_shapes)
            .zip(&inputs)
            .map(|((layer, shape), reads)| {
                let (trainable, frozen) = layer.param_counts();
                let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
                let mut row = vec![
                    format!("{} ({})", layer.name(), layer.class_name()),
                    format!("(None, {})", dims.join(", ")),
                    with_commas(trainable + frozen),
                ];
                if graph {
                    row.push(reads.join(", "));
                }
                row.push(layer.describe());
                row
            })
            .collect();
        let mut header = vec![
            "Layer (type)".to_string(),
            "Output Shape".to_string(),
            "Param #".to_string(),
        ];
        if graph {
            header.push("Connected to".to_string());
        }
        header.push("Activation, init".to_string());
        let columns = header.len();
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                rows.iter()
                    .chain(std::iter::once(&header))
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
                    + 2
            })
            .collect();
        let rule = |ch: char| -> String {
            widths
                .iter()
                .map(|w| ch.to_string().repeat(*w))
                .collect::<Vec<_>>()
                .join(ch.to_string().as_str())
                + "\n"
        };
        let line = |r: &[String]| {
            let mut text = String::new();
            for (c, (cell, w)) in r.iter().zip(&widths).enumerate() {
                if c > 0 {
                    text.push(' ');
                }
                if c == 2 {
                    let _ = write!(text, "{cell:>w$}");
                } else {
                    let _ = write!(text, "{cell:<w$}");
                }
            }
            text + "\n"
        };
        let kind = if graph { "functional" } else { "sequential" };
        let mut out = format!("Model: \"{kind}\"\n");
        if graph {
            let names: Vec<String> = self
                .model_inputs()
                .iter()
                .map(|i| match &i.columns {
                    Some(c) => format!("{} ({} features)", i.name, c.len()),
                    None => i.name.clone(),
                })
                .collect();
            let _ = writeln!(out, "Inputs: {}", names.join(", "));
            let outputs: Vec<String> = self
                .topology()
                .outputs
                .iter()
                .zip(&self.topology().loss_weights)
                .map(|(&o, w)| format!("{} (loss weight {w})", self.layers[o].name()))
                .collect();
            let _ = writeln!(out, "Outputs: {}", outputs.join(", "));
        }
        out.push_str(&rule('='));
        out.push_str(&line(&header));
        out.push_str(&rule('='));
        for (i, r) in rows.iter().enumerate() {
            out.push_str(&line(r));
            out.push_str(&rule(if i + 1 == rows.len() { '=' } else { '-' }));
        }
        let (trainable, frozen) = self.count_params();
        let total = trainable + frozen;
        let _ = writeln!(
            out,
            "Total params: {} ({:.2} KB)",
            with_commas(total),
            total as f64 * 4.0 / 1024.0
        );
        let _ = writeln!(out, "Trainable params: {}", with_commas(trainable));
        let _ = writeln!(out, "Non-trainable params: {}", with_commas(frozen));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_group_thousands() {
        assert_eq!(with_commas(0), "0");
        assert_eq!(with_commas(999), "999");
        assert_eq!(with_commas(266_610), "266,610");
        assert_eq!(with_commas(1_234_567), "1,234,567");
    }
}
