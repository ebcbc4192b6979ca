#!/usr/bin/env python3
"""Writes each case's step budget (`steps`) and where it comes from (`steps_source`) into cases.csv.

Standard library only (reads .npy headers, counts .csv rows). The budget is the source's training
length, epochs x batches per epoch, as the source trains (the spec's `[fit] epochs` and
`batch_size`, which repeat the source's; the batches per epoch from the training rows after
`test_split`, `validation_split` and `max_train_samples`, rounded as deeptrain splits), clamped to
[MIN_STEPS, MAX_STEPS]:
- MAX_STEPS = 2000 keeps the whole benchmark runnable in minutes on two cores;
- MIN_STEPS = 300, the benchmark's earlier uniform budget: the curve rules read ten blocks of the
  run, and a source shorter than that leaves too few steps to tell a trend from noise.
Cases whose training configuration is not published (their header says so) get DEFAULT_STEPS.

    python3 bench/diagnosis/budgets.py          # rewrite the two columns of cases.csv
"""
import ast
import csv
import math
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
MIN_STEPS, MAX_STEPS, DEFAULT_STEPS = 300, 2000, 300
DIGITS_ROWS, DIGITS_TEST_FRACTION = 1797, 0.2
# The source trains longer than the spec's epochs (the spec's header says "N epochs instead of M").
INSTEAD = re.compile(r"(\d+) epochs instead of (\d+)")


def toml_value(text, section, key):
    m = re.search(r"^\[" + re.escape(section) + r"\]\s*$(.*?)(?=^\[|\Z)", text, re.S | re.M)
    if not m:
        return None
    v = re.search(r"^" + re.escape(key) + r"\s*=\s*(.+?)\s*$", m.group(1), re.M)
    return ast.literal_eval(v.group(1).replace("true", "True").replace("false", "False")) if v else None


def rows_of(dataset, spec_dir):
    if dataset == "digits":
        return DIGITS_ROWS, DIGITS_TEST_FRACTION
    if dataset == "fashion-mnist":
        return 60000, 0.0
    path = os.path.join(spec_dir, dataset)
    if path.endswith(".npy"):
        with open(path, "rb") as f:
            f.read(8)
            n = int.from_bytes(f.read(2), "little")
            header = ast.literal_eval(f.read(n).decode("latin1"))
        return header["shape"][0], 0.0
    with open(path) as f:
        return sum(1 for line in f if line.strip()) - 1, 0.0


def budget(case_id):
    spec_path = os.path.join(HERE, "cases", case_id + ".toml")
    text = open(spec_path).read()
    header = "\n".join(l for l in text.splitlines() if l.lstrip().startswith("#"))
    if "not published" in header:
        return DEFAULT_STEPS, f"source's training configuration not published: default {DEFAULT_STEPS}"
    epochs, batch = toml_value(text, "fit", "epochs"), toml_value(text, "fit", "batch_size")
    n, default_test = rows_of(toml_value(text, "data", "dataset"), os.path.dirname(spec_path))
    test = toml_value(text, "data", "test_split") or default_test
    n -= round(n * test)
    if toml_value(text, "data", "max_train_samples"):
        n = min(n, toml_value(text, "data", "max_train_samples"))
    for section in ("data", "fit"):
        val = toml_value(text, section, "validation_split")
        if val:
            n -= round(n * val)
    per_epoch = math.ceil(n / batch)
    m = INSTEAD.search(header)
    how = "spec's [fit] epochs"
    if m and int(m.group(1)) == epochs:
        epochs, how = int(m.group(2)), "source's epochs (spec header: " + m.group(0) + ")"
    total = epochs * per_epoch
    steps = min(MAX_STEPS, max(MIN_STEPS, total))
    return steps, f"{how} {epochs} x {per_epoch} batches of {batch} ({n} rows) = {total}, clamped to [{MIN_STEPS}, {MAX_STEPS}]"


def main():
    path = os.path.join(HERE, "cases.csv")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = list(reader.fieldnames), list(reader)
    for col in ("steps", "steps_source"):
        if col not in fields:
            fields.insert(fields.index("label_source") + 1 if col == "steps" else fields.index("steps") + 1, col)
    for r in rows:
        if r["kind"] in ("broken", "healthy"):
            r["steps"], r["steps_source"] = budget(r["id"])
        else:
            r["steps"], r["steps_source"] = "", ""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
