#!/usr/bin/env bash
# Regenerates the figures README.md quotes from runs, printing each with the README section it
# belongs to, so that the README can be checked (and updated) before a release:
#
#   bench/readme_figures.sh [--quick] [BINARY]     (default: target/release/deeptrain)
#
# --quick runs only the cheap figures (about a minute on 2 cores): lr-find on the digits and on
# Fashion-MNIST, the penguins' test figures, and the Fashion-MNIST MLP's seconds per epoch,
# training samples per second and diagnostics overhead from 4-epoch runs. Without it, the long
# runs are added: the 30-epoch Fashion-MNIST MLP of "A short tour" and the 10-epoch optimizer
# table of "Optimizers" (about 30 minutes on an idle 2-core machine).
#
# Not covered yet (their figures in the README carry the commit they were measured at): the
# graph, convolutional, unstable-gradient, batch-norm, schedule, regularization, transfer,
# MPI and PyTorch-speed tables (bench/compare.py, bench/mpi_scaling.py make the last two).
#
# Every run uses seed 42 as in the README (the examples' own seed), 2 threads, and a scratch
# directory; timings depend on the machine and its load: the script prints `nproc` and the
# load average beside them.
set -euo pipefail
quick=0
if [ "${1:-}" = "--quick" ]; then quick=1; shift; fi
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$repo/target/release/deeptrain}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ln -s "$repo/examples" "$work/examples"
cd "$work"
dt() { "$bin" --threads 2 "$@"; }

# figure SECTION WHAT VALUE
figure() { printf '%-58s | %-62s | %s\n' "$1" "$2" "$3"; }

# The value of `key` ("test.accuracy", "train_samples_per_second") in a run's summary.json.
summary() {
  python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v=v[k]
print(v)' "$1/summary.json" "$2"
}

# Mean of the history's `seconds` column over epochs FROM..TO (from 1).
seconds() {
  python3 -c 'import csv,sys; r=list(csv.DictReader(open(sys.argv[1])))[int(sys.argv[2])-1:int(sys.argv[3])]
print("%.2f" % (sum(float(x["seconds"]) for x in r)/len(r)))' "$1/history.csv" "$2" "$3"
}

pct() { python3 -c 'import sys; print("%.1f%%" % (100*float(sys.argv[1])))' "$1"; }

echo "deeptrain README figures: $(git -C "$repo" rev-parse --short HEAD) $(date -u +%Y-%m-%d), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# Learning-rate schedules and the range test.
section="Learning-rate schedules and the range test"
lr=$(dt lr-find --out lrf_digits | sed -n 's/^Suggested learning rate: \([^,]*\),.*/\1/p')
figure "$section" "lr-find on digits (the default model): suggested rate" "$lr"
out=$(dt lr-find examples/schedules/one_cycle.toml --out lrf_fmnist)
figure "$section" "lr-find, Fashion-MNIST SELU + SGD momentum 0.9: suggested" \
  "$(echo "$out" | sed -n 's/^Suggested learning rate: \([^,]*\),.*/\1/p')"
figure "$section" "  same: where the loss starts to climb (turning rate)" \
  "$(echo "$out" | grep -o 'climb[^;,]*' | head -1)"

# Tables as users bring them: the penguins.
section="Tables as users bring them, weights, and Keras habits"
dt train examples/penguins.toml --out penguins >penguins.log
figure "$section" "penguins (seed 42): test accuracy" "$(summary penguins test.accuracy)"
figure "$section" "penguins: test AUC" "$(summary penguins test.auc)"

# The Fashion-MNIST MLP's speed, and the cost of diagnostics.
if [ -d /usr/share/datasets/fashion-mnist ] || [ -n "${DEEPTRAIN_FASHION_MNIST:-}" ]; then
  section="A short tour (quick: 4 epochs)"
  dt train examples/fashion_mnist_mlp.toml --epochs 4 --out fmnist4 >fmnist4.log
  figure "$section" "Fashion-MNIST MLP: seconds per epoch (mean of epochs 2-4)" "$(seconds fmnist4 2 4)"
  figure "$section" "Fashion-MNIST MLP: training samples per second" \
    "$(python3 -c 'import sys; print(round(float(sys.argv[1])))' "$(summary fmnist4 train_samples_per_second)")"
  section="Seeing inside training: diagnostics, warnings, plots, report"
  dt train examples/fashion_mnist_mlp.toml --epochs 4 --diagnostics-every 0 --out fmnist4_off >/dev/null
  figure "$section" "MLP s/epoch with diagnostics / without (mean of epochs 2-4)" \
    "$(seconds fmnist4 2 4) / $(seconds fmnist4_off 2 4)"
else
  echo "Fashion-MNIST is not installed (scripts/test installs it): its figures are skipped" >&2
fi

[ "$quick" = 1 ] && exit 0

section="A short tour"
dt train examples/fashion_mnist_mlp.toml --out fmnist >fmnist.log
figure "$section" "Fashion-MNIST MLP, 30 epochs: test / validation / train accuracy" \
  "$(pct "$(summary fmnist test.accuracy)") / $(pct "$(summary fmnist validation.accuracy)") / $(pct "$(summary fmnist train.accuracy)")"
figure "$section" "  seconds per epoch (mean of epochs 2-30)" "$(seconds fmnist 2 30)"
figure "$section" "  training samples per second" \
  "$(python3 -c 'import sys; print(round(float(sys.argv[1])))' "$(summary fmnist train_samples_per_second)")"
grep -E '^(Epoch 30/30|Test:)' fmnist.log | sed "s/^/$section | last lines: /"

section="Optimizers"
for name in sgd momentum nesterov adagrad rmsprop adam adamax nadam adamw; do
  dt train "examples/optimizers/$name.toml" --epochs 10 --out "opt_$name" >/dev/null
  row=$(python3 -c 'import csv,sys; r=list(csv.DictReader(open(sys.argv[1])))
print("val. epoch 5 %.1f%%, epoch 10 %.1f%%" % (100*float(r[4]["val_accuracy"]), 100*float(r[9]["val_accuracy"])))' "opt_$name/history.csv")
  figure "$section" "$name: $row, test" "$(pct "$(summary "opt_$name" test.accuracy)"), s/epoch $(seconds "opt_$name" 2 3)"
done
