#!/usr/bin/env bash
# Runs every example spec with one binary and keeps each run's history.csv without its
# `seconds` column, so that two builds can be compared: a refactor must give the same numbers.
#
#   bench/history_check.sh BINARY OUT_DIR [EPOCHS [SPEC...]]   (default 1 epoch, every example)
#   diff -r OLD_OUT NEW_OUT                            (no output: the same histories)
#
# Runs from a scratch directory, so `runs/...` paths in the transfer and pretraining examples
# resolve to the models the earlier examples wrote; the thread count is fixed (2).
#
# An example whose data a script makes first (its comment says `python3 examples/....py`, as
# the Seattle weather ones do) has the script run once, into the scratch copy of examples/,
# with $PYTHON (default python3; it needs numpy). Where the script fails (no numpy, or the
# data it reads is not installed), the example is SKIPPED with the script's last line, which
# is not a failure: each OUT_DIR/NAME.csv then says `SKIPPED (...)`. The last line counts the
# examples compared, failed and skipped.
set -euo pipefail
bin=$(realpath "$1"); out=$(mkdir -p "$2" && realpath "$2"); epochs=${3:-1}
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A copy, so that data the examples' scripts write stays out of the repository; the
# repository's data/ beside it, which specs read as `../data/...`.
cp -R "$repo/examples" "$work/examples"
ln -s "$repo/data" "$work/data"
cd "$work"
ran=0; failed=0; skipped=0
# Models other examples start from go first.
specs=$(cd "$repo" && { ls examples/transfer/model_a.toml examples/pretraining/autoencoder.toml; find examples -name '*.toml' | sort; } | awk '!seen[$0]++')
[ $# -gt 3 ] && specs="${*:4}"
for spec in $specs; do
  name=$(echo "${spec#examples/}" | tr '/' '_'); name=${name%.toml}
  # The run directory the example's own comment gives (`--out runs/...`), else the default.
  run=$(grep -o -- '--out runs/[A-Za-z0-9_./-]*' "$spec" | head -1 | cut -d' ' -f2 || true)
  run=${run:-runs/$(basename "$spec" .toml)}
  # The script that makes the example's data, run once where the data is missing; its
  # failure skips the example.
  maker=$(grep -o -- 'python3 examples/[A-Za-z0-9_./-]*\.py' "$spec" | head -1 | cut -d' ' -f2 || true)
  data=$(grep -m1 -o '^dataset = "[^"]*"' "$spec" | cut -d'"' -f2 || true)
  made=$work/made_$(basename "${maker:-none}")
  if [ -n "$maker" ] && [ -n "$data" ] && [ ! -e "$(dirname "$spec")/$data" ] && [ ! -e "$made" ]; then
    "$python" "$maker" >"$made" 2>&1 || echo "FAILED" >>"$made"
  fi
  if [ -e "$made" ] && [ "$(tail -1 "$made")" = "FAILED" ]; then
    reason=$(tail -2 "$made" | head -1)
    echo "SKIPPED (its data is made by $maker, which failed: $reason)" >"$out/$name.csv"
    skipped=$((skipped + 1))
  elif "$bin" train "$spec" --epochs "$epochs" --threads 2 --out "$run" >"$out/$name.log" 2>&1; then
    python3 - "$run/history.csv" >"$out/$name.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
keep = [i for i, h in enumerate(rows[0]) if h != "seconds"]
for r in rows:
    print(",".join(r[i] for i in keep))
PY
    ran=$((ran + 1))
  else
    echo "FAILED (see $name.log)" >"$out/$name.csv"
    failed=$((failed + 1))
  fi
  echo "$name: $(tail -1 "$out/$name.csv")"
done
echo "$ran examples trained, $failed failed, $skipped skipped (their data could not be made here)"
