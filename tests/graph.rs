//! Graph models (Keras' functional API): finite-difference gradient checks through skip
//! connections, every merge layer, column-selecting inputs and several outputs; the chain
//! through the graph executor; bad graphs refused with errors naming the layers; save/load of
//! graphs bit for bit.

mod common;

use common::{check_gradients, pseudo_random};
use deeptrain::activations::Activation;
use deeptrain::model::{ModelInput, ModelOutput};
use deeptrain::{DenseSpec, LayerSpec, Loss, Mode, Sequential, Sgd, Targets};

fn dense(units: usize, activation: Activation, name: &str) -> LayerSpec {
    DenseSpec::new(units).activation(activation).named(name)
}

fn compiled(mut model: Sequential, loss: Loss) -> Sequential {
    model
        .compile(Box::new(Sgd::new(0.1).unwrap()), loss, &[])
        .unwrap();
    model
}

fn class_targets(n: usize, classes: usize) -> Targets {
    Targets::Classes((0..n).map(|i| ((i * 7 + 3) % classes) as u32).collect())
}

fn regression_targets(n: usize, units: usize, seed: u64) -> Targets {
    Targets::Values(pseudo_random(&[n, units], seed, 1.0))
}

#[test]
fn residual_block_gradients_match_finite_differences() {
    // y = softmax(W3 · (x + W2 · tanh(W1 x))): the input is read twice (fan-out).
    let model = Sequential::graph(&[4])
        .layer(dense(4, Activation::Tanh, "d1").reads(&["input"]))
        .layer(dense(4, Activation::Linear, "d2"))
        .layer(LayerSpec::add(&["input", "d2"]).named("skip"))
        .layer(dense(3, Activation::Softmax, "out"))
        .build(7)
        .unwrap();
    assert!(!model.is_sequential());
    let model = compiled(model, Loss::SparseCategoricalCrossentropy);
    check_gradients(
        Mode::Train,
        model,
        pseudo_random(&[5, 4], 1, 1.0),
        class_targets(5, 3),
        "residual",
    );
}

#[test]
fn a_layer_read_by_two_layers_sums_their_gradients() {
    // h feeds two branches that are multiplied and subtracted: dL/dh is the sum of both.
    let model = Sequential::graph(&[3])
        .layer(dense(4, Activation::Tanh, "h"))
        .layer(dense(4, Activation::Sigmoid, "a").reads(&["h"]))
        .layer(dense(4, Activation::Elu { alpha: 1.0 }, "b").reads(&["h"]))
        .layer(LayerSpec::multiply(&["a", "b", "h"]).named("prod"))
        .layer(LayerSpec::subtract(&["prod", "h"]).named("diff"))
        .layer(dense(2, Activation::Linear, "out"))
        .build(3)
        .unwrap();
    let model = compiled(model, Loss::MeanSquaredError);
    check_gradients(
        Mode::Train,
        model,
        pseudo_random(&[4, 3], 2, 1.0),
        regression_targets(4, 2, 9),
        "fan-out",
    );
}

#[test]
fn average_and_concatenate_gradients_match_finite_differences() {
    let model = Sequential::graph(&[4])
        .layer(dense(3, Activation::Tanh, "a").reads(&["input"]))
        .layer(dense(3, Activation::Sigmoid, "b").reads(&["input"]))
        .layer(LayerSpec::average(&["a", "b"]).named("mean"))
        .layer(LayerSpec::concatenate(&["mean", "input", "a"]).named("cat"))
        .layer(dense(2, Activation::Softmax, "out"))
        .build(5)
        .unwrap();
    assert_eq!(model.output_shapes()[3], vec![3 + 4 + 3]);
    let model = compiled(model, Loss::SparseCategoricalCrossentropy);
    check_gradients(
        Mode::Train,
        model,
        pseudo_random(&[6, 4], 4, 1.0),
        class_targets(6, 2),
        "average+concatenate",
    );
}

#[test]
fn wide_and_deep_inputs_select_columns_and_pass_gradients_back() {
    // Wide: features 0 and 3 straight to the output; deep: all five through two layers.
    let inputs = [
        ModelInput::columns("wide", vec![0, 3]),
        ModelInput::whole("deep"),
    ];
    let layers = [
        dense(6, Activation::Tanh, "h1").reads(&["deep"]),
        dense(4, Activation::Tanh, "h2"),
        LayerSpec::concatenate(&["wide", "h2"]).named("concat"),
        dense(1, Activation::Linear, "out"),
    ];
    let model = Sequential::from_graph(&[5], &inputs, &layers, &[], 11).unwrap();
    assert_eq!(model.count_params().0, 5 * 6 + 6 + 6 * 4 + 4 + (2 + 4) + 1);
    let model = compiled(model, Loss::MeanSquaredError);
    check_gradients(
        Mode::Train,
        model,
        pseudo_random(&[4, 5], 6, 1.0),
        regression_targets(4, 1, 2),
        "wide & deep",
    );
}

#[test]
fn two_outputs_with_loss_weights_match_finite_differences() {
    // The textbook's auxiliary output: main and aux both predict the target, weights 0.9/0.1.
    let model = Sequential::graph(&[3])
        .layer(dense(4, Activation::Relu, "h"))
        .layer(dense(2, Activation::Softmax, "aux").reads(&["h"]))
        .layer(dense(2, Activation::Softmax, "main").reads(&["h"]))
        .output("main", 0.9)
        .output("aux", 0.1)
        .build(8)
        .unwrap();
    let model = compiled(model, Loss::SparseCategoricalCrossentropy);
    assert_eq!(model.output_specs().len(), 2);
    check_gradients(
        Mode::Train,
        model,
        pseudo_random(&[5, 3], 3, 1.0),
        class_targets(5, 2),
        "two outputs",
    );
}

#[test]
fn an_output_other_layers_read_keeps_its_activation_gradient() {
    let model = Sequential::graph(&[3])
        .layer(dense(2, Activation::Softmax, "first"))
        .layer(dense(2, Activation::Softmax, "second"))
        .output("second", 1.0)
        .output("first", 0.5)
        .build(2)
        .unwrap();
    let model = compiled(model, Loss::SparseCategoricalCrossentropy);
    check_gradients(
        Mode::Train,
        model,
        pseudo_random(&[4, 3], 5, 1.0),
        class_targets(4, 2),
        "output read by a layer",
    );
}

#[test]
fn the_weighted_loss_of_two_outputs_is_their_weighted_sum() {
    let build = |outputs: &[ModelOutput]| {
        let layers = [
            dense(4, Activation::Relu, "h"),
            dense(2, Activation::Softmax, "aux").reads(&["h"]),
            dense(2, Activation::Softmax, "main").reads(&["h"]),
        ];
        let inputs = [ModelInput::whole("input")];
        compiled(
            Sequential::from_graph(&[3], &inputs, &layers, outputs, 8).unwrap(),
            Loss::SparseCategoricalCrossentropy,
        )
    };
    let x = pseudo_random(&[6, 3], 1, 1.0);
    let t = class_targets(6, 2);
    let out = |layer: &str, w: f32| ModelOutput {
        layer: layer.into(),
        loss_weight: w,
    };
    let (both, _) = build(&[out("main", 0.9), out("aux", 0.1)])
        .compute_gradients(&x, &t, Mode::Infer)
        .unwrap();
    let (main, _) = build(&[out("main", 1.0), out("aux", 0.0)])
        .compute_gradients(&x, &t, Mode::Infer)
        .unwrap();
    let (aux, _) = build(&[out("aux", 1.0), out("main", 0.0)])
        .compute_gradients(&x, &t, Mode::Infer)
        .unwrap();
    assert!(
        (both - (0.9 * main + 0.1 * aux)).abs() < 1e-6,
        "{both} vs {main}, {aux}"
    );
}

#[test]
fn a_chain_through_the_graph_executor_trains_as_a_sequential_model() {
    // The same layers with and without explicit `inputs`: same weights after training.
    let chain = [
        dense(8, Activation::Relu, "a"),
        dense(8, Activation::Relu, "b"),
        dense(3, Activation::Softmax, "c"),
    ];
    let named: Vec<LayerSpec> = chain
        .iter()
        .cloned()
        .zip([["input"], ["a"], ["b"]])
        .map(|(l, i): (LayerSpec, [&str; 1])| l.reads(&i))
        .collect();
    let x = pseudo_random(&[32, 5], 3, 1.0);
    let t = class_targets(32, 3);
    let train = |layers: &[LayerSpec]| {
        let mut m = compiled(
            Sequential::from_specs(&[5], layers, 4).unwrap(),
            Loss::SparseCategoricalCrossentropy,
        );
        for _ in 0..5 {
            m.train_step(&x, &t, &mut []).unwrap();
        }
        m.weights()
    };
    assert_eq!(train(&chain), train(&named));
}

#[test]
fn layers_listed_out_of_order_run_in_topological_order() {
    let layers = [
        dense(2, Activation::Softmax, "out").reads(&["h"]),
        dense(4, Activation::Relu, "h").reads(&["input"]),
    ];
    let model = Sequential::from_graph(
        &[3],
        &[ModelInput::whole("input")],
        &layers,
        &[ModelOutput {
            layer: "out".into(),
            loss_weight: 1.0,
        }],
        1,
    )
    .unwrap();
    let names: Vec<&str> = model.layers().iter().map(|l| l.name()).collect();
    assert_eq!(names, ["h", "out"]);
}

fn graph_error(layers: &[LayerSpec], inputs: &[ModelInput]) -> String {
    match Sequential::from_graph(&[4], inputs, layers, &[], 1) {
        Ok(_) => panic!("the graph was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_graphs_are_refused_naming_the_layers() {
    let one = [ModelInput::whole("input")];
    let cycle = [
        dense(4, Activation::Relu, "a").reads(&["b"]),
        dense(4, Activation::Relu, "b").reads(&["a"]),
        dense(2, Activation::Linear, "out").reads(&["b"]),
    ];
    let e = graph_error(&cycle, &one);
    assert!(
        e.contains("cycle") && e.contains("`a`") && e.contains("`b`"),
        "{e}"
    );

    let unknown = [dense(4, Activation::Relu, "a").reads(&["nowhere"])];
    let e = graph_error(&unknown, &one);
    assert!(e.contains("`a` reads `nowhere`"), "{e}");

    let unused = [
        dense(4, Activation::Relu, "dangling"),
        dense(2, Activation::Linear, "out").reads(&["input"]),
    ];
    let e = graph_error(&unused, &one);
    assert!(e.contains("`dangling` is not used"), "{e}");

    let mismatch = [
        dense(4, Activation::Relu, "a"),
        dense(3, Activation::Relu, "b"),
        LayerSpec::add(&["a", "b"]).named("sum"),
    ];
    let e = graph_error(&mismatch, &one);
    assert!(
        e.contains("`sum`") && e.contains("[4]") && e.contains("[3]"),
        "{e}"
    );

    let lonely = [LayerSpec::add(&["input"]).named("sum")];
    let e = graph_error(&lonely, &one);
    assert!(e.contains("`sum`") && e.contains("at least 2"), "{e}");

    let two = [ModelInput::whole("wide"), ModelInput::whole("deep")];
    let e = graph_error(&[dense(2, Activation::Linear, "out")], &two);
    assert!(e.contains("`out` must name its `inputs`"), "{e}");

    let unread_input = [dense(2, Activation::Linear, "out").reads(&["deep"])];
    let e = graph_error(&unread_input, &two);
    assert!(e.contains("model input `wide` is not used"), "{e}");

    let clash = [dense(2, Activation::Linear, "input")];
    let e = graph_error(&clash, &one);
    assert!(e.contains("`input`"), "{e}");

    let bad_column = [ModelInput::columns("input", vec![9])];
    let e = graph_error(&[dense(2, Activation::Linear, "out")], &bad_column);
    assert!(e.contains("feature 9"), "{e}");
}

#[test]
fn auto_initialization_follows_the_graph() {
    // A linear Dense followed by a ReLU layer gets He; one that fans out cannot tell, Glorot.
    let layers = [
        DenseSpec::new(4)
            .kernel_initializer(deeptrain::Initializer::Auto)
            .named("a"),
        LayerSpec::activation(Activation::Relu).named("relu"),
        DenseSpec::new(4)
            .kernel_initializer(deeptrain::Initializer::Auto)
            .named("b"),
        LayerSpec::activation(Activation::Relu)
            .named("r2")
            .reads(&["b"]),
        LayerSpec::activation(Activation::Selu)
            .named("s2")
            .reads(&["b"]),
        LayerSpec::add(&["r2", "s2"]).named("sum"),
    ];
    let model = Sequential::from_specs(&[4], &layers, 1).unwrap();
    let specs = model.layer_specs();
    let init = |i: usize| {
        let dense = specs[i].config_as::<DenseSpec>().expect("a dense layer");
        dense.kernel_initializer.to_string()
    };
    assert!(init(0).contains("he"), "{}", init(0));
    assert!(init(2).contains("glorot"), "{}", init(2));
}

#[test]
fn a_graph_model_saves_and_loads_bit_for_bit() {
    let inputs = [
        ModelInput::columns("wide", vec![1, 2]),
        ModelInput::whole("deep"),
    ];
    let layers = [
        dense(6, Activation::Relu, "h1").reads(&["deep"]),
        dense(6, Activation::Linear, "h2"),
        LayerSpec::add(&["h1", "h2"]).named("res"),
        LayerSpec::concatenate(&["wide", "res"]).named("concat"),
        dense(3, Activation::Softmax, "main"),
        dense(3, Activation::Softmax, "aux").reads(&["res"]),
    ];
    let outputs = [
        ModelOutput {
            layer: "main".into(),
            loss_weight: 0.8,
        },
        ModelOutput {
            layer: "aux".into(),
            loss_weight: 0.2,
        },
    ];
    let mut model = compiled(
        Sequential::from_graph(&[4], &inputs, &layers, &outputs, 5).unwrap(),
        Loss::SparseCategoricalCrossentropy,
    );
    let x = pseudo_random(&[16, 4], 8, 1.0);
    let t = class_targets(16, 3);
    for _ in 0..3 {
        model.train_step(&x, &t, &mut []).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    model.save(dir.path()).unwrap();
    let (mut loaded, file) = Sequential::load(dir.path()).unwrap();
    assert_eq!(file.inputs, inputs);
    assert_eq!(file.outputs, outputs);
    assert_eq!(loaded.weights(), model.weights());
    assert_eq!(loaded.layer_inputs(), model.layer_inputs());
    let a = model.predict(&x, 8).unwrap();
    let b = loaded.predict(&x, 8).unwrap();
    assert_eq!(a.data(), b.data());
    // Training on from both gives the same weights (the optimizer state was saved too).
    model.train_step(&x, &t, &mut []).unwrap();
    loaded.train_step(&x, &t, &mut []).unwrap();
    assert_eq!(loaded.weights(), model.weights());
}

#[test]
fn summary_shows_what_each_layer_reads() {
    let model = Sequential::graph(&[4])
        .layer(dense(4, Activation::Relu, "d1").reads(&["input"]))
        .layer(LayerSpec::add(&["input", "d1"]).named("skip"))
        .build(1)
        .unwrap();
    let text = model.summary();
    assert!(text.contains("Model: \"functional\""), "{text}");
    assert!(text.contains("Connected to"), "{text}");
    assert!(text.contains("input, d1"), "{text}");
}

/// The chapter's SELU precondition, "the network's architecture must be sequential", is
/// checked: a skip connection in a SELU network gets a warning naming the merge layer, the
/// same network without it gets none.
#[test]
fn selu_with_a_skip_connection_is_warned_about() {
    let text = |skip: &str| {
        format!(
            r#"
[data]
dataset = "digits"
scale = "standard"
[[layers]]
name = "flat"
type = "flatten"
[[layers]]
name = "h1"
type = "dense"
units = 64
activation = "selu"
kernel_initializer = "lecun_normal"
[[layers]]
name = "h2"
type = "dense"
units = 64
activation = "selu"
kernel_initializer = "lecun_normal"
{skip}
[[layers]]
type = "dense"
units = 10
activation = "softmax"
"#
        )
    };
    let warnings = |text: &str| {
        let spec = deeptrain::spec::Spec::parse(text, std::path::Path::new("selu.toml")).unwrap();
        let model = spec.build_model(&[8, 8], None).unwrap();
        deeptrain::checks::check(&model, spec.data.scale, &spec.optimizer)
    };
    let skip = "[[layers]]\nname = \"skip\"\ntype = \"add\"\ninputs = [\"h1\", \"h2\"]";
    let found = warnings(&text(skip));
    let ids: Vec<&str> = found.iter().map(|w| w.id).collect();
    assert_eq!(ids, ["selu_skip_connections"], "{found:?}");
    assert!(found[0].message.contains("skip"), "{}", found[0]);
    assert!(warnings(&text("")).is_empty());
}
