//! A steady-state training step does not allocate, for a chain and for a graph (skip
//! connection, fan-out, concatenation): buffers are sized on the first steps and reused after.
//! Counted with a global allocator, not timed.
//!
//! The matrix kernel on x86-64 with AVX2 (private-gemm-x86) allocates nothing per product
//! either (asserted here). The one exception is the `gemm` 0.18 fallback for other CPUs: it
//! allocates its packing buffer on each product (gemm-common's `gemm_basic_generic`,
//! `MemBuffer::new`). The test measures what the step's matrix products allocate on their own
//! and asserts that the whole step allocates exactly that: deeptrain's own code adds nothing, on one thread or on the thread pool (whose
//! jobs are borrowed closures and whose parts go to the same thread every time).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use deeptrain::layers::{Conv2dSpec, Padding};
use deeptrain::{Activation, DenseSpec, LayerSpec, Loss, Metric, Sequential, Sgd, Targets, Tensor};

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

/// The checks run one after another in one test function: the allocation count is global to
/// the process, and the harness allocates on its own thread when a test function ends (to
/// print its result), which a check running on another test thread at that moment would count.
#[test]
fn steady_state_train_steps_do_not_allocate() {
    dense_chain_and_graph();
    profiled_dense_chain();
    pooling_layers();
    conv_net();
    embedding_net();
    sequence_net();
    recurrent_net();
    gru_reset_before_net();
    fused_lstm_net();
}

/// (m, k, n, left transposed, right transposed, accumulate) of C(m×n) = A(m×k)·B(k×n).
type Product = (usize, usize, usize, bool, bool, bool);

/// A dense chain and a dense graph.
fn dense_chain_and_graph() {
    for threads in [1, 2] {
        deeptrain::linalg::set_num_threads(threads);
        assert_steady_state_step_allocates_only_in_gemm(chain(), &[28, 28], &CHAIN_PRODUCTS);
        assert_steady_state_step_allocates_only_in_gemm(graph(), &[64], &GRAPH_PRODUCTS);
    }
}

/// The dense chain with the step profile's timers on (`deeptrain bench --profile`).
fn profiled_dense_chain() {
    deeptrain::linalg::set_num_threads(2);
    deeptrain::profile::set_enabled(true);
    assert_steady_state_step_allocates_only_in_gemm(chain(), &[28, 28], &CHAIN_PRODUCTS);
    deeptrain::profile::set_enabled(false);
}

/// 784 → 300 → 100 → 10, the textbook's Fashion-MNIST MLP.
fn chain() -> Sequential {
    Sequential::new(&[28, 28])
        .add(LayerSpec::flatten())
        .add(DenseSpec::new(300).activation(Activation::Relu))
        .add(DenseSpec::new(100).activation(Activation::Relu))
        .add(DenseSpec::new(10).activation(Activation::Softmax))
        .build(1)
        .unwrap()
}

const CHAIN_PRODUCTS: [Product; 8] = [
    (32, 784, 300, false, false, false), // forward, layer by layer
    (32, 300, 100, false, false, false),
    (32, 100, 10, false, false, false),
    (100, 32, 10, true, false, true), // backward of the last layer: dW += xᵀ·dz
    (32, 10, 100, false, true, false), // and dx = dz·Wᵀ
    (300, 32, 100, true, false, true),
    (32, 100, 300, false, true, false),
    (784, 32, 300, true, false, true), // the first Dense layer needs no dx
];

/// A skip connection, a fan-out and a concatenation: the input is read by `d1` and `skip`,
/// `d1` by `d2` and `cat`; out = softmax(W₃ · [x + W₂·relu(W₁x), relu(W₁x)]).
fn graph() -> Sequential {
    Sequential::graph(&[64])
        .layer(DenseSpec::new(64).activation(Activation::Relu).named("d1"))
        .layer(DenseSpec::new(64).named("d2"))
        .layer(LayerSpec::add(&["input", "d2"]).named("skip"))
        .layer(LayerSpec::concatenate(&["skip", "d1"]).named("cat"))
        .layer(
            DenseSpec::new(10)
                .activation(Activation::Softmax)
                .named("out"),
        )
        .build(1)
        .unwrap()
}

const GRAPH_PRODUCTS: [Product; 8] = [
    (32, 64, 64, false, false, false), // forward: d1, d2, out
    (32, 64, 64, false, false, false),
    (32, 128, 10, false, false, false),
    (128, 32, 10, true, false, true), // backward of out: dW, dx
    (32, 10, 128, false, true, false),
    (64, 32, 64, true, false, true), // d2: dW, dx
    (32, 64, 64, false, true, false),
    (64, 32, 64, true, false, true), // d1 reads the model input: no dx
];

fn assert_steady_state_step_allocates_only_in_gemm(
    model: Sequential,
    sample_shape: &[usize],
    products: &[Product],
) {
    let value = |i: usize| (i % 255) as f32 / 255.0;
    assert_steady_state_step_allocates_only_in_gemm_on(model, sample_shape, products, value)
}

/// [`assert_steady_state_step_allocates_only_in_gemm`] on inputs whose value `i` is `value(i)`.
fn assert_steady_state_step_allocates_only_in_gemm_on(
    model: Sequential,
    sample_shape: &[usize],
    products: &[Product],
    value: fn(usize) -> f32,
) {
    let in_gemm = || gemm_allocations_of(products);
    assert_steady_state_step_allocates_only(model, sample_shape, &in_gemm, value)
}

/// The check, given what gemm allocates in one step (`in_gemm`, counted after the steps: the
/// first products start the pool's threads).
fn assert_steady_state_step_allocates_only(
    mut model: Sequential,
    sample_shape: &[usize],
    in_gemm: &dyn Fn() -> usize,
    value: fn(usize) -> f32,
) {
    model
        .compile(
            Box::new(Sgd::with_momentum(0.01, 0.9, false, 0.0).unwrap()),
            Loss::SparseCategoricalCrossentropy,
            &[Metric::Accuracy],
        )
        .unwrap();
    let features: usize = sample_shape.iter().product();
    let shape: Vec<usize> = std::iter::once(32)
        .chain(sample_shape.iter().copied())
        .collect();
    let x = Tensor::from_vec((0..32 * features).map(value).collect(), &shape);
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
    let step_allocations = ALLOCATIONS.load(Ordering::Relaxed);
    let in_gemm = 5 * in_gemm();
    // gemm also allocates a cache-sized buffer once per thread, on that thread's first product;
    // a pool worker may (rarely) run its first product only now, if the caller took over its
    // parts during the warm-up. Anything per step would add at least 5.
    let threads = deeptrain::linalg::num_threads();
    let kind = if model.is_sequential() {
        "chain"
    } else {
        "graph"
    };
    assert!(
        (in_gemm..in_gemm + threads).contains(&step_allocations),
        "{kind}: {step_allocations} allocations in 5 steady-state steps on {threads} threads, \
         {in_gemm} of them in gemm"
    );
}

/// What these matrix products allocate by themselves (inside the gemm crate).
fn gemm_allocations_of(products: &[Product]) -> usize {
    use deeptrain::linalg::{matmul, Mat};
    let mut count = 0;
    for &(m, k, n, ta, tb, accumulate) in products {
        let a = vec![0.5f32; m * k];
        let b = vec![0.5f32; k * n];
        let mut c = vec![0.0f32; m * n];
        let left = if ta {
            Mat::new(&a, k, m).t()
        } else {
            Mat::new(&a, m, k)
        };
        let right = if tb {
            Mat::new(&b, n, k).t()
        } else {
            Mat::new(&b, k, n)
        };
        ALLOCATIONS.store(0, Ordering::Relaxed);
        COUNTING.store(true, Ordering::Relaxed);
        matmul(left, right, &mut c, accumulate);
        COUNTING.store(false, Ordering::Relaxed);
        count += ALLOCATIONS.load(Ordering::Relaxed);
    }
    if deeptrain::linalg::kernel() != deeptrain::linalg::Kernel::Gemm {
        assert_eq!(count, 0, "private-gemm-x86 allocated in a product");
    }
    count
}

/// Spatial dropout, max and average pooling ("same", stride 1, non-square pool), reshape and
/// both global poolings on (8, 8, 3) images, through a graph: their buffers are kept in the
/// layers and reused, so the step allocates only what the output layer's products do.
/// Every pooling layer, spatial dropout and reshape, in a graph.
fn pooling_layers() {
    use deeptrain::layers::{Padding, PoolingSpec};
    for threads in [1, 2] {
        deeptrain::linalg::set_num_threads(threads);
        let model = Sequential::graph(&[8, 8, 3])
            .layer(
                LayerSpec::spatial_dropout2d(0.2)
                    .named("drop")
                    .reads(&["input"]),
            )
            .layer(LayerSpec::max_pooling2d(2).named("max"))
            .layer(
                LayerSpec::average_pooling2d(
                    PoolingSpec::new((2, 3)).strides(1).padding(Padding::Same),
                )
                .named("avg"),
            )
            .layer(LayerSpec::reshape(&[2, -1, 3]).named("reshape"))
            .layer(LayerSpec::global_average_pooling2d().named("gap"))
            .layer(
                LayerSpec::global_max_pooling2d()
                    .named("gmp")
                    .reads(&["max"]),
            )
            .layer(LayerSpec::concatenate(&["gap", "gmp"]).named("cat"))
            .layer(
                DenseSpec::new(10)
                    .activation(Activation::Softmax)
                    .named("out"),
            )
            .build(1)
            .unwrap();
        let products: [Product; 3] = [
            (32, 6, 10, false, false, false), // forward of out
            (6, 32, 10, true, false, true),   // its dW and dx
            (32, 10, 6, false, true, false),
        ];
        assert_steady_state_step_allocates_only_in_gemm(model, &[8, 8, 3], &products);
    }
}

/// A convolutional network.
fn conv_net() {
    for threads in [1, 2] {
        deeptrain::linalg::set_num_threads(threads);
        assert_steady_state_step_allocates_only_in_gemm(cnn(), &[12, 12, 2], &CNN_PRODUCTS);
    }
}

/// conv 4 3×3 same → conv 8 3×3 /2 → dense 10: im2col, col2im (into the first conv's output
/// gradient) and their buffers.
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

/// P = 32·12·12 = 4608 positions × K = 3·3·2 taps for the first conv, 32·5·5 = 800 × 36 for
/// the second.
const CNN_PRODUCTS: [Product; 8] = [
    (4608, 18, 4, false, false, false), // forward: cols·W per conv, then the Dense layer
    (800, 36, 8, false, false, false),
    (32, 200, 10, false, false, false),
    (200, 32, 10, true, false, true), // backward of the Dense layer: dW, dx
    (32, 10, 200, false, true, false),
    (800, 8, 36, false, true, false), // second conv: dcols = dz·Wᵀ, dW = colsᵀ·dz
    (36, 800, 8, true, false, true),
    (18, 4608, 4, true, false, true), // the first conv reads the model input: no dx
];

/// embedding (255 ids → 4) → flatten → dense 10 on 32 sequences of 6 ids: the lookup, its
/// output shape and the cached ids reuse the layer's buffers.
fn embedding_net() {
    use deeptrain::layers::EmbeddingSpec;
    for threads in [1, 2] {
        deeptrain::linalg::set_num_threads(threads);
        let model = Sequential::new(&[6])
            .add(EmbeddingSpec::new(255, 4))
            .add(LayerSpec::flatten())
            .add(DenseSpec::new(10).activation(Activation::Softmax))
            .build(1)
            .unwrap();
        let products: [Product; 3] = [
            (32, 24, 10, false, false, false), // forward of the dense layer
            (24, 32, 10, true, false, true),   // its dW and dx
            (32, 10, 24, false, true, false),
        ];
        let id = |i: usize| (i % 255) as f32;
        assert_steady_state_step_allocates_only_in_gemm_on(model, &[6], &products, id);
    }
}

/// conv1d (causal) → max pooling 1d → dense on every step → layer normalization → global
/// average pooling 1d → dense 10 on 32 sequences of 16 steps × 3 features: the 1-D layers
/// run as their 2-D twins and only reshape their output, and Dense on a sequence sizes its
/// output from its input's shape, without allocating.
fn sequence_net() {
    use deeptrain::layers::{Conv1dSpec, LayerNormSpec, Padding};
    for threads in [1, 2] {
        deeptrain::linalg::set_num_threads(threads);
        let model = Sequential::new(&[16, 3])
            .add(
                Conv1dSpec::new(4, 3)
                    .padding(Padding::Causal)
                    .activation(Activation::Relu),
            )
            .add(LayerSpec::max_pooling1d(2))
            .add(DenseSpec::new(5).activation(Activation::Tanh))
            .add(LayerNormSpec::default())
            .add(LayerSpec::global_average_pooling1d())
            .add(DenseSpec::new(10).activation(Activation::Softmax))
            .build(1)
            .unwrap();
        let products: [Product; 8] = [
            (512, 9, 4, false, false, false), // conv: cols·W over 32·16 positions
            (256, 4, 5, false, false, false), // dense on 32·8 steps
            (32, 5, 10, false, false, false), // output dense
            (5, 32, 10, true, false, true),   // its dW and dx
            (32, 10, 5, false, true, false),
            (256, 5, 4, false, true, false), // dense on steps: dx, dW
            (4, 256, 5, true, false, true),
            (9, 512, 4, true, false, true), // conv reads the model input: dW only
        ];
        assert_steady_state_step_allocates_only_in_gemm(model, &[16, 3], &products);
    }
}

/// LSTM 8 (whole sequence, input and recurrent dropout) → GRU 6 (last state) → dense 10 on 32
/// sequences of 5 steps × 3 features: the time loops, the dropout masks and the cached gates
/// reuse the layers' buffers; the products are one input projection per layer, one recurrent
/// product per step forward and one per step but the first backward, and the three weight and
/// input gradients over all steps.
fn recurrent_net() {
    use deeptrain::layers::RecurrentSpec;
    let (b, t) = (32, 5);
    let mut products: Vec<Product> = vec![
        (b * t, 3, 32, false, false, false), // LSTM: P = x·W over all steps
        (b * t, 8, 18, false, false, false), // GRU: P = h·W
        (b, 6, 10, false, false, false),     // dense
        (6, b, 10, true, false, true),       // dense dW and dx
        (b, 10, 6, false, true, false),
        (b * t, 18, 8, false, true, false), // GRU dx, dW, dR over all steps
        (8, b * t, 18, true, false, false),
        (6, b * t, 18, true, false, false),
        (3, b * t, 32, true, false, false), // LSTM dW, dR (it reads the model input: no dx)
        (8, b * t, 32, true, false, false),
    ];
    for _ in 0..t {
        products.push((b, 8, 32, false, false, false)); // h̃·R per step
        products.push((b, 6, 18, false, false, false));
    }
    for _ in 1..t {
        products.push((b, 32, 8, false, true, false)); // dr·Rᵀ per step (masked: not accumulated)
        products.push((b, 18, 6, false, true, true));
    }
    for threads in [1, 2] {
        deeptrain::linalg::set_num_threads(threads);
        let model = Sequential::new(&[t, 3])
            .add(
                RecurrentSpec::lstm(8)
                    .return_sequences(true)
                    .dropout(0.2)
                    .recurrent_dropout(0.2),
            )
            .add(RecurrentSpec::gru(6))
            .add(DenseSpec::new(10).activation(Activation::Softmax))
            .build(1)
            .unwrap();
        assert_steady_state_step_allocates_only_in_gemm(model, &[t, 3], &products);
    }
}

/// GRU 6 with `reset_after = false` (recurrent dropout) → dense 10 on 32 sequences of 5 steps
/// × 3 features: the two products of each step (h̃·R_zr, then (r ⊙ h̃)·R_h) and their
/// gradients write into the layer's kept buffers.
fn gru_reset_before_net() {
    use deeptrain::layers::RecurrentSpec;
    let (b, t) = (32, 5);
    let mut products: Vec<Product> = vec![
        (b * t, 3, 18, false, false, false), // P = x·W
        (b, 6, 10, false, false, false),     // dense
        (6, b, 10, true, false, true),       // dense dW and dx
        (b, 10, 6, false, true, false),
        (3, b * t, 18, true, false, false), // dW (the GRU reads the model input: no dx)
        (6, b * t, 12, true, false, false), // dR_zr = h̃ᵀ·dp_zr, dR_h = sᵀ·dp_h
        (6, b * t, 6, true, false, false),
    ];
    for _ in 0..t {
        products.push((b, 6, 12, false, false, false)); // h̃·R_zr
        products.push((b, 6, 6, false, false, false)); // s·R_h
        products.push((b, 6, 6, false, true, false)); // ds = da·R_hᵀ
        products.push((b, 12, 6, false, true, true)); // dh_rec += dp_zr·R_zrᵀ
    }
    for threads in [1, 2] {
        deeptrain::linalg::set_num_threads(threads);
        let model = Sequential::new(&[t, 3])
            .add(
                RecurrentSpec::gru(6)
                    .reset_after(false)
                    .recurrent_dropout(0.2),
            )
            .add(DenseSpec::new(10).activation(Activation::Softmax))
            .build(1)
            .unwrap();
        assert_steady_state_step_allocates_only_in_gemm(model, &[t, 3], &products);
    }
}

/// LSTM 64 → dense 10 on 32 sequences of 4 steps × 3 features on 2 threads: the step's
/// product is large enough that each thread runs its 16 rows through h̃·R and the cell (and
/// backward dr·Rᵀ) in one job, each product whole on its thread.
fn fused_lstm_net() {
    use deeptrain::layers::RecurrentSpec;
    let (b, t, u) = (32, 4, 64);
    let products: [Product; 6] = [
        (b * t, 3, 4 * u, false, false, false), // P = x·W
        (b, u, 10, false, false, false),        // dense
        (u, b, 10, true, false, true),          // dense dW and dx
        (b, 10, u, false, true, false),
        (3, b * t, 4 * u, true, false, false), // LSTM dW (no dx) and dR
        (u, b * t, 4 * u, true, false, false),
    ];
    let mut per_thread: Vec<Product> = Vec::new();
    for _ in 0..2 * t {
        per_thread.push((b / 2, u, 4 * u, false, false, false)); // h̃·R, 16 rows a thread
    }
    for _ in 0..2 * (t - 1) {
        per_thread.push((b / 2, 4 * u, u, false, true, true)); // dh += dr·Rᵀ
    }
    deeptrain::linalg::set_num_threads(2);
    let in_gemm = || {
        deeptrain::linalg::set_num_threads(1);
        let on_one_thread = gemm_allocations_of(&per_thread);
        deeptrain::linalg::set_num_threads(2);
        gemm_allocations_of(&products) + on_one_thread
    };
    let model = Sequential::new(&[t, 3])
        .add(RecurrentSpec::lstm(u))
        .add(DenseSpec::new(10).activation(Activation::Softmax))
        .build(1)
        .unwrap();
    let value = |i: usize| (i % 255) as f32 / 255.0;
    assert_steady_state_step_allocates_only(model, &[t, 3], &in_gemm, value);
}
