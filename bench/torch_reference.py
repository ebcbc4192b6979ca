"""The deeptrain benchmark models in PyTorch, measured the same way (see src/cli/bench.rs).

Install PyTorch from PyPI (`pip install torch`; the CPU is used either way), then:
    python3 bench/torch_reference.py --models a,b,c,d,e,f,g,h,i --threads 2 --steps 200
Each model runs in its own process, so that its peak resident memory is its own; one JSON line
per model. `--autocast` runs each forward pass and loss under
`torch.autocast("cpu", dtype=torch.bfloat16)` (PyTorch's CPU mixed precision: bf16 matrix
products, f32 weights), as deeptrain's `--dtype-policy mixed_bfloat16`.
"""
import contextlib
import argparse
import json
import math
import resource
import subprocess
import sys
import time


def build(name, torch, nn):
    def dense(i, o, init):
        layer = nn.Linear(i, o)
        if init == "he":
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        elif init == "lecun":
            nn.init.normal_(layer.weight, std=1.0 / math.sqrt(i))
        nn.init.zeros_(layer.bias)
        return layer

    if name in ("a", "b"):
        layers = [dense(784, 300, "he"), nn.ReLU(), dense(300, 100, "he"), nn.ReLU(), dense(100, 10, "glorot")]
        return nn.Sequential(*layers), (32 if name == "a" else 256), "sgd", [784, 300, 100, 10]
    if name == "c":
        sizes = [784, 1024, 1024, 1024, 10]
        layers = []
        for i in range(3):
            layers += [dense(sizes[i], sizes[i + 1], "he"), nn.ReLU()]
        layers.append(dense(1024, 10, "glorot"))
        return nn.Sequential(*layers), 256, "sgd", sizes
    if name == "d":
        layers, sizes = [], [784] + [100] * 100 + [10]
        for i in range(100):
            layers += [dense(sizes[i], 100, "lecun"), nn.SELU()]
        layers.append(dense(100, 10, "glorot"))
        return nn.Sequential(*layers), 32, "sgd", sizes
    if name == "e":
        layers, sizes = [], [784] + [100] * 20 + [10]
        for i in range(20):
            layers += [dense(sizes[i], 100, "he"), nn.ELU(), nn.BatchNorm1d(100, momentum=0.01, eps=1e-3)]
        layers.append(dense(100, 10, "glorot"))
        return nn.Sequential(*layers), 32, "nadam", sizes
    if name in ("f", "g"):
        # conv 32 3x3 -> max pool 2 -> conv 64 3x3 -> max pool 2 -> dense 128 -> 10, ReLU, He
        # init, on (B, 1, 28, 28) images (PyTorch is channels first; deeptrain channels last).
        def conv(i, o):
            layer = nn.Conv2d(i, o, 3)
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
            return layer

        layers = [conv(1, 32), nn.ReLU(), nn.MaxPool2d(2), conv(32, 64), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Flatten(), dense(1600, 128, "he"), nn.ReLU(), dense(128, 10, "glorot")]
        # multiply-adds per sample of each layer with weights
        macs = [26 * 26 * 32 * 9 * 1, 11 * 11 * 64 * 9 * 32, 1600 * 128, 128 * 10]
        return nn.Sequential(*layers), (32 if name == "f" else 256), "sgd", macs
    if name in ("h", "i"):
        # Sequential Fashion-MNIST: (B, 28, 28) read as 28 steps of 28 features -> nn.LSTM(128)
        # (oneDNN/MKL kernels on the CPU) -> the last step's state -> dense 10.
        class LastStep(nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = nn.LSTM(28, 128, batch_first=True)
                self.out = dense(128, 10, "glorot")

            def forward(self, x):
                seq, _ = self.lstm(x)
                return self.out(seq[:, -1])

        macs = [28 * (28 + 128) * 4 * 128, 128 * 10]
        return LastStep(), (32 if name == "h" else 128), "sgd", macs
    raise SystemExit(f"unknown model {name}")


def layer_macs(sizes):
    """Multiply-adds per sample of each Dense layer of an MLP with these widths."""
    return [sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1)]


def step_flops(macs, batch):
    """FLOPs of one training step and of its forward pass: 2 per multiply-add forward, twice
    that backward (weight and input gradients), but once for the first layer (no input
    gradient)."""
    forward = backward = 0.0
    for i, m in enumerate(macs):
        f = 2.0 * batch * m
        forward += f
        backward += f if i == 0 else 2 * f
    return forward + backward, forward


def run_one(name, threads, steps, autocast=False):
    import torch
    from torch import nn

    def precision():
        if autocast:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    torch.set_num_threads(threads)
    torch.manual_seed(42)
    if name == "gemm":
        a, b = torch.rand(1024, 1024), torch.rand(1024, 1024)
        a @ b
        start = time.perf_counter()
        for _ in range(10):
            a @ b
        seconds = time.perf_counter() - start
        return {"model": "gemm", "framework": f"torch {torch.__version__}", "threads": threads,
                "gflops": 2.0 * 1024**3 * 10 / seconds / 1e9}
    model, batch, opt_name, sizes = build(name, torch, nn)
    macs = sizes if name in "fghi" else layer_macs(sizes)
    shape = {"f": (1, 28, 28), "g": (1, 28, 28), "h": (28, 28), "i": (28, 28)}.get(name, (784,))
    if opt_name == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
    else:
        opt = torch.optim.NAdam(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    xs = [torch.rand(batch, *shape) * 2 - 1 for _ in range(16)]
    ys = [torch.randint(0, 10, (batch,)) for _ in range(16)]

    def step(i):
        opt.zero_grad(set_to_none=False)
        with precision():
            loss = loss_fn(model(xs[i % 16]), ys[i % 16])
        loss.backward()
        opt.step()

    model.train()
    for i in range(20):
        step(i)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    train_seconds = time.perf_counter() - start
    flops, forward = step_flops(macs, batch)
    model.eval()
    x = torch.rand(4096, *shape) * 2 - 1
    with torch.no_grad(), precision():
        for chunk in x.split(256):
            model(chunk)
        start = time.perf_counter()
        reps = 3
        for _ in range(reps):
            for chunk in x.split(256):
                model(chunk)
        infer_seconds = time.perf_counter() - start
    return {
        "model": name,
        "framework": f"torch {torch.__version__}",
        "threads": threads,
        "batch": batch,
        "dtype_policy": "autocast bfloat16" if autocast else "float32",
        "train_samples_per_s": steps * batch / train_seconds,
        "train_gflops": flops * steps / train_seconds / 1e9,
        "infer_samples_per_s": 4096 * reps / infer_seconds,
        "infer_gflops": forward / batch * 4096 * reps / infer_seconds / 1e9,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", default="gemm,a,b,c,d,e,f,g,h,i")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--child", action="store_true")
    p.add_argument("--autocast", action="store_true",
                   help='forward and loss under torch.autocast("cpu", dtype=torch.bfloat16)')
    args = p.parse_args()
    if args.child:
        print(json.dumps(run_one(args.models, args.threads, args.steps, args.autocast)))
        return
    for name in args.models.split(","):
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--models", name, "--threads", str(args.threads),
             "--steps", str(args.steps), *(["--autocast"] if args.autocast else [])],
            capture_output=True, text=True, check=True)
        print(out.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
