"""Prints the README's "Where the time goes" table: `deeptrain bench --profile` on every bench
model, the share of a training step in each phase, and what limits the model.

    cargo build --release && python3 bench/profile_table.py [--threads 2] [--steps 200] [BINARY]

Each model trains as `deeptrain train` would (its default diagnostics every tenth of a
Fashion-MNIST epoch), for whole diagnostics intervals of at least `--steps` steps, with the
engine's phase timers on (src/profile.rs). The shares are of the calling thread's wall time:
products (matrix products, and under plain SGD the weight update fused into them), element-wise
work (everything else in the step: bias and activation passes, pooling, batch norm, the loss,
copies), the optimizer's updates, the diagnostics observer, and waiting for the pool's worker to
finish its part of a job. "In products" is the model's FLOPs per step over the products' time,
against the FMA peak of the cores in use (`deeptrain bench`'s first line).

The "limit" column is the largest phase; where that is the products, how close they run to the
FMA peak says whether the arithmetic itself (near the peak) or the kernel at these shapes
(far from it) is what limits.
"""
import argparse
import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NAMES = {
    "a": "(a) MLP 784-300-100-10, batch 32",
    "b": "(b) the same, batch 256",
    "c": "(c) 784-1024x3-10, batch 256",
    "d": "(d) 100 x 100 SELU, batch 32",
    "e": "(e) 20 x (100 ELU + BN), Nadam, batch 32",
    "f": "(f) CNN, batch 32",
    "g": "(g) CNN, batch 256",
    "h": "(h) LSTM 128, batch 32",
    "i": "(i) LSTM 128, batch 128",
}
PHASES = ["products", "elementwise", "optimizer", "diagnostics", "waiting"]
LABELS = {
    "products": "the products",
    "elementwise": "element-wise work",
    "optimizer": "the optimizer",
    "diagnostics": "the diagnostics",
    "waiting": "waiting for the worker",
}


def limit(r):
    top = max(PHASES, key=lambda p: r[f"share_{p}"])
    text = f"{LABELS[top]} ({100 * r[f'share_{top}']:.0f}%)"
    if top == "products":
        peak = r["products_peak_percent"]
        what = "the FMA units" if peak >= 70 else "the kernel at these shapes"
        text += f": {what}, {peak:.0f}% of peak while in them"
    return text


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary", nargs="?", default=os.path.join(ROOT, "target/release/deeptrain"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--models", default="abcdefghi")
    args = p.parse_args()
    out = subprocess.run(
        [args.binary, "--threads", str(args.threads), "bench", "--profile", "--steps",
         str(args.steps), "--models", ",".join(["fma", *args.models])],
        capture_output=True, text=True, check=True, cwd=ROOT)
    rows = [json.loads(line) for line in out.stdout.strip().splitlines()]
    fma = rows[0]
    print(f"threads: {args.threads}; FMA peak {fma['gflops']:.0f} GFLOP/s "
          f"({fma['isa']}); at least {args.steps} steps per model")
    print()
    print("| model | step ms | products | element-wise | optimizer | diagnostics | waiting | "
          "in products GFLOP/s (% of peak) | limit |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows[1:]:
        shares = " | ".join(f"{100 * r[f'share_{p}']:.0f}%" for p in PHASES)
        print(f"| {NAMES[r['model']]} | {1e3 * r['step_seconds']:.2f} | {shares} | "
              f"{r['products_gflops']:.0f} ({r['products_peak_percent']:.0f}%) | {limit(r)} |")


if __name__ == "__main__":
    main()
