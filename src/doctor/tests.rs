use super::*;

/// A small convolutional network under plain SGD on the digits: the layers whose observed
/// steps used to round differently.
const CONV_SGD: &str = r#"
seed = 3

[data]
dataset = "digits"
scale = "unit"
validation_split = 0.2

[[layers]]
type = "conv2d"
filters = 4
kernel_size = 3
activation = "relu"

[[layers]]
type = "flatten"

[[layers]]
type = "dense"
units = 10
activation = "softmax"

[compile]
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]

[optimizer]
name = "sgd"
learning_rate = 0.05

[fit]
epochs = 2
batch_size = 32
"#;

#[test]
fn the_observed_baseline_scores_as_an_unobserved_trial() {
    let path = Path::new("baseline-check.toml");
    let table: Table = toml::from_str(CONV_SGD).unwrap();
    let options = DoctorOptions {
        trial_steps: 40,
        rounds: 0,
    };
    let trials = Trials::new(path, &options);
    let (observed, _, _, _) = trials.baseline(&table).unwrap();
    let unobserved = trials.run(&table).unwrap();
    assert!(observed.value.is_finite(), "{observed:?}");
    assert_eq!(observed, unobserved);
}
