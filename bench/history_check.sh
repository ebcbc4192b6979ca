#!/usr/bin/env bash
# Runs every example spec with one binary and keeps each run's history.csv without its
# `seconds` column, so that two builds can be compared: a refactor must give the same numbers.
#
#   bench/history_check.sh BINARY OUT_DIR [EPOCHS [SPEC...]]   (default 1 epoch, every example)
#   diff -r OLD_OUT NEW_OUT                            (no output: the same histories)
#
# Runs from a scratch directory, so `runs/...` paths in the transfer and pretraining examples
# resolve to the models the earlier examples wrote; the thread count is fixed (2).
set -euo pipefail
bin=$(realpath "$1"); out=$(mkdir -p "$2" && realpath "$2"); epochs=${3:-1}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ln -s "$repo/examples" "$work/examples"
cd "$work"
# Models other examples start from go first.
specs=$(cd "$repo" && { ls examples/transfer/model_a.toml examples/pretraining/autoencoder.toml; find examples -name '*.toml' | sort; } | awk '!seen[$0]++')
[ $# -gt 3 ] && specs="${*:4}"
for spec in $specs; do
  name=$(echo "${spec#examples/}" | tr '/' '_'); name=${name%.toml}
  # The run directory the example's own comment gives (`--out runs/...`), else the default.
  run=$(grep -o -- '--out runs/[A-Za-z0-9_./-]*' "$spec" | head -1 | cut -d' ' -f2 || true)
  run=${run:-runs/$(basename "$spec" .toml)}
  if "$bin" train "$spec" --epochs "$epochs" --threads 2 --out "$run" >"$out/$name.log" 2>&1; then
    python3 - "$run/history.csv" >"$out/$name.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
keep = [i for i, h in enumerate(rows[0]) if h != "seconds"]
for r in rows:
    print(",".join(r[i] for i in keep))
PY
  else
    echo "FAILED (see $name.log)" >"$out/$name.csv"
  fi
  echo "$name: $(tail -1 "$out/$name.csv")"
done
