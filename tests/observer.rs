//! The observer hook sees every layer's activations and gradients, in order.

use std::sync::{Arc, Mutex};

use deeptrain::{
    Activation, DenseSpec, Layer, LayerSpec, Loss, Mode, Observer, Sequential, Sgd, Targets, Tensor,
};

#[derive(Default)]
struct Seen {
    forward: Vec<(usize, String, Vec<usize>)>,
    backward: Vec<(usize, Vec<usize>, f32)>,
}

struct Recorder(Arc<Mutex<Seen>>);

impl Observer for Recorder {
    fn after_forward(&mut self, index: usize, layer: &dyn Layer, output: &Tensor, _mode: Mode) {
        self.0.lock().unwrap().forward.push((
            index,
            layer.name().to_string(),
            output.shape().to_vec(),
        ));
    }

    fn after_backward(&mut self, index: usize, layer: &dyn Layer, grad_output: &Tensor) {
        let kernel_grad_norm = layer.params().first().map_or(0.0, |p| {
            p.grad()
                .expect("a stored gradient")
                .data()
                .iter()
                .map(|g| g * g)
                .sum::<f32>()
                .sqrt()
        });
        self.0.lock().unwrap().backward.push((
            index,
            grad_output.shape().to_vec(),
            kernel_grad_norm,
        ));
    }
}

#[test]
fn observer_reads_activations_and_gradients_of_every_layer() {
    let mut model = Sequential::new(&[2, 3])
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(4).activation(Activation::Relu))
        .add(DenseSpec::new(3).activation(Activation::Softmax))
        .build(5)
        .unwrap();
    model
        .compile(
            Box::new(Sgd::new(0.1).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[],
        )
        .unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    model.set_observer(Some(Box::new(Recorder(seen.clone()))));
    let x = Tensor::from_vec((0..12).map(|v| v as f32 / 12.0).collect(), &[2, 2, 3]);
    model
        .train_step(&x, &Targets::Classes(vec![0, 2]), &mut [])
        .unwrap();
    let seen = seen.lock().unwrap();
    let names: Vec<&str> = seen.forward.iter().map(|f| f.1.as_str()).collect();
    assert_eq!(names, ["flatten", "dense", "dense_1"]);
    assert_eq!(seen.forward[2].2, vec![2, 3]);
    // Backward runs from the top; the parameter-free flatten layer at the bottom is skipped.
    let order: Vec<usize> = seen.backward.iter().map(|b| b.0).collect();
    assert_eq!(order, [2, 1]);
    assert_eq!(seen.backward[1].1, vec![2, 4]);
    assert!(
        seen.backward.iter().all(|b| b.2 > 0.0),
        "kernel gradients are readable and nonzero"
    );
}
