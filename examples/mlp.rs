//! A multilayer perceptron on the embedded digits, the Keras way: build, compile, fit,
//! evaluate, save and load.
//!
//!     cargo run --release --example mlp

use deeptrain::callbacks::Progress;
use deeptrain::{data, Activation, DenseSpec, FitOptions, LayerSpec, Loss, Metric};
use deeptrain::{Initializer, Scale, Scaler, Sequential, Sgd};

fn main() -> deeptrain::Result<()> {
    let splits = data::digits()?;
    let mut train = splits.train;
    let mut test = splits
        .test
        .ok_or_else(|| deeptrain::Error::Data("no test set".into()))?;
    let scaler = Scaler::fit(Scale::Unit, &train.x);
    scaler.apply(&mut train.x);
    scaler.apply(&mut test.x);

    let mut model = Sequential::new(&[8, 8])
        .add(LayerSpec::flatten())
        .add(
            DenseSpec::new(128)
                .activation(Activation::Relu)
                .kernel_initializer(Initializer::HE_NORMAL),
        )
        .add(
            DenseSpec::new(64)
                .activation(Activation::Relu)
                .kernel_initializer(Initializer::HE_NORMAL),
        )
        .add(DenseSpec::new(10).activation(Activation::Softmax))
        .build(42)?;
    model.compile(
        Box::new(Sgd::with_momentum(0.05, 0.9, true, 0.0)?),
        Loss::SparseCategoricalCrossentropy,
        &[Metric::Accuracy],
    )?;
    print!("{}", model.summary());
    let options = FitOptions {
        epochs: 20,
        batch_size: 32,
        validation_split: 0.1,
        ..Default::default()
    };
    let mut progress = Progress::new(); // Keras' verbose=1: a bar per epoch and a line of results
    let history = model.fit(&train, None, &options, &mut [&mut progress])?;
    let accuracy = history.series("val_accuracy");
    println!("validation accuracy by epoch: {accuracy:.3?}");
    println!("test: {:?}", model.evaluate(&test, 256)?);

    let dir = std::env::temp_dir().join("deeptrain-example-mlp");
    model.save(&dir)?;
    let (mut reloaded, _) = Sequential::load(&dir)?;
    assert_eq!(
        reloaded.predict(&test.x, 256)?.data(),
        model.predict(&test.x, 256)?.data()
    );
    println!(
        "saved to and reloaded from {}: the same predictions",
        dir.display()
    );
    Ok(())
}
