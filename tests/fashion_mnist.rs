//! Fashion-MNIST from Debian's `dataset-fashion-mnist` (installed by .ci/run): the loader reads
//! all four IDX files, and a small model learns from a few hundred images.

use deeptrain::data::{fashion_mnist, fashion_mnist_dir};
use deeptrain::{
    Activation, DenseSpec, FitOptions, LayerSpec, Loss, Metric, Scale, Scaler, Sequential, Sgd,
};

#[test]
fn loads_fashion_mnist_and_learns_from_a_few_hundred_images() {
    let dir = fashion_mnist_dir(None);
    let splits = fashion_mnist(&dir).unwrap_or_else(|e| {
        panic!("{e} (fix: sudo apt-get install -y dataset-fashion-mnist, or run scripts/test)")
    });
    let test = splits.test.unwrap();
    assert_eq!(splits.train.x.shape(), &[60_000, 28, 28]);
    assert_eq!(test.x.shape(), &[10_000, 28, 28]);
    assert_eq!(splits.class_names.unwrap()[9], "Ankle boot");
    let max = splits.train.x.data().iter().copied().fold(0.0, f32::max);
    assert_eq!(max, 255.0);
    // The first training label of Fashion-MNIST is 9 (ankle boot), the first test label 9 too.
    assert_eq!(splits.train.labels.data()[0], 9.0);
    assert_eq!(test.labels.data()[0], 9.0);

    let mut train = splits.train.slice(0..600);
    let mut small_test = test.slice(0..300);
    let scaler = Scaler::fit(Scale::Unit, &train.x);
    scaler.apply(&mut train.x);
    scaler.apply(&mut small_test.x);
    let mut model = Sequential::new(&[28, 28])
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(64).activation(Activation::Relu))
        .add(DenseSpec::new(10).activation(Activation::Softmax))
        .build(42)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.05).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let options = FitOptions {
        epochs: 10,
        batch_size: 32,
        ..Default::default()
    };
    model.fit(&train, None, &options, &mut []).unwrap();
    let results = model.evaluate(&small_test, 256).unwrap();
    // Chance is 0.10; 600 images and 10 epochs reach about 0.7.
    assert!(results[1].1 > 0.6, "test accuracy {}", results[1].1);
}
