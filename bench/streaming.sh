#!/usr/bin/env bash
# Training rows streamed from disk ([data] stream = true) on a features file larger than the
# memory the process may use, against the same rows in memory.
#
#   bench/streaming.sh BIN [WORKDIR]      (BIN: a release deeptrain; WORKDIR is deleted after)
#
# 1. Writes big.npy: Fashion-MNIST's 60,000 training images as float32, repeated to ROWS rows
#    (default 800,000: 2.51 GB), and small.npy, its first SMALL rows (default 60,000).
# 2. Under `ulimit -v LIMIT_KB` (default 1,200,000 KiB, under half the file): the in-memory
#    run of big.npy is refused; the streamed run trains the first SMALL rows of big.npy (a few
#    hundred steps), then one epoch over every row of it.
# 3. Without the limit, alternating: small.npy in memory and streamed. The streamed run of
#    big.npy's first SMALL rows must give the in-memory run's weights, byte for byte.
# Throughput: training rows / the epoch's seconds in history.csv (the loop, not the loading).
# Needs python3 with numpy (PYTHON=...), and the Fashion-MNIST IDX files
# ($DEEPTRAIN_FASHION_MNIST, else /usr/share/datasets/fashion-mnist).
set -euo pipefail
BIN=$(realpath "${1:?usage: bench/streaming.sh BIN [WORKDIR]}")
WORK=${2:-$(mktemp -d)}
PYTHON=${PYTHON:-python3}
ROWS=${ROWS:-800000}
SMALL=${SMALL:-60000}
LIMIT_KB=${LIMIT_KB:-1200000}
FMNIST=${DEEPTRAIN_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

need_kb=$(( (ROWS + SMALL) * 784 * 4 / 1024 + 1048576 ))
free_kb=$(df -Pk . | awk 'NR == 2 { print $4 }')
if (( free_kb < need_kb )); then
    echo "streaming.sh: $WORK has $free_kb KiB free, the files need $need_kb" >&2
    exit 1
fi

"$PYTHON" - "$FMNIST" "$ROWS" "$SMALL" <<'EOF'
import gzip, sys
import numpy as np
src, rows, small = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with gzip.open(f"{src}/train-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
with gzip.open(f"{src}/train-labels-idx1-ubyte.gz") as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
n = len(images)
big = np.lib.format.open_memmap("big.npy", mode="w+", dtype=np.float32, shape=(rows, 784))
for start in range(0, rows, n):
    end = min(rows, start + n)
    big[start:end] = images[: end - start]
big.flush()
np.save("y_big.npy", np.resize(labels, rows))
np.save("small.npy", np.asarray(big[:small]))
np.save("y_small.npy", np.resize(labels, rows)[:small])
EOF
echo "big.npy: $(du -m big.npy | cut -f1) MB ($ROWS rows of 784 float32); limit: ulimit -v $LIMIT_KB KiB"

# spec NAME FEATURES LABELS STREAM MAX_ROWS
spec() {
    cat > "$1.toml" <<EOF
seed = 42
[data]
dataset = "$2"
labels = "$3"
validation_split = 0.05
scale = "unit"
stream = $4
max_train_samples = $5
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
units = 300
activation = "relu"
[[layers]]
type = "dense"
units = 100
activation = "relu"
[[layers]]
type = "dense"
units = 10
activation = "softmax"
[optimizer]
name = "sgd"
learning_rate = 0.01
[fit]
epochs = 1
batch_size = 128
EOF
}
spec big_memory big.npy y_big.npy false "$ROWS"
spec big_stream big.npy y_big.npy true "$SMALL"
spec big_stream_all big.npy y_big.npy true "$ROWS"
spec small_memory small.npy y_small.npy false "$SMALL"
spec small_stream small.npy y_small.npy true "$SMALL"

# rate RUN: training rows per second of the run's one epoch.
rate() {
    local rows
    rows=$(sed -n 's/^Training on \([0-9]*\) samples.*/\1/p' "$1.log")
    awk -F, -v rows="$rows" 'NR == 2 { printf "%.0f", rows / $NF }' "$1/history.csv"
}
run() {
    rm -rf "$1"
    "$BIN" train "$1.toml" --out "$1" > "$1.log" 2>&1
}
limited() {
    (ulimit -v "$LIMIT_KB" && run "$1")
}

echo "== under ulimit -v $LIMIT_KB KiB"
if limited big_memory; then
    echo "in memory: trained (unexpected)"; exit 1
fi
echo "in memory: refused: $(tail -1 big_memory.log)"
limited big_stream
echo "streamed, first $SMALL rows: $(grep -c . big_stream/history.csv) lines of history, $(rate big_stream) rows/s"
limited big_stream_all
echo "streamed, all $ROWS rows: $(sed -n 's/^\(Training on .*\)/\1/p' big_stream_all.log); $(rate big_stream_all) rows/s"

echo "== no limit, alternating (small.npy: the same $SMALL rows)"
memory=() streamed=()
for round in 1 2; do
    run small_memory
    memory+=("$(rate small_memory)")
    run small_stream
    streamed+=("$(rate small_stream)")
    echo "round $round: in memory ${memory[-1]} rows/s, streamed ${streamed[-1]} rows/s"
done
for r in small_stream big_stream; do
    if cmp -s small_memory/model/weights.safetensors "$r/model/weights.safetensors"; then
        echo "$r: the in-memory run's weights, byte for byte"
    else
        echo "$r: weights differ from the in-memory run's"; exit 1
    fi
done
awk -v m="${memory[*]}" -v s="${streamed[*]}" 'BEGIN {
    split(m, a, " "); split(s, b, " ");
    best_m = a[1] > a[2] ? a[1] : a[2]; best_s = b[1] > b[2] ? b[1] : b[2];
    printf "best of 2: streamed %d rows/s = %.2f of in memory (%d rows/s)\n", best_s, best_s / best_m, best_m }'
