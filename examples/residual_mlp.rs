//! A residual MLP: a stem, `BLOCKS` blocks y = x + W₂·relu(W₁x) (He et al. 2016) whose second
//! layer starts at zero so that each block starts as the identity (Goyal et al. 2017), and a
//! softmax; against the same depth without the skip connections, on the digits, same seed.
//!
//!     cargo run --release --example residual_mlp

use deeptrain::{data, Activation, DenseSpec, FitOptions, GraphBuilder, Initializer, LayerSpec};
use deeptrain::{Loss, Metric, Scale, Scaler, Sequential, Sgd};

const BLOCKS: usize = 15;
const UNITS: usize = 64;

fn model(residual: bool) -> deeptrain::Result<Sequential> {
    let he = Initializer::HE_NORMAL;
    let mut graph: GraphBuilder = Sequential::graph(&[8, 8])
        .layer(LayerSpec::flatten())
        .layer(
            DenseSpec::new(UNITS)
                .activation(Activation::Relu)
                .kernel_initializer(he)
                .named("stem"),
        );
    let mut previous = "stem".to_string();
    for b in 1..=BLOCKS {
        let (inner, branch) = (format!("block{b}_a"), format!("block{b}_b"));
        graph = graph.layer(
            DenseSpec::new(UNITS)
                .activation(Activation::Relu)
                .kernel_initializer(he)
                .named(&inner),
        );
        if residual {
            graph = graph
                .layer(
                    DenseSpec::new(UNITS)
                        .kernel_initializer(Initializer::Zeros)
                        .named(&branch),
                )
                .layer(LayerSpec::add(&[&previous, &branch]).named(&format!("block{b}")));
            previous = format!("block{b}");
        } else {
            graph = graph.layer(
                DenseSpec::new(UNITS)
                    .activation(Activation::Relu)
                    .kernel_initializer(he)
                    .named(&branch),
            );
            previous = branch;
        }
    }
    let mut model = graph
        .layer(DenseSpec::new(10).activation(Activation::Softmax))
        .build(42)?;
    model.compile(
        Box::new(Sgd::new(0.01)?),
        Loss::SparseCategoricalCrossentropy,
        &[Metric::Accuracy],
    )?;
    Ok(model)
}

fn main() -> deeptrain::Result<()> {
    let splits = data::digits()?;
    let mut train = splits.train;
    Scaler::fit(Scale::Standard, &train.x).apply(&mut train.x);
    let options = FitOptions {
        epochs: 10,
        validation_split: 0.1,
        ..Default::default()
    };
    for residual in [false, true] {
        let mut model = model(residual)?;
        let history = model.fit(&train, None, &options, &mut [])?;
        let accuracy = history.series("val_accuracy");
        let name = if residual { "residual" } else { "plain" };
        println!(
            "{name:>8}, {} Dense layers: validation accuracy by epoch {accuracy:.3?}",
            2 * BLOCKS + 2
        );
    }
    Ok(())
}
