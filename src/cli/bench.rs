//! `deeptrain bench`: the standard benchmark models on Fashion-MNIST-shaped data (784 inputs or
//! 28×28 images,
//! 10 classes, deterministic random values): training and inference samples per second, GFLOP/s
//! from each step's FLOP count, peak resident memory, and the machine's sgemm throughput.
//! `bench/compare.py` runs it beside `bench/torch_reference.py` (the same models in PyTorch) and
//! prints the side-by-side table.
//!
//! Each model runs in its own process (so that its peak memory is its own), printing one JSON
//! line. The first line (`fma`) is the FMA peak of one core and of the cores in use
//! ([`fma_peak`]); model (c)'s line then also carries its training GFLOP/s as a percentage of
//! that peak (`fma_peak_percent`). `--diagnostics` adds the cost of `train`'s default diagnostics to each line (seconds
//! per step without and with them, and the ratio). `--profile` prints instead where each
//! model's training step spends its time ([`bench_profile`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::bench_profile::{self, TimedOptimizer};
use super::fma_peak;
use deeptrain::activations::Activation;
use deeptrain::diagnostics::Diagnostics;
use deeptrain::distributed::Communicator;
use deeptrain::layers::{BatchNormSpec, Conv2dSpec, RecurrentSpec};
use deeptrain::linalg::{matmul, Mat};
use deeptrain::optimizers::{NadamSpec, OptimizerSpec};
use deeptrain::{
    DenseSpec, DtypePolicy, Error, Initializer, LayerSpec, Loss, Result, Sequential, Targets,
    Tensor,
};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Models to run: a (784-300-100-10, batch 32), b (same, batch 256), c (784-1024x3-10, batch
    /// 256), d (100 x 100 SELU, batch 32), e (20 x (100 + BN + ELU), Nadam, batch 32), f (CNN
    /// conv 32 3×3 → pool → conv 64 3×3 → pool → dense 128 → 10, batch 32), g (the CNN, batch
    /// 256), h (sequential Fashion-MNIST: 28 steps of 28 features → LSTM 128 → 10, batch 32),
    /// i (the LSTM, batch 128), gemm (sgemm 1024³), fma (the FMA peak of the cores).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "fma,gemm,a,b,c,d,e,f,g,h,i"
    )]
    models: Vec<String>,
    /// Timed training steps per model (after 20 warm-up steps).
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Also time each model's steps with `train`'s default diagnostics (the per-layer
    /// statistics ten times per epoch of 60,000 rows), alternating chunks with plain steps, and
    /// report the ratio (`diagnostics_overhead`).
    #[arg(long)]
    diagnostics: bool,
    /// Instead of the throughput, where each model's training step spends its time: the share
    /// of products, element-wise work, the optimizer, `train`'s default diagnostics and
    /// waiting for the pool's workers (see `deeptrain::profile`).
    #[arg(long, conflicts_with = "diagnostics")]
    profile: bool,
    /// Also append the JSON lines to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The dtype policy of the timed models: float32, or mixed_bfloat16 (bf16 products with
    /// f32 accumulation; needs AVX-512 BF16).
    #[arg(long, default_value = "float32")]
    dtype_policy: String,
    /// Run one model in this process (used internally).
    #[arg(long, hide = true)]
    child: bool,
}

struct BenchModel {
    /// Per-sample input shape: (784) for the MLPs, (28, 28) images for the CNNs.
    input: Vec<usize>,
    layers: Vec<LayerSpec>,
    batch: usize,
    optimizer: OptimizerSpec,
}

fn model(name: &str) -> Option<BenchModel> {
    let relu = |units| -> LayerSpec {
        DenseSpec::new(units)
            .activation(Activation::Relu)
            .kernel_initializer(Initializer::HE_NORMAL)
            .into()
    };
    let softmax: LayerSpec = DenseSpec::new(10).activation(Activation::Softmax).into();
    let mlp = vec![relu(300), relu(100), softmax.clone()];
    Some(match name {
        "a" => BenchModel {
            input: vec![784],
            layers: mlp,
            batch: 32,
            optimizer: OptimizerSpec::default(),
        },
        "b" => BenchModel {
            input: vec![784],
            layers: mlp,
            batch: 256,
            optimizer: OptimizerSpec::default(),
        },
        "c" => BenchModel {
            input: vec![784],
            layers: vec![relu(1024), relu(1024), relu(1024), softmax],
            batch: 256,
            optimizer: OptimizerSpec::default(),
        },
        "d" => {
            let mut layers: Vec<LayerSpec> = (0..100)
                .map(|_| {
                    DenseSpec::new(100)
                        .activation(Activation::Selu)
                        .kernel_initializer(Initializer::LECUN_NORMAL)
                        .into()
                })
                .collect();
            layers.push(softmax);
            BenchModel {
                input: vec![784],
                layers,
                batch: 32,
                optimizer: OptimizerSpec::default(),
            }
        }
        "e" => {
            let mut layers = Vec::new();
            for _ in 0..20 {
                layers.push(
                    DenseSpec::new(100)
                        .activation(Activation::Elu { alpha: 1.0 })
                        .kernel_initializer(Initializer::HE_NORMAL)
                        .into(),
                );
                layers.push(BatchNormSpec::default().into());
            }
            layers.push(softmax);
            BenchModel {
                input: vec![784],
                layers,
                batch: 32,
                optimizer: OptimizerSpec::Nadam(NadamSpec::default()),
            }
        }
        "f" | "g" => {
            let conv = |filters| -> LayerSpec {
                Conv2dSpec::new(filters, 3)
                    .activation(Activation::Relu)
                    .kernel_initializer(Initializer::HE_NORMAL)
                    .into()
            };
            BenchModel {
                input: vec![28, 28],
                layers: vec![
                    conv(32),
                    LayerSpec::max_pooling2d(2),
                    conv(64),
                    LayerSpec::max_pooling2d(2),
                    LayerSpec::flatten(),
                    relu(128),
                    softmax,
                ],
                batch: if name == "f" { 32 } else { 256 },
                optimizer: OptimizerSpec::default(),
            }
        }
        "h" | "i" => BenchModel {
            input: vec![28, 28],
            layers: vec![RecurrentSpec::lstm(LSTM_UNITS).into(), softmax],
            batch: if name == "h" { 32 } else { 128 },
            optimizer: OptimizerSpec::default(),
        },
        _ => return None,
    })
}

/// Units of the LSTM bench models.
const LSTM_UNITS: usize = 128;

/// Multiply-adds per sample of the LSTM models' layers, which [`step_flops`]' kernel-size rule
/// does not see: T·(F + U)·4U for the LSTM (input and recurrent products at each step), U·10
/// for the dense layer (as bench/torch_reference.py counts them).
fn sequence_macs(name: &str) -> Option<[usize; 2]> {
    let (t, f, u) = (28, 28, LSTM_UNITS);
    matches!(name, "h" | "i").then_some([t * (f + u) * 4 * u, u * 10])
}

/// FLOPs of one training step and of its forward pass, from the built model: each layer with a
/// kernel does `kernel size × output positions` multiply-adds per sample forward (a Dense layer
/// I·U at one position, a convolution kh·kw·C_in·C_out at each of its OH·OW), 2 FLOPs each;
/// backward twice that (weight and input gradients), but once for the first such layer (no
/// input gradient). Element-wise work (activations, pooling, batch norm) is not counted.
fn step_flops(net: &Sequential, batch: usize, name: &str) -> (f64, f64) {
    let (mut forward, mut backward, mut first) = (0.0, 0.0, true);
    if let Some(macs) = sequence_macs(name) {
        for m in macs {
            let f = 2.0 * (batch * m) as f64;
            forward += f;
            backward += if first { f } else { 2.0 * f };
            first = false;
        }
        return (forward + backward, forward);
    }
    for (layer, shape) in net.layers().iter().zip(net.output_shapes()) {
        let Some(kernel) = layer.kernel_param() else {
            continue;
        };
        let channels = shape.last().copied().unwrap_or(1).max(1);
        let positions = shape.iter().product::<usize>() / channels;
        let f = 2.0 * (batch * kernel.value.len() * positions) as f64;
        forward += f;
        backward += if first { f } else { 2.0 * f };
        first = false;
    }
    (forward + backward, forward)
}

/// Peak resident memory of this process, in MiB (Linux: VmHWM).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn pseudo_random(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

fn gemm_probe() -> serde_json::Value {
    let (m, k, n) = (1024, 1024, 1024);
    let a = pseudo_random(m * k, 1);
    let b = pseudo_random(k * n, 2);
    let mut c = vec![0.0f32; m * n];
    matmul(Mat::new(&a, m, k), Mat::new(&b, k, n), &mut c, false);
    let reps = 10;
    let started = Instant::now();
    for _ in 0..reps {
        matmul(Mat::new(&a, m, k), Mat::new(&b, k, n), &mut c, false);
    }
    let seconds = started.elapsed().as_secs_f64();
    json!({
        "model": "gemm",
        "framework": "deeptrain",
        "threads": deeptrain::linalg::num_threads(),
        "kernel": format!("{:?}", deeptrain::linalg::kernel()),
        "gflops": 2.0 * (m * k * n * reps) as f64 / seconds / 1e9,
    })
}

fn fma_probe() -> serde_json::Value {
    let threads = deeptrain::linalg::num_threads();
    let (isa, one, all) = fma_peak::measure(threads);
    json!({
        "model": "fma",
        "framework": "deeptrain",
        "threads": threads,
        "isa": isa,
        "gflops_per_core": one,
        "gflops": all,
    })
}

/// A bench model, compiled, with 16 batches of inputs and targets.
pub(super) struct Setup {
    pub net: Sequential,
    pub x: Vec<Tensor>,
    pub y: Vec<Targets>,
    pub batch: usize,
    batch_shape: Box<dyn Fn(usize) -> Vec<usize>>,
    features: usize,
}

/// Builds and compiles bench model `name`; `timed`: its optimizer's updates are timed
/// (`--profile`).
fn setup(name: &str, timed: bool) -> Result<Setup> {
    let spec = model(name).ok_or_else(|| Error::Config(format!("unknown bench model `{name}`")))?;
    let mut net = Sequential::from_specs(&spec.input, &spec.layers, 42)?;
    let features: usize = spec.input.iter().product();
    let input = spec.input.clone();
    let batch_shape = move |rows: usize| -> Vec<usize> {
        std::iter::once(rows).chain(input.iter().copied()).collect()
    };
    let mut optimizer = spec.optimizer.with_learning_rate(0.01).build()?;
    if timed {
        optimizer = Box::new(TimedOptimizer(optimizer));
    }
    net.compile(optimizer, Loss::SparseCategoricalCrossentropy, &[])?;
    let batch = spec.batch;
    let batches = 16;
    let x: Vec<Tensor> = (0..batches)
        .map(|i| {
            Tensor::from_vec(
                pseudo_random(batch * features, i as u64 + 10),
                &batch_shape(batch),
            )
        })
        .collect();
    let y: Vec<Targets> = (0..batches)
        .map(|i| {
            Targets::Classes(
                pseudo_random(batch, i as u64 + 100)
                    .iter()
                    .map(|v| ((v + 1.0) * 5.0).min(9.0) as u32)
                    .collect(),
            )
        })
        .collect();
    Ok(Setup {
        net,
        x,
        y,
        batch,
        batch_shape: Box::new(batch_shape),
        features,
    })
}

/// Training throughput of bench model `name` data-parallel over the ranks of `comm`: each rank
/// steps on its share of every batch of the model's size, gradients summed every step.
fn run_shared(name: &str, steps: usize, comm: &dyn Communicator) -> Result<serde_json::Value> {
    let Setup {
        mut net,
        x,
        y,
        batch,
        ..
    } = setup(name, false)?;
    let part = deeptrain::distributed::share(batch, comm.rank(), comm.size());
    let rows: Vec<usize> = part.collect();
    let mut local_x = Vec::new();
    let mut local_y = Vec::new();
    for (x, y) in x.iter().zip(&y) {
        let mut lx = Tensor::default();
        lx.gather_rows(x, &rows);
        let mut ly = Targets::default();
        y.gather(&rows, &mut ly);
        local_x.push(lx);
        local_y.push(ly);
    }
    let mut buffer = vec![0.0; net.shared_buffer_len()];
    let mut step = |net: &mut Sequential, i: usize| -> Result<()> {
        let b = i % local_x.len();
        net.train_step_shared(
            comm,
            &local_x[b],
            &local_y[b],
            None,
            &mut [],
            batch,
            false,
            &mut buffer,
        )?;
        Ok(())
    };
    for i in 0..20 {
        step(&mut net, i)?;
    }
    let started = Instant::now();
    for i in 0..steps {
        step(&mut net, i)?;
    }
    let mut seconds = [started.elapsed().as_secs_f64()];
    // The slowest rank's time is the step's.
    let mut all = vec![0.0; comm.size()];
    all[comm.rank()] = seconds[0];
    comm.sum_f64(&mut all);
    seconds[0] = all.iter().copied().fold(0.0, f64::max);
    // The all-reduce alone, on the same buffer: what overlapping it with backward could save
    // at most.
    let reps = 50;
    let started = Instant::now();
    for _ in 0..reps {
        comm.sum_f32(&mut buffer);
    }
    let allreduce = started.elapsed().as_secs_f64() / reps as f64;
    let (flops, _) = step_flops(&net, batch, name);
    Ok(json!({
        "model": name,
        "framework": "deeptrain",
        "ranks": comm.size(),
        "allreduce_seconds_per_step": allreduce,
        "step_seconds": seconds[0] / steps as f64,
        "threads": deeptrain::linalg::num_threads(),
        "batch": batch,
        "allreduced_bytes_per_step": 4 * net.shared_buffer_len(),
        "train_samples_per_s": (steps * batch) as f64 / seconds[0],
        "train_gflops": flops * steps as f64 / seconds[0] / 1e9,
        "peak_rss_mib": peak_rss_mib(),
    }))
}

/// Seconds per step without and with `train`'s default diagnostics: a [`Diagnostics`] observer
/// sampling every `every` steps, installed and removed in alternating chunks of `every` steps
/// (so that both see the same machine load), at least `steps` steps each.
fn diagnostics_cost(
    net: &mut Sequential,
    x: &[Tensor],
    y: &[Targets],
    every: u64,
    steps: usize,
) -> Result<(f64, f64)> {
    let chunk = every as usize;
    let rounds = steps.div_ceil(chunk).max(2);
    let diagnostics = Diagnostics::new(every);
    let (mut plain, mut observed) = (0.0, 0.0);
    let mut i = 0;
    for _ in 0..rounds {
        for with in [false, true] {
            net.set_observer(with.then(|| Box::new(diagnostics.clone()) as _));
            let started = Instant::now();
            for _ in 0..chunk {
                net.train_step(&x[i % x.len()], &y[i % y.len()], &mut [])?;
                i += 1;
            }
            let seconds = started.elapsed().as_secs_f64();
            if with {
                observed += seconds;
            } else {
                plain += seconds;
            }
        }
    }
    net.set_observer(None);
    let n = (rounds * chunk) as f64;
    Ok((plain / n, observed / n))
}

fn run_one(
    name: &str,
    steps: usize,
    with_diagnostics: bool,
    policy: DtypePolicy,
    profile: bool,
) -> Result<serde_json::Value> {
    match name {
        "gemm" => return Ok(gemm_probe()),
        "fma" => return Ok(fma_probe()),
        _ => {}
    }
    if profile {
        let mut setup = setup(name, true)?;
        setup.net.set_dtype_policy(policy)?;
        let (flops, _) = step_flops(&setup.net, setup.batch, name);
        return bench_profile::run(name, setup, steps, flops);
    }
    let Setup {
        mut net,
        x,
        y,
        batch,
        batch_shape,
        features,
    } = setup(name, false)?;
    net.set_dtype_policy(policy)?;
    let batches = x.len();
    for i in 0..20 {
        net.train_step(&x[i % batches], &y[i % batches], &mut [])?;
    }
    let started = Instant::now();
    for i in 0..steps {
        net.train_step(&x[i % batches], &y[i % batches], &mut [])?;
    }
    let train_seconds = started.elapsed().as_secs_f64();
    let (flops, forward_flops) = step_flops(&net, batch, name);
    let infer_x = Tensor::from_vec(pseudo_random(4096 * features, 7), &batch_shape(4096));
    net.predict(&infer_x, 256)?;
    let started = Instant::now();
    let reps = 3;
    for _ in 0..reps {
        net.predict(&infer_x, 256)?;
    }
    let infer_seconds = started.elapsed().as_secs_f64();
    let diagnostics = if with_diagnostics {
        // `deeptrain train`'s default interval on Fashion-MNIST's 60,000 training rows.
        let every = (60_000usize.div_ceil(batch) / 10).max(1) as u64;
        let (plain, observed) = diagnostics_cost(&mut net, &x, &y, every, steps)?;
        json!({
            "diagnostics_every": every,
            "step_seconds": plain,
            "diagnostics_step_seconds": observed,
            "diagnostics_overhead": observed / plain - 1.0,
        })
    } else {
        json!({})
    };
    let mut line = json!({
        "model": name,
        "framework": "deeptrain",
        "threads": deeptrain::linalg::num_threads(),
        "dtype_policy": policy.name(),
        "batch": batch,
        "train_samples_per_s": (steps * batch) as f64 / train_seconds,
        "train_gflops": flops * steps as f64 / train_seconds / 1e9,
        "infer_samples_per_s": (4096 * reps) as f64 / infer_seconds,
        "infer_gflops": forward_flops / batch as f64 * (4096 * reps) as f64 / infer_seconds / 1e9,
        "peak_rss_mib": peak_rss_mib(),
    });
    if let (Some(line), Some(extra)) = (line.as_object_mut(), diagnostics.as_object()) {
        line.extend(extra.clone());
    }
    Ok(line)
}

pub fn run(args: BenchArgs, ranks: Option<Arc<dyn Communicator>>) -> Result<()> {
    if let Some(comm) = ranks.filter(|c| c.size() > 1) {
        // Data-parallel: every rank runs the models in this process (an MPI process does not
        // start others); rank 0 prints.
        for name in &args.models {
            let line = run_shared(name, args.steps, comm.as_ref())?;
            if comm.rank() == 0 {
                println!("{line}");
            }
        }
        return Ok(());
    }
    let policy = DtypePolicy::from_name(&args.dtype_policy).ok_or_else(|| {
        Error::Config(format!(
            "--dtype-policy `{}`: expected float32 or mixed_bfloat16",
            args.dtype_policy
        ))
    })?;
    policy.check_supported()?;
    if args.child {
        let name = args.models.first().map(String::as_str).unwrap_or("a");
        let line = run_one(name, args.steps, args.diagnostics, policy, args.profile)?;
        println!("{line}");
        return Ok(());
    }
    let exe = std::env::current_exe().map_err(|e| Error::Config(e.to_string()))?;
    let mut lines = String::new();
    let mut fma_peak = None;
    for name in &args.models {
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["--threads", &deeptrain::linalg::num_threads().to_string()]);
        cmd.args(["--kernel", super::kernel_arg(deeptrain::linalg::kernel())]);
        cmd.args([
            "bench",
            "--child",
            "--models",
            name,
            "--steps",
            &args.steps.to_string(),
            "--dtype-policy",
            policy.name(),
        ]);
        if args.diagnostics {
            cmd.arg("--diagnostics");
        }
        if args.profile {
            cmd.arg("--profile");
        }
        let out = cmd
            .output()
            .map_err(|e| Error::Config(format!("bench child: {e}")))?;
        if !out.status.success() {
            return Err(Error::Config(format!(
                "bench model {name} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let mut line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&line) {
            let gflops = |v: &serde_json::Value, key| v.get(key).and_then(|g| g.as_f64());
            if name == "fma" {
                fma_peak = gflops(&value, "gflops");
            } else if let (Some(peak), Some(train), Some(object)) = (
                fma_peak,
                gflops(&value, "train_gflops"),
                value.as_object_mut(),
            ) {
                object.insert("fma_peak_percent".into(), json!(100.0 * train / peak));
                if let Some(products) = object.get("products_gflops").and_then(|g| g.as_f64()) {
                    object.insert(
                        "products_peak_percent".into(),
                        json!(100.0 * products / peak),
                    );
                }
                line = value.to_string();
            }
        }
        println!("{line}");
        lines.push_str(&line);
        lines.push('\n');
    }
    if let Some(path) = &args.json {
        deeptrain::io::write_atomic(path, lines.as_bytes())?;
    }
    Ok(())
}
