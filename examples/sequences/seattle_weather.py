"""Windows of Seattle's daily weather (2012-2015) for a one-day-ahead temperature forecast.

The data: `seattle-weather.csv` of the vega_datasets package (NOAA daily records for Seattle,
1,461 days: precipitation, temp_max, temp_min, wind), shipped offline by the Debian package
python3-vega-datasets (0.9+dfsg-1, used here) and by `pip install vega_datasets`. The script
finds it in either (without importing the package, which needs pandas), or takes --csv PATH.

Each sample is the WINDOW = 28 days before a day: (28, 6) features per step (the four
measurements, standardized with the mean and standard deviation of the training rows only,
and the day of the year as sin and cos); its target is the next day's temp_max minus the last
day's, in °C. So the naive forecast "tomorrow is as warm as today" predicts 0, and a model's
mean absolute error on the target is its forecast error in °C.

Writes data/seattle_x.npy (N, 28, 6) and data/seattle_y.npy (N,) beside this script, and prints
the naive and training-mean baselines on the validation and test rows that the spec's
`test_split = 0.25` and `validation_split = 0.2` with `shuffle = false` pick (the last rows, in
time order, split as deeptrain does: round(n·fraction) rows).

    python3 examples/sequences/seattle_weather.py [--csv PATH]
    deeptrain train examples/sequences/seattle_weather_conv1d.toml --out runs/seattle_conv1d

Versions used: Python 3.11, numpy 2.4.6.
"""

import argparse
import csv
import importlib.util
import math
from datetime import date
from pathlib import Path

import numpy

WINDOW = 28
TEST, VALIDATION = 0.25, 0.2
HERE = Path(__file__).resolve().parent
DEBIAN = Path("/usr/lib/python3/dist-packages/vega_datasets/_data/seattle-weather.csv")


def find_csv():
    spec = importlib.util.find_spec("vega_datasets")
    places = [Path(p) / "_data" / "seattle-weather.csv" for p in (spec.submodule_search_locations or [])] if spec else []
    for path in places + [DEBIAN]:
        if path.is_file():
            return path
    raise SystemExit("seattle-weather.csv not found: install python3-vega-datasets (apt) or vega_datasets (pip), or pass --csv PATH")


def held(n, fraction):
    return math.floor(n * fraction + 0.5)  # Rust's f64::round: half away from zero


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", type=Path, help="seattle-weather.csv (default: from vega_datasets)")
    args = parser.parse_args()
    path = args.csv or find_csv()
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    days = [date(*map(int, r["date"].split("/"))) for r in rows]
    measures = numpy.array(
        [[float(r[k]) for k in ("temp_max", "temp_min", "precipitation", "wind")] for r in rows]
    )
    n = len(rows) - WINDOW  # windows: days [i, i + WINDOW) predict day i + WINDOW
    n_test = held(n, TEST)
    n_val = held(n - n_test, VALIDATION)
    n_train = n - n_test - n_val
    # Statistics of the days the training windows read (and no later day).
    seen = measures[: n_train + WINDOW - 1]
    mean, std = seen.mean(axis=0), seen.std(axis=0)
    angle = numpy.array([2 * math.pi * d.timetuple().tm_yday / 365.25 for d in days])
    features = numpy.column_stack([(measures - mean) / std, numpy.sin(angle), numpy.cos(angle)])
    x = numpy.stack([features[i : i + WINDOW] for i in range(n)]).astype(numpy.float32)
    today = measures[WINDOW - 1 : WINDOW - 1 + n, 0]
    tomorrow = measures[WINDOW : WINDOW + n, 0]
    y = (tomorrow - today).astype(numpy.float32)
    out = HERE / "data"
    out.mkdir(exist_ok=True)
    numpy.save(out / "seattle_x.npy", x)
    numpy.save(out / "seattle_y.npy", y)
    print(f"{path}: {len(rows)} days {days[0]} .. {days[-1]}")
    print(f"wrote {out}/seattle_x.npy {x.shape} and seattle_y.npy {y.shape}")
    print(f"rows: train {n_train}, validation {n_val}, test {n_test} (in time order)")
    train_mean = y[:n_train].mean()
    for name, part in (("validation", slice(n_train, n_train + n_val)), ("test", slice(n - n_test, n))):
        t = y[part]
        print(
            f"{name} ({days[WINDOW + part.start]} .. {days[WINDOW + part.stop - 1]}): "
            f"naive (no change) MAE {numpy.abs(t).mean():.3f} °C, MSE {(t ** 2).mean():.3f}; "
            f"training-mean change MAE {numpy.abs(t - train_mean).mean():.3f} °C"
        )


if __name__ == "__main__":
    main()
