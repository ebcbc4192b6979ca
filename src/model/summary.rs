//! The Keras-style model summary: layers, output shapes, parameter counts.

use std::fmt::Write as _;

use super::Sequential;

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

impl Sequential {
    /// The summary table, as `model.summary()` prints in Keras.
    pub fn summary(&self) -> String {
        let rows: Vec<[String; 4]> = self
            .layers
            .iter()
            .zip(&self.output_shapes)
            .map(|(layer, shape)| {
                let (trainable, frozen) = layer.param_counts();
                let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
                let tail = if dims.len() == 1 { "," } else { "" };
                [
                    format!("{} ({})", layer.name(), layer.class_name()),
                    format!("(None, {}{tail})", dims.join(", ")),
                    with_commas(trainable + frozen),
                    layer.describe(),
                ]
            })
            .collect();
        let header = [
            "Layer (type)".to_string(),
            "Output Shape".to_string(),
            "Param #".to_string(),
            "Activation, init".to_string(),
        ];
        let widths: Vec<usize> = (0..4)
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
        let line = |r: &[String; 4]| {
            format!(
                "{:<w0$} {:<w1$} {:>w2$} {:<w3$}\n",
                r[0],
                r[1],
                r[2],
                r[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            )
        };
        let mut out = String::from("Model: \"sequential\"\n");
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
