//! A steady-state `mixed_bfloat16` training step allocates nothing: the bf16 copies of the
//! products' operands are sized on the first steps and reused (the f32 path is checked in
//! `no_alloc.rs`). Counted with a global allocator, not timed; in its own test binary because
//! the count is global to the process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use deeptrain::layers::{Conv2dSpec, Padding};
use deeptrain::{
    Activation, DenseSpec, DtypePolicy, LayerSpec, Loss, Metric, Sequential, Sgd, Targets, Tensor,
};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_bf16_train_steps_do_not_allocate() {
    if !deeptrain::linalg::bf16::supported() {
        eprintln!("skipped: this CPU has no AVX-512 BF16");
        return;
    }
    for threads in [1, 2] {
        deeptrain::linalg::set_num_threads(threads);
        assert_steady_state_step_does_not_allocate(mlp(), &[28, 28]);
        assert_steady_state_step_does_not_allocate(cnn(), &[12, 12, 2]);
    }
}

fn mlp() -> Sequential {
    Sequential::new(&[28, 28])
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(300).activation(Activation::Relu))
        .add(DenseSpec::new(100).activation(Activation::Relu))
        .add(DenseSpec::new(10).activation(Activation::Softmax))
        .build(1)
        .unwrap()
}

fn cnn() -> Sequential {
    Sequential::new(&[12, 12, 2])
        .add(
            Conv2dSpec::new(4, 3)
                .padding(Padding::Same)
                .activation(Activation::Relu),
        )
        .add(
            Conv2dSpec::new(8, 3)
                .strides(2)
                .activation(Activation::Relu),
        )
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(10).activation(Activation::Softmax))
        .build(1)
        .unwrap()
}

fn assert_steady_state_step_does_not_allocate(mut model: Sequential, sample_shape: &[usize]) {
    model
        .compile(
            Box::new(Sgd::with_momentum(0.01, 0.9, false, 0.0).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    model.set_dtype_policy(DtypePolicy::MixedBfloat16).unwrap();
    let features: usize = sample_shape.iter().product();
    let shape: Vec<usize> = std::iter::once(32)
        .chain(sample_shape.iter().copied())
        .collect();
    let x = Tensor::from_vec(
        (0..32 * features)
            .map(|i| (i % 255) as f32 / 255.0)
            .collect(),
        &shape,
    );
    let targets = Targets::Classes((0..32).map(|i| i % 10).collect());
    let mut sums = [0.0];
    for _ in 0..20 {
        model.train_step(&x, &targets, &mut sums).unwrap();
    }
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    for _ in 0..5 {
        model.train_step(&x, &targets, &mut sums).unwrap();
    }
    COUNTING.store(false, Ordering::Relaxed);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(
        allocations, 0,
        "{allocations} allocations in 5 steady-state steps"
    );
}
