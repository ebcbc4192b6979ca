#!/usr/bin/env bash
# Regenerates the figures and tables README.md quotes, from runs of the examples. Each section
# below names the README table (or paragraph) it makes and prints it as markdown, ready to paste:
#
#   bench/readme_figures.sh [--quick] [--only SECTION[,SECTION...]] [BINARY]
#       (default BINARY: target/release/deeptrain; sections, in order: lr-find penguins timing
#        diagnosis tour graph cnn residual-cnn sequences seattle unstable bn optimizers schedules regularization transfer mpi
#        mpi-memory speed profile)
#
# Full mode runs what the README says was run (epochs, seeds, data): hours on 2 cores, so run
# it on a quiet machine, one section at a time if need be (`--only cnn`). --quick checks the
# script itself in a few minutes (6.5 on the shared 2-core machine, load 7-9): every section but `mpi` and `speed` (external scripts, see
# below) and the Rust example row of the graph table runs on 1,000 training images (`[data]
# max_train_samples`) for 1 epoch, and penguins on 2 seeds; its tables have the README's shape
# and its figures mean nothing (epochs not run print `n/a`). The lr-find and penguins figures
# are the full ones in both modes, and `timing` runs 4 epochs of the MLP on the whole set.
#
# `diagnosis` runs bench/diagnosis/chapter_table.py (quick: 20 steps instead of 300). Not made
# here: the diagnosis benchmark's score (bench/diagnosis/score.py). `mpi` runs
# bench/mpi_scaling.py (the scaling and cost-model tables; it runs target/release/deeptrain,
# which must be a `--features mpi` build, and needs mpirun);
# `mpi-memory` writes Fashion-MNIST as NPY and measures each process's peak RSS with
# `/usr/bin/time` (BINARY must be a `--features mpi` build); `speed` runs bench/compare.py on
# BINARY (the tables against PyTorch; needs torch); `profile` runs bench/profile_table.py on
# BINARY (where each bench model's training step spends its time; quick: 20 steps).
#
# Every run uses the examples' seed (42) and 2 threads, in a scratch directory; timings depend on
# the machine and its load: the script prints `nproc` and the load average at the top.
set -euo pipefail
quick=0
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --only) only=",$2,"; shift 2 ;;
    *) break ;;
  esac
done
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$repo/target/release/deeptrain}")
work=$(mktemp -d)
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$work"' EXIT
# A copy of the examples (the quick mode edits them); their data paths (`../data/...`) resolve.
cp -r "$repo/examples" "$work/examples"
ln -s "$repo/data" "$work/data"
cd "$work"
if [ "$quick" = 1 ]; then
  for f in $(find examples -name '*.toml'); do
    grep -q '^max_train_samples' "$f" || sed -i 's/^\[data\]$/[data]\nmax_train_samples = 1000/' "$f"
  done
fi
dt() { "$bin" --threads 2 "$@"; }
wants() { [ -z "$only" ] || [[ "$only" == *",$1,"* ]]; }
fmnist=0
if [ -d /usr/share/datasets/fashion-mnist ] || [ -n "${DEEPTRAIN_FASHION_MNIST:-}" ]; then fmnist=1; fi
needs_fmnist() {
  [ "$fmnist" = 1 ] && return 0
  echo "Fashion-MNIST is not installed (scripts/test installs it): section $1 skipped" >&2
  return 1
}

# train SPEC RUN EPOCHS [ARGS...]: trains (quick: 1 epoch), the log in RUN.log.
train() {
  local spec=$1 run=$2 epochs=$3
  shift 3
  [ "$quick" = 1 ] && epochs=1
  dt train "$spec" --epochs "$epochs" --out "$run" "$@" >"$run.log" 2>&1 || {
    echo "FAILED: train $spec (see the log below)" >&2
    tail -5 "$run.log" >&2
    return 1
  }
}

# q RUN EXPR: evaluates a Python expression over a run: `h` its history rows (dicts; `val(e)`
# the validation accuracy of epoch e, from 1, as a percentage, or n/a), `s` its summary,
# `pct(x)`, `log` the text of RUN.log.
q() {
  python3 - "$1" "$2" <<'PY'
import csv, json, os, sys
run, expr = sys.argv[1], sys.argv[2]
h = list(csv.DictReader(open(os.path.join(run, "history.csv"))))
s = json.load(open(os.path.join(run, "summary.json")))
log = open(run + ".log").read() if os.path.exists(run + ".log") else ""
def pct(x):
    return "n/a" if x is None else "%.1f%%" % (100 * float(x))
def val(e, key="val_accuracy"):
    return pct(h[e - 1][key]) if e <= len(h) else "n/a"
def test(key="accuracy"):
    return pct((s.get("test") or {}).get(key))
def best(key="val_accuracy"):
    return pct(max(float(r[key]) for r in h))
def seconds(a, b):
    r = [float(x["seconds"]) for x in h[a - 1:b]]
    return "%.2f" % (sum(r) / len(r)) if r else "n/a"
def fold():
    # "folded N batch-norm layer(s): largest output difference D; inference A -> B samples/s (Rx)"
    for line in log.splitlines():
        if "folded " in line and "inference " in line:
            d = line.split("difference ")[1].split(";")[0]
            a, b = line.split("inference ")[1].split(" samples/s")[0].split(" -> ")
            r = line.rsplit("(", 1)[1].rstrip(")x")
            return "%s → %s samples/s (%s×), max output change %s" % (
                f"{float(a):,.0f}", f"{float(b):,.0f}", r, d)
    return "n/a"
print(eval(expr))
PY
}

echo "deeptrain README figures: $(git -C "$repo" rev-parse --short HEAD) $(date -u +%Y-%m-%d), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)$([ "$quick" = 1 ] && echo ', QUICK (figures mean nothing)')"

# ---------------------------------------------------------------------------------------------
if wants lr-find; then
  echo; echo "### README \"Learning-rate schedules and the range test\": the range-test paragraph"
  lr=$(dt lr-find --out lrf_digits | sed -n 's/^Suggested learning rate: \([^,]*\),.*/\1/p')
  echo "- lr-find on digits (the default model): suggests $lr"
  if needs_fmnist lr-find; then
    out=$(dt lr-find "$repo/examples/schedules/one_cycle.toml" --out lrf_fmnist)
    echo "- lr-find, Fashion-MNIST SELU + SGD momentum 0.9: suggests $(echo "$out" | sed -n 's/^Suggested learning rate: \([^,]*\),.*/\1/p'), $(echo "$out" | grep -o 'climb[^;,]*' | head -1)"
  fi
fi

# ---------------------------------------------------------------------------------------------
if wants penguins; then
  echo; echo "### README \"Tables as users bring them, weights, and Keras habits\": the penguins' figures"
  dt train examples/penguins.toml --out penguins >penguins.log
  echo "- penguins (seed 42): test accuracy $(q penguins 's["test"]["accuracy"]'), AUC $(q penguins 's["test"]["auc"]')"
  dt train examples/keras_literal.toml --out keras_literal >keras_literal.log
  echo "- the Keras-literal spec (examples/keras_literal.toml): test accuracy $(q keras_literal '"%.3f" % s["test"]["accuracy"]')"
fi

# ---------------------------------------------------------------------------------------------
if wants timing && needs_fmnist timing; then
  echo; echo "### README \"Seeing inside training\": the diagnostics overhead (4 epochs of the MLP, whole set)"
  dt train "$repo/examples/fashion_mnist_mlp.toml" --epochs 4 --out fmnist4 >fmnist4.log
  dt train "$repo/examples/fashion_mnist_mlp.toml" --epochs 4 --diagnostics-every 0 --out fmnist4_off >fmnist4_off.log
  echo "- MLP seconds per epoch with diagnostics / without (mean of epochs 2-4): $(q fmnist4 'seconds(2, 4)') / $(q fmnist4_off 'seconds(2, 4)'); training samples per second $(q fmnist4 'round(s["train_samples_per_second"])')"
fi

# ---------------------------------------------------------------------------------------------
if wants diagnosis && needs_fmnist diagnosis; then
  echo; echo "### README \"Seeing inside training\": the table of verdicts on the chapter's setups"
  steps=300; [ "$quick" = 1 ] && steps=20
  (cd "$repo" && python3 bench/diagnosis/chapter_table.py --bin "$bin" --steps "$steps")
fi

# ---------------------------------------------------------------------------------------------
if wants tour && needs_fmnist tour; then
  echo; echo "### README \"A short tour\": the Fashion-MNIST MLP paragraph (30 epochs) and its last lines"
  train examples/fashion_mnist_mlp.toml fmnist 30
  echo "- **$(q fmnist 'test()') test accuracy** ($(q fmnist 'pct(s["validation"]["accuracy"])') validation, $(q fmnist 'pct(s["train"]["accuracy"])') train), $(q fmnist 'seconds(2, len(h))') s per epoch (mean of epochs 2 on), about $(q fmnist '"{:,.0f}".format(round(s["train_samples_per_second"], -2))') training samples per second"
  echo '```text'
  grep -E '^(Epoch [0-9]+/[0-9]+ - |Test:)' fmnist.log | tail -2
  echo '```'
fi

# ---------------------------------------------------------------------------------------------
if wants graph; then
  echo; echo "### README \"Graphs\": the table \"What the graphs buy\""
  echo "| experiment | plain | with the graph |"
  echo "| --- | --- | --- |"
  if needs_fmnist graph; then
    train examples/deep_relu_100.toml deep_relu_100 5
    train examples/graph/residual_relu_100.toml residual_relu_100 5
    echo "| Fashion-MNIST, 100 Dense layers of 100 ReLU units, SGD 0.001, 5 epochs (textbook plain: 73.8%) | \`examples/deep_relu_100.toml\`: $(q deep_relu_100 'val(len(h))') validation, $(q deep_relu_100 'test()') test | \`examples/graph/residual_relu_100.toml\`, 49 residual blocks, zero-initialized second layers: $(q residual_relu_100 'val(len(h))') validation, $(q residual_relu_100 'test()') test |"
  fi
  seeds=$(seq 1 10); [ "$quick" = 1 ] && seeds="1 2"
  for seed in $seeds; do
    dt train examples/penguins.toml --seed "$seed" --out "peng_plain_$seed" >/dev/null
    dt train examples/graph/wide_deep_penguins.toml --seed "$seed" --out "peng_graph_$seed" >/dev/null
  done
  stats() { # PREFIX: mean test accuracy, mean and median test loss over the seeds
    python3 - "$1" $seeds <<'PY'
import json, statistics, sys
runs = [json.load(open(f"{sys.argv[1]}_{s}/summary.json"))["test"] for s in sys.argv[2:]]
acc = statistics.mean(r["accuracy"] for r in runs)
loss = [r["loss"] for r in runs]
print("%.2f%% %.4f %.4f" % (100 * acc, statistics.mean(loss), statistics.median(loss)))
PY
  }
  read -r pa pl pm < <(stats peng_plain)
  read -r ga gl gm < <(stats peng_graph)
  n=$(echo $seeds | wc -w)
  echo "| Palmer penguins, $n seeds (\`--seed 1..$n\`), Adam 0.01, 40 epochs | \`examples/penguins.toml\`: test accuracy $pa mean, test loss $pl mean | \`examples/graph/wide_deep_penguins.toml\`: $ga, test loss $gl mean (median $gm against $pm) |"
  if [ "$quick" = 0 ]; then
    out=$(cd "$repo" && cargo run --release --quiet --example residual_mlp)
    last() { echo "$out" | grep "^ *$1," | sed 's/.*\[\(.*\)\]/\1/' | tr ',' '\n' | tail -1 | python3 -c 'import sys; print("%.1f%%" % (100*float(sys.stdin.read())))'; }
    echo "| digits, 32 Dense layers of 64 ReLU units, SGD 0.01, 10 epochs | \`residual_mlp\` example, plain: $(last plain) validation | residual: $(last residual) |"
  fi
fi

# ---------------------------------------------------------------------------------------------
if wants cnn && needs_fmnist cnn; then
  echo; echo "### README \"Convolutional networks\": the CNN table"
  echo "| example (Fashion-MNIST, 10 epochs, Adam 0.001, batch 32, seed 42, 2 threads) | val. accuracy, epochs 1 / 5 / 10 | test | folded inference |"
  echo "| --- | --- | --- | --- |"
  train examples/cnn/fashion_mnist_cnn.toml cnn 10
  train examples/cnn/fashion_mnist_cnn_augmented.toml cnn_augmented 10
  echo "| \`examples/cnn/fashion_mnist_cnn.toml\`: 2 × (conv 3×3 same → BN → ReLU → max pool), dropout 0.3, Dense 128, dropout 0.3 | $(q cnn '" / ".join(val(e) for e in (1, 5, 10))') | **$(q cnn 'test()')** | $(q cnn 'fold()') |"
  echo "| \`examples/cnn/fashion_mnist_cnn_augmented.toml\`: the same with shifts of up to 2 pixels and horizontal flips | $(q cnn_augmented '" / ".join(val(e) for e in (1, 5, 10))') | $(q cnn_augmented 'test()') | |"
  echo "- augmented run, training accuracy in the last epoch: $(q cnn_augmented 'pct(h[-1]["accuracy"])')"
fi

# ---------------------------------------------------------------------------------------------
if wants residual-cnn && needs_fmnist residual-cnn; then
  echo; echo "### README \"Convolutional networks\": the residual CNN's 3-epoch run"
  train examples/cnn/residual_cnn.toml residual_cnn 3
  echo "- $(q residual_cnn '" / ".join(val(e) for e in (1, 2, 3))') validation, $(q residual_cnn 'test()') test, $(q residual_cnn 'seconds(1, len(h))') s per epoch (load average at the top)"
fi

# ---------------------------------------------------------------------------------------------
# sequences: the README's "Sequences" figures: the sequential Fashion-MNIST LSTM, the adding
# problem at T = 100, and the clipping pair with `diagnose`'s verdict on each.
if wants sequences && needs_fmnist sequences; then
  echo; echo "### README \"Convolutional networks\" (1-D) and \"Sequences\": the recurrent examples"
  train examples/sequences/fashion_mnist_lstm.toml seq_lstm 10
  echo "- \`fashion_mnist_lstm.toml\`: $(q seq_lstm 'test()') test accuracy (test loss $(q seq_lstm '"%.3f" % s["test"]["loss"]'); validation $(q seq_lstm 'val(len(h))')), $(q seq_lstm 'seconds(1, len(h))') s per epoch"
  train examples/sequences/adding_lstm.toml adding_lstm 6
  echo "- \`adding_lstm.toml\` (T = 100): test MSE $(q adding_lstm '"%.5f" % s["test"]["loss"]') (test MAE $(q adding_lstm '"%.3f" % s["test"]["mae"]'); validation MSE $(q adding_lstm '"%.5f" % float(h[-1]["val_loss"])'), epoch 3 $(q adding_lstm '"%.3f" % float(h[2]["val_loss"])' ))"
  for clip in unclipped clipnorm; do
    train examples/sequences/adding_rnn_$clip.toml adding_rnn_$clip 20 || true
    dt diagnose examples/sequences/adding_rnn_$clip.toml --steps 5640 --json > adding_rnn_$clip.json 2>/dev/null || true
    verdicts=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(", ".join(v["id"] for v in d["verdicts"]) or "none")' adding_rnn_$clip.json 2>/dev/null || echo "diagnose failed")
    if [ -f adding_rnn_$clip/summary.json ]; then
      echo "- \`adding_rnn_$clip.toml\`: test MSE $(q adding_rnn_$clip '"%.3f" % s["test"]["loss"]') (validation $(q adding_rnn_$clip '"%.3f" % float(h[-1]["val_loss"])')); verdicts: $verdicts"
    else
      echo "- \`adding_rnn_$clip.toml\`: $(grep -m1 -o 'error: .*' adding_rnn_$clip.log | cut -c1-120); verdicts: $verdicts"
    fi
  done
fi

# ---------------------------------------------------------------------------------------------
# seattle: the Seattle weather table; examples/sequences/seattle_weather.py needs numpy and the
# vega_datasets CSV (python3-vega-datasets, or `pip install vega_datasets`): PYTHON=... names
# a Python that has them.
if wants seattle; then
  echo; echo "### README \"Convolutional networks\" (1-D): the Seattle weather table"
  if "${PYTHON:-python3}" examples/sequences/seattle_weather.py >seattle.log 2>&1; then
    for m in linear conv1d; do
      train examples/sequences/seattle_weather_$m.toml seattle_$m 150
      best='min(range(len(h)), key=lambda i: float(h[i]["val_loss"]))'
      echo "- \`seattle_weather_$m.toml\`: stopped / best epoch $(q seattle_$m 'str(len(h))') / $(q seattle_$m "str(1 + $best)"), val. MAE $(q seattle_$m "'%.3f' % float(h[$best]['val_mae'])"), test MAE $(q seattle_$m '"%.3f" % s["test"]["mae"]')"
    done
  else
    echo "- Seattle weather: $(tail -1 seattle.log)"
  fi
fi

# ---------------------------------------------------------------------------------------------
if wants unstable && needs_fmnist unstable; then
  echo; echo "### README \"Unstable gradients\": the textbook's 100-layer experiment"
  echo "| example | epoch 1 | 2 | 3 | 4 | 5 | textbook (Keras), epoch 5 |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  for row in "deep_selu_100|100 × 100 SELU, LeCun normal|82.2%" \
             "deep_relu_100|100 × 100 ReLU, He normal|73.8%" \
             "deep_sigmoid|10 × 100 sigmoid, N(0, 1) weights|—"; do
    IFS='|' read -r name what book <<<"$row"
    train "examples/$name.toml" "u_$name" 5
    echo "| \`$name\` ($what) | $(q "u_$name" '" | ".join(val(e) for e in range(1, 6))') | $book |"
  done
fi

# ---------------------------------------------------------------------------------------------
if wants bn && needs_fmnist bn; then
  echo; echo "### README \"Batch normalization, gradient clipping and folding\": the table"
  echo "| example (10 epochs, SGD 0.01) | val. accuracy, epochs 1 / 5 / 10 | test | folded inference |"
  echo "| --- | --- | --- | --- |"
  for row in "fashion_mnist_bn_after|BN on inputs and after each ReLU" \
             "fashion_mnist_bn_before|Dense without bias → BN → ReLU" \
             "deep_elu_bn_20|20 × (Dense 100 ELU + BN), Nadam 0.001"; do
    IFS='|' read -r name what <<<"$row"
    train "examples/$name.toml" "bn_$name" 10
    echo "| \`$name\` ($what) | $(q "bn_$name" '" / ".join(val(e) for e in (1, 5, 10))') | $(q "bn_$name" 'test()') | $(q "bn_$name" 'fold()') |"
  done
fi

# ---------------------------------------------------------------------------------------------
if wants optimizers && needs_fmnist optimizers; then
  echo; echo "### README \"Optimizers\": the table (s/epoch: mean of epochs 2-3)"
  echo "| optimizer | learning rate | val. epoch 5 | val. epoch 10 | test | s/epoch |"
  echo "| --- | --- | --- | --- | --- | --- |"
  for row in "sgd|sgd|0.01" "momentum|sgd, momentum 0.9|0.01" "nesterov|sgd, Nesterov 0.9|0.01" \
             "adagrad|adagrad|0.01" "rmsprop|rmsprop|0.001" "adam|adam|0.001" "adamax|adamax|0.001" \
             "nadam|nadam|0.001" "adamw|adamw (weight decay 0.004)|0.001"; do
    IFS='|' read -r name what rate <<<"$row"
    grep -q "learning_rate = $rate\$" "examples/optimizers/$name.toml" ||
      echo "note: examples/optimizers/$name.toml no longer has learning_rate = $rate" >&2
    train "examples/optimizers/$name.toml" "opt_$name" 10
    echo "| $what | $rate | $(q "opt_$name" 'val(5)') | $(q "opt_$name" 'val(10)') | $(q "opt_$name" 'test()') | $(q "opt_$name" 'seconds(2, 3)') |"
  done
fi

# ---------------------------------------------------------------------------------------------
if wants schedules && needs_fmnist schedules; then
  echo; echo "### README \"Learning-rate schedules and the range test\": the schedule table"
  echo "| schedule | val. epoch 5 | epoch 10 | epoch 25 | best | test |"
  echo "| --- | --- | --- | --- | --- | --- |"
  for row in "constant|constant 0.01" "power|power (0.01 / (1 + t/10⁴))" \
             "exponential|exponential (0.01 · 0.1^(epoch/20))" \
             "piecewise_constant|piecewise constant (0.01, 0.005, 0.001)" \
             "reduce_on_plateau|reduce on plateau (momentum 0.9, ×0.5 after 5 flat epochs)" \
             "one_cycle|1cycle (momentum 0.95→0.85, peak 0.02)" \
             "cosine|cosine (1-epoch warm-up to 0.01, then to 0)"; do
    IFS='|' read -r name what <<<"$row"
    train "examples/schedules/$name.toml" "sch_$name" 25
    echo "| $what | $(q "sch_$name" 'val(5)') | $(q "sch_$name" 'val(10)') | $(q "sch_$name" 'val(25)') | $(q "sch_$name" 'best()') | $(q "sch_$name" 'test()') |"
  done
fi

# ---------------------------------------------------------------------------------------------
if wants regularization && needs_fmnist regularization; then
  echo; echo "### README \"Avoiding overfitting\": the table (val.: the final model's validation accuracy)"
  echo "| example | setup | val. | test | notes |"
  echo "| --- | --- | --- | --- | --- |"
  for row in "l2_elu|ELU 300-100, l2(0.01) on every kernel, SGD 0.02" \
             "dropout|dropout 0.2 before each Dense, ReLU 100-100, SGD momentum" \
             "alpha_dropout|SELU 300-100, AlphaDropout 0.2, SGD Nesterov" \
             "max_norm|ReLU 300-100, max_norm 1.0, SGD momentum" \
             "early_stopping|300-100 MLP, Adam, up to 200 epochs" \
             "augmentation|shifts ±2 px, flips, rotations ±10°; MLP, SGD momentum" \
             "l1_sparse|l1(1e-5), MLP, SGD momentum"; do
    IFS='|' read -r name what <<<"$row"
    epochs=10; [ "$name" = early_stopping ] && epochs=200
    train "examples/regularization/$name.toml" "reg_$name" "$epochs"
    notes=""
    case $name in
      l2_elu) notes=$(q reg_l2_elu '"penalty %.2f of the loss %.2f in epoch 1, %.2f of %.2f in the last" % (float(h[0]["penalty"]), float(h[0]["loss"]), float(h[-1]["penalty"]), float(h[-1]["loss"]))') ;;
      dropout) notes="train accuracy with dropout on $(q reg_dropout 'pct(h[-1]["accuracy"])'), evaluated $(q reg_dropout 'pct(s["train"]["accuracy"])')" ;;
      alpha_dropout) notes=$(dt evaluate reg_alpha_dropout --mc-samples 100 2>&1 | tail -1) ;;
      early_stopping) notes="$(grep -E 'early stopping|Restoring' reg_early_stopping.log | tr '\n' ' ')" ;;
      l1_sparse) notes="prune --threshold 0.01: $(dt prune reg_l1_sparse/model --threshold 0.01 2>&1 | grep -E '^(Before|After)' | tr '\n' ' ')" ;;
    esac
    echo "| \`$name\` | $what | $(q "reg_$name" 'pct(s["validation"]["accuracy"])') | $(q "reg_$name" 'test()') | $notes |"
  done
fi

# ---------------------------------------------------------------------------------------------
if wants transfer && needs_fmnist transfer; then
  echo; echo "### README \"Reusing pretrained layers\": the transfer table, then the pretraining paragraph"
  echo "| model | data | test accuracy | textbook (Keras) |"
  echo "| --- | --- | --- | --- |"
  mkdir -p runs
  train examples/transfer/model_a.toml runs/transfer_a 20
  train examples/transfer/model_b.toml runs/transfer_b 20
  train examples/transfer/model_b_on_a.toml runs/transfer_b_on_a 20
  echo "| A | 8 classes (no sandals, no shirts), SGD 0.001, 20 epochs | $(q runs/transfer_a 'test()') | — |"
  echo "| B, from scratch | sandal vs shirt, 200 training images, 20 epochs | $(q runs/transfer_b 'test()') | 97.05% |"
  echo "| B on A | A's three hidden layers, frozen 4 epochs, then 16 more | **$(q runs/transfer_b_on_a 'test()')** | 99.40% |"
  train examples/pretraining/autoencoder.toml runs/autoencoder 10
  train examples/pretraining/classifier_pretrained.toml runs/pretrained 30
  train examples/pretraining/classifier_scratch.toml runs/scratch 30
  echo "- autoencoder test reconstruction MSE $(q runs/autoencoder '"%.4f" % s["test"]["loss"]'); its encoder under a softmax layer: **$(q runs/pretrained 'test()')** test accuracy, against **$(q runs/scratch 'test()')** from scratch"
fi

# ---------------------------------------------------------------------------------------------
if wants mpi && [ "$quick" = 0 ]; then
  echo; echo "### README \"Training on several processes and machines (MPI)\": the scaling and cost-model tables"
  (cd "$repo" && python3 bench/mpi_scaling.py --steps 200 --rounds 2)
fi

# ---------------------------------------------------------------------------------------------
# mpi-memory: Fashion-MNIST's 60,000 training images as float32 NPY (188 MB), 784-128-10, 2
# epochs, peak RSS per process from /usr/bin/time: one process, 2 ranks each loading the whole
# set, 2 ranks with `shard = true`.
if wants mpi-memory && [ "$quick" = 0 ] && needs_fmnist mpi-memory; then
  echo; echo "### README \"Training on several processes and machines (MPI)\": the memory table"
  fm=${DEEPTRAIN_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
  python3 - "$fm" <<'PY'
import array, gzip, struct, sys
def npy(path, descr, shape, values):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, repr(tuple(shape)))
    header += " " * ((64 - (len(header) + 11) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        values.tofile(f)
images = gzip.open(sys.argv[1] + "/train-images-idx3-ubyte.gz").read()[16:]
labels = gzip.open(sys.argv[1] + "/train-labels-idx1-ubyte.gz").read()[8:]
npy("fm_x.npy", "<f4", (len(labels), 28, 28), array.array("f", array.array("B", images)))
npy("fm_y.npy", "<f4", (len(labels),), array.array("f", array.array("B", labels)))
PY
  for shard in false true; do
    cat > "mpi_memory_$shard.toml" <<SPEC
seed = 42
[data]
dataset = "fm_x.npy"
labels = "fm_y.npy"
test_split = 0.1
validation_split = 0.1
shard = $shard
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 128
activation = "relu"
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[fit]
epochs = 2
SPEC
  done
  root=(); [ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
  rss() { grep -h '^maxrss ' "$@" | awk '{printf "%s%d MB", (NR > 1 ? ", " : ""), $2 / 1000}'; }
  /usr/bin/time -f "maxrss %M" -o mem_one.time "$bin" --threads 2 train mpi_memory_false.toml --out mem_one >mem_one.log 2>&1
  mpirun --oversubscribe -n 2 "${root[@]}" bash -c '/usr/bin/time -f "maxrss %M" -o mem_all.$OMPI_COMM_WORLD_RANK.time "$0" --threads 1 train mpi_memory_false.toml --out mem_all' "$bin" >mem_all.log 2>&1
  mpirun --oversubscribe -n 2 "${root[@]}" bash -c '/usr/bin/time -f "maxrss %M" -o mem_shard.$OMPI_COMM_WORLD_RANK.time "$0" --threads 1 train mpi_memory_true.toml --out mem_shard' "$bin" >mem_shard.log 2>&1
  echo "| float32 features ($(( $(stat -c %s fm_x.npy) / 1000000 )) MB) | max RSS per process | test accuracy |"
  echo "|---|---|---|"
  echo "| one process | $(rss mem_one.time) | $(q mem_one '"%.4f" % s["test"]["accuracy"]') |"
  echo "| 2 ranks, every rank loads the whole set | $(rss mem_all.0.time mem_all.1.time) | $(q mem_all '"%.4f" % s["test"]["accuracy"]') |"
  echo "| 2 ranks, \`shard = true\` | $(rss mem_shard.0.time) (rank 0, with validation and test), $(rss mem_shard.1.time) | $(q mem_shard '"%.4f" % s["test"]["accuracy"]') |"
fi

# ---------------------------------------------------------------------------------------------
if wants speed && [ "$quick" = 0 ]; then
  echo; echo "### README \"Speed against PyTorch\": the tables"
  (cd "$repo" && python3 bench/compare.py --threads 2 --rounds 3 --binary "$bin")
fi

if wants profile; then
  echo; echo "### README \"Where the time goes\": the table"
  steps=200; [ "$quick" = 1 ] && steps=20
  (cd "$repo" && python3 bench/profile_table.py --threads 2 --steps "$steps" "$bin")
fi
