#!/usr/bin/env python3
"""The README's table of `deeptrain diagnose` verdicts on the chapter's setups.

Standard library only. From the repository root, after `cargo build --release`:

    python3 bench/diagnosis/chapter_table.py [--bin target/release/deeptrain] [--steps 300]

Runs `diagnose SPEC --json --steps N` on examples/deep_sigmoid.toml, deep_selu_100.toml,
deep_relu_100.toml and a ReLU network on the digits with SGD at rate 50 (the spec of
tests/diagnostics.rs), and prints one markdown row per spec: the verdict ids, each with its
evidence, and the warnings' ids.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RELU_RATE_50 = """[data]
dataset = "digits"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 64
activation = "relu"
kernel_initializer = "auto"
[[layers]]
type = "dropout"
rate = 0.2
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[optimizer]
name = "sgd"
learning_rate = 50.0
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "deeptrain"))
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        relu = os.path.join(tmp, "relu_rate_50.toml")
        with open(relu, "w") as f:
            f.write(RELU_RATE_50)
        specs = [
            ("`examples/deep_sigmoid.toml`", os.path.join(ROOT, "examples", "deep_sigmoid.toml")),
            ("`examples/deep_selu_100.toml`", os.path.join(ROOT, "examples", "deep_selu_100.toml")),
            ("`examples/deep_relu_100.toml`", os.path.join(ROOT, "examples", "deep_relu_100.toml")),
            ("a ReLU network on the digits, SGD at rate 50", relu),
        ]
        print(f"`diagnose --steps {args.steps} --json`:\n")
        print("| spec | verdicts (evidence) | warnings |")
        print("| --- | --- | --- |")
        for name, path in specs:
            p = subprocess.run([args.bin, "diagnose", path, "--json", "--steps", str(args.steps)],
                               capture_output=True, text=True)
            if p.returncode != 0:
                print(f"| {name} | diagnose failed: {p.stderr.strip()} | |")
                continue
            obj = json.loads(p.stdout[p.stdout.find("{"):])
            verdicts = "; ".join(
                f"**{v['id']}**" + (f" ({v['layer']})" if v["layer"] else "") + f": {v['evidence']}"
                for v in obj["verdicts"])
            warnings = ", ".join(sorted({w["id"] for w in obj["warnings"]})) or "none"
            print(f"| {name} | {verdicts.replace('|', '/')} | {warnings} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
