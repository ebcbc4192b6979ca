//! Wide & Deep (Cheng et al. 2016; Géron ch. 10) with the graph API: two model inputs that
//! select features of one sample, a deep path through two hidden layers, a concatenation, and
//! an auxiliary output with its own loss weight (0.9 main, 0.1 auxiliary, as in the textbook).
//!
//!     cargo run --release --example wide_deep

use deeptrain::{data, Activation, DenseSpec, FitOptions, Initializer, LayerSpec, Loss, Metric};
use deeptrain::{Scale, Scaler, Sequential, Sgd};

fn main() -> deeptrain::Result<()> {
    let splits = data::digits()?;
    let mut train = splits.train;
    let mut test = splits
        .test
        .ok_or_else(|| deeptrain::Error::Data("no test set".into()))?;
    let scaler = Scaler::fit(Scale::Standard, &train.x);
    scaler.apply(&mut train.x);
    scaler.apply(&mut test.x);

    // The wide part: the 16 central pixels of each 8×8 image; the deep part: all 64.
    let centre: Vec<usize> = (2..6)
        .flat_map(|r| (2..6).map(move |c| r * 8 + c))
        .collect();
    let he = Initializer::HE_NORMAL;
    let mut model = Sequential::graph(&[8, 8])
        .input_columns("wide", centre)
        .input("deep")
        .layer(LayerSpec::flatten().named("flat").reads(&["deep"]))
        .layer(
            DenseSpec::new(64)
                .activation(Activation::Relu)
                .kernel_initializer(he)
                .named("hidden1"),
        )
        .layer(
            DenseSpec::new(32)
                .activation(Activation::Relu)
                .kernel_initializer(he)
                .named("hidden2"),
        )
        .layer(LayerSpec::concatenate(&["wide", "hidden2"]).named("concat"))
        .layer(
            DenseSpec::new(10)
                .activation(Activation::Softmax)
                .named("main"),
        )
        .layer(
            DenseSpec::new(10)
                .activation(Activation::Softmax)
                .named("aux")
                .reads(&["hidden2"]),
        )
        .output("main", 0.9)
        .output("aux", 0.1)
        .build(42)?;
    model.compile(
        Box::new(Sgd::with_momentum(0.02, 0.9, false, 0.0)?),
        Loss::SparseCategoricalCrossentropy,
        &[Metric::Accuracy],
    )?;
    print!("{}", model.summary());
    let options = FitOptions {
        epochs: 15,
        validation_split: 0.1,
        ..Default::default()
    };
    let history = model.fit(&train, None, &options, &mut [])?;
    println!(
        "validation accuracy (main output): {:.3?}",
        history.series("val_accuracy")
    );
    println!("test: {:?}", model.evaluate(&test, 256)?);
    println!(
        "loss of each output in the last pass: {:?}",
        model.output_losses()
    );
    Ok(())
}
