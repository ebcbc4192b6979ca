"""Reads a deeptrain run's TensorBoard logs with the real TensorBoard and checks them.

Usage: python3 tests/scripts/check_tensorboard.py LOG_DIR HISTORY_CSV
Needs: pip install tensorboard==2.21.0 (tests/tensorboard.rs runs it).

Checks, with tensorboard.backend.event_processing.event_accumulator:
- LOG_DIR/train has epoch_loss, epoch_accuracy, epoch_learning_rate scalars equal (float32) to
  history.csv's loss, accuracy and lr columns, one per epoch; LOG_DIR/validation has epoch_loss
  equal to val_loss;
- LOG_DIR/train has histograms of every Dense kernel, its gradient and each layer's activation,
  whose counts sum to the tensor sizes given on the command line as NAME=COUNT;
- update_ratio/<layer> and grad_norm/<layer> scalars exist and are positive; dead_fraction/<layer>
  (the ReLU layer) lies in [0, 1].
Prints one line per check; exits 1 with the reason on the first failure.
"""
import csv
import sys

from tensorboard.backend.event_processing import event_accumulator


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def load(path):
    acc = event_accumulator.EventAccumulator(
        path, size_guidance={event_accumulator.SCALARS: 0, event_accumulator.HISTOGRAMS: 0}
    )
    acc.Reload()
    return acc


log_dir, history_csv = sys.argv[1], sys.argv[2]
sizes = dict(a.split("=") for a in sys.argv[3:])
rows = list(csv.DictReader(open(history_csv)))
train = load(log_dir + "/train")
validation = load(log_dir + "/validation")
tags = train.Tags()
print("train scalars:", sorted(tags["scalars"]))
print("train histograms:", sorted(tags["histograms"]))


def same(series, column, tag):
    if len(series) != len(rows):
        fail(f"{tag}: {len(series)} events for {len(rows)} epochs")
    for event, row in zip(series, rows):
        want = float(row[column])
        if abs(event.value - want) > 1e-6 * max(1.0, abs(want)):
            fail(f"{tag} at step {event.step}: {event.value} vs history {want}")
        if event.step != int(row["epoch"]) - 1:
            fail(f"{tag}: step {event.step} for epoch {row['epoch']}")
    print(f"ok {tag} = history {column} over {len(rows)} epochs")


same(train.Scalars("epoch_loss"), "loss", "train/epoch_loss")
same(train.Scalars("epoch_accuracy"), "accuracy", "train/epoch_accuracy")
same(train.Scalars("epoch_learning_rate"), "lr", "train/epoch_learning_rate")
same(validation.Scalars("epoch_loss"), "val_loss", "validation/epoch_loss")
for tag, count in sizes.items():
    if tag not in tags["histograms"]:
        fail(f"no histogram {tag}")
    for h in train.Histograms(tag):
        v = h.histogram_value
        if abs(sum(v.bucket) - float(count)) > 0.5 or v.num != float(count):
            fail(f"{tag}: counts {sum(v.bucket)} / num {v.num}, expected {count}")
        if not (v.min <= v.max):
            fail(f"{tag}: min {v.min} > max {v.max}")
    print(f"ok histogram {tag}: {len(train.Histograms(tag))} steps of {count} values")
ratios = [t for t in tags["scalars"] if t.startswith("update_ratio/")]
if not ratios:
    fail("no update_ratio/ scalars")
for t in ratios:
    if not all(e.value > 0 for e in train.Scalars(t)):
        fail(f"{t}: a ratio is not positive")
print(f"ok update ratios: {', '.join(sorted(ratios))}")
norms = [t for t in tags["scalars"] if t.startswith("grad_norm/")]
if not norms:
    fail("no grad_norm/ scalars")
for t in norms:
    if not all(e.value > 0 for e in train.Scalars(t)):
        fail(f"{t}: a gradient norm is not positive")
dead = [t for t in tags["scalars"] if t.startswith("dead_fraction/")]
if not dead:
    fail("no dead_fraction/ scalars (the ReLU layer)")
for t in dead:
    if not all(0 <= e.value <= 1 for e in train.Scalars(t)):
        fail(f"{t}: a fraction outside [0, 1]")
print(f"ok instruments: {', '.join(sorted(norms + dead))}")
