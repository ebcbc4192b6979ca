#!/usr/bin/env bash
# bf16 mixed precision against f32 on the issue's two accuracy checks: the textbook MLP
# (examples/fashion_mnist_mlp.toml, 30 epochs) and the CNN (examples/cnn/fashion_mnist_cnn.toml,
# 10 epochs), each as its example runs (seed 42, 2 threads), once as written (f32) and once with
# `[compile] dtype_policy = "mixed_bfloat16"` added to a copy of the spec. The goal: test
# accuracy within 0.5 points of f32.
#
#   bench/bf16_accuracy.sh BINARY OUT_DIR [SPEC...]   (default: the two examples above)
#
# Prints a Markdown table (also written to OUT_DIR/bf16_accuracy.md) of the f32 and bf16 test
# accuracies and their difference in points; each run's directory (history, summary.json) stays
# in OUT_DIR. The runs are deterministic, so machine load changes their time, not their numbers.
# It needs a CPU with AVX-512 BF16 (elsewhere the bf16 run is refused in one line).
set -euo pipefail
bin=$(realpath "$1"); out=$(mkdir -p "$2" && realpath "$2")
repo=$(cd "$(dirname "$0")/.." && pwd)
specs="examples/fashion_mnist_mlp.toml examples/cnn/fashion_mnist_cnn.toml"
[ $# -gt 2 ] && specs="${*:3}"
table="$out/bf16_accuracy.md"
echo "| example | epochs | test accuracy f32 | test accuracy bf16 | bf16 − f32 (points) |" >"$table"
echo "| --- | --- | --- | --- | --- |" >>"$table"
for spec in $specs; do
  name=$(basename "$spec" .toml)
  # The same spec with the policy set: in its [compile] table, or in a new one at the end.
  bf16_spec="$out/${name}_bf16.toml"
  if grep -q '^\[compile\]' "$repo/$spec"; then
    sed 's/^\[compile\]$/[compile]\ndtype_policy = "mixed_bfloat16"/' "$repo/$spec" >"$bf16_spec"
  else
    { cat "$repo/$spec"; printf '\n[compile]\ndtype_policy = "mixed_bfloat16"\n'; } >"$bf16_spec"
  fi
  "$bin" train "$repo/$spec" --threads 2 --overwrite --out "$out/${name}_f32" >"$out/${name}_f32.log" 2>&1
  "$bin" train "$bf16_spec" --threads 2 --overwrite --out "$out/${name}_bf16" >"$out/${name}_bf16.log" 2>&1
  python3 - "$spec" "$out/${name}_f32/summary.json" "$out/${name}_bf16/summary.json" >>"$table" <<'PY'
import json, sys
spec, f32, bf16 = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
a, b = 100 * f32["test"]["accuracy"], 100 * bf16["test"]["accuracy"]
print(f"| `{spec}` | {f32['epochs']} | {a:.2f}% | {b:.2f}% | {b - a:+.2f} |")
PY
done
cat "$table"
