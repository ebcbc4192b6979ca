"""Runs `deeptrain bench` and bench/torch_reference.py on the same models, threads and data
shapes, in turn, and prints the side-by-side table with ratios (deeptrain / PyTorch).

    cargo build --release && pip install torch && python3 bench/compare.py [--threads 2] [--steps 200]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NAMES = {
    "a": "(a) 784-300-100-10 ReLU, SGD, batch 32",
    "b": "(b) the same, batch 256",
    "c": "(c) 784-1024x3-10 ReLU, SGD, batch 256",
    "d": "(d) 100 x 100 SELU, SGD, batch 32",
    "e": "(e) 20 x (100 ELU + BN), Nadam, batch 32",
}


def lines(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return {r["model"]: r for r in map(json.loads, out.stdout.strip().splitlines())}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--steps", type=int, default=200)
    args = p.parse_args()
    models = "gemm,a,b,c,d,e"
    ours = lines([os.path.join(ROOT, "target/release/deeptrain"), "--threads", str(args.threads),
                  "bench", "--models", models, "--steps", str(args.steps)])
    theirs = lines([sys.executable, os.path.join(HERE, "torch_reference.py"), "--models", models,
                    "--threads", str(args.threads), "--steps", str(args.steps)])
    print(f"threads: {args.threads}; {theirs['a']['framework']}")
    print(f"sgemm 1024^3: deeptrain {ours['gemm']['gflops']:.0f} GFLOP/s, "
          f"PyTorch {theirs['gemm']['gflops']:.0f} GFLOP/s")
    print()
    print("| model | train samples/s (deeptrain / PyTorch = ratio) | train GFLOP/s | "
          "inference samples/s (ratio) | peak RSS MiB (deeptrain / PyTorch) |")
    print("| --- | --- | --- | --- | --- |")
    for m in "abcde":
        o, t = ours[m], theirs[m]
        print(f"| {NAMES[m]} | {o['train_samples_per_s']:,.0f} / {t['train_samples_per_s']:,.0f} = "
              f"**{o['train_samples_per_s'] / t['train_samples_per_s']:.2f}x** | "
              f"{o['train_gflops']:.0f} / {t['train_gflops']:.0f} | "
              f"{o['infer_samples_per_s']:,.0f} / {t['infer_samples_per_s']:,.0f} = "
              f"{o['infer_samples_per_s'] / t['infer_samples_per_s']:.2f}x | "
              f"{o['peak_rss_mib']:.0f} / {t['peak_rss_mib']:.0f} |")
    c = ours["c"]["train_gflops"] / ours["gemm"]["gflops"]
    print(f"\n(c) reaches {100 * c:.0f}% of deeptrain's measured sgemm throughput "
          f"({ours['c']['train_gflops']:.0f} of {ours['gemm']['gflops']:.0f} GFLOP/s).")


if __name__ == "__main__":
    main()
