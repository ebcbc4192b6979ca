"""Runs the code of Géron's notebook for chapter 11 (handson_ml3_ch11.py, its code cells
unchanged) on deeptrain, with only the TensorFlow imports replaced by deeptrain's:

    import tensorflow as tf        ->  import deeptrain as tf    (so tf.keras is deeptrain.keras)
    from tensorflow import keras   ->  from deeptrain import keras
    import keras[.layers]          ->  from deeptrain import keras

Every cell runs in order, in one namespace, as in Jupyter; the report says for each cell
whether it ran, failed (the exception, first line) or was skipped (an IPython magic, or a
module that is neither TensorFlow nor deeptrain and is not installed, e.g. scipy).

To run in seconds, the harness (not the cells) shrinks the work: Fashion-MNIST's training
set is cut to the first ``--train`` + 5000 images (the notebook keeps the last 5000 for
validation) and the test set to ``--test``; ``fit`` runs at most ``--epochs`` epochs and
validates on the first ``--valid`` samples of ``validation_data``. When matplotlib is not
installed, ``matplotlib.pyplot`` is a stand-in that draws nothing (the figures are not what
is tested).

    python python/notebook/run_notebook.py [--train 1000] [--test 500] [--epochs 1]
"""

import argparse
import io
import pathlib
import re
import sys
import traceback
import types

CELLS = pathlib.Path(__file__).with_name("handson_ml3_ch11.py")

IMPORTS = [
    (re.compile(r"^import tensorflow as tf$", re.M), "import deeptrain as tf"),
    (re.compile(r"^from tensorflow import keras$", re.M), "from deeptrain import keras"),
    (re.compile(r"^import keras(\.\w+)*$", re.M), "from deeptrain import keras"),
]


def cells(path=CELLS):
    """[(index, source)] of the vendored notebook's code cells."""
    text = path.read_text(encoding="utf-8")
    parts = re.split(r"^# %% \[cell (\d+)\]\n", text, flags=re.M)
    return [(int(parts[i]), parts[i + 1]) for i in range(1, len(parts), 2)]


def replace_imports(source):
    for pattern, replacement in IMPORTS:
        source = pattern.sub(replacement, source)
    return source


class _Nothing:
    """matplotlib's stand-in: every attribute and call gives another stand-in."""

    def __getattr__(self, name):
        return _Nothing()

    def __call__(self, *args, **kwargs):
        return _Nothing()


def _stand_in_matplotlib():
    try:
        import matplotlib  # noqa: F401

        matplotlib.use("Agg")
        return
    except ImportError:
        pass
    matplotlib = types.ModuleType("matplotlib")
    pyplot = types.ModuleType("matplotlib.pyplot")
    pyplot.__getattr__ = lambda name: _Nothing()
    matplotlib.pyplot = pyplot
    sys.modules["matplotlib"] = matplotlib
    sys.modules["matplotlib.pyplot"] = pyplot


def _shrink(train, test, epochs, valid):
    """The harness' slice of the work: fewer images, epochs and validation samples."""
    from deeptrain.keras import models
    from deeptrain.keras.datasets import fashion_mnist

    load = fashion_mnist.load_data

    def load_data(path=None):
        (x, y), (xt, yt) = load(path)
        return (x[: train + 5000], y[: train + 5000]), (xt[:test], yt[:test])

    fashion_mnist.load_data = load_data
    fit = models.Model.fit

    def fit_shrunk(self, x=None, y=None, *args, epochs=1, validation_data=None, verbose="auto", **kwargs):
        if validation_data is not None:
            validation_data = tuple(part[:valid] for part in validation_data)
        return fit(self, x, y, *args, epochs=min(epochs, max_epochs), validation_data=validation_data, verbose=0, **kwargs)

    max_epochs = epochs
    models.Model.fit = fit_shrunk


def run(train=1000, test=500, epochs=1, valid=500, workdir=None, echo=False):
    """Runs every cell; returns [(index, status, detail)], status "ok", "failed" or
    "skipped"."""
    import os

    _stand_in_matplotlib()
    _shrink(train, test, epochs, valid)
    if workdir is not None:
        os.chdir(workdir)
    namespace = {"__name__": "__main__"}
    results = []
    for index, source in cells():
        if re.search(r"^\s*%", source, re.M):
            results.append((index, "skipped", "IPython magic"))
            continue
        code = replace_imports(source)
        captured = io.StringIO()
        stdout = sys.stdout
        sys.stdout = captured if not echo else stdout
        try:
            exec(compile(code, f"<cell {index}>", "exec"), namespace)
            status, detail = "ok", ""
        except ModuleNotFoundError as e:
            if e.name and e.name.split(".")[0] not in ("tensorflow", "keras", "deeptrain"):
                status, detail = "skipped", f"needs {e.name} (not installed)"
            else:
                status, detail = "failed", f"ModuleNotFoundError: {e}"
        except Exception as e:  # noqa: BLE001 - every failure is the report's subject
            line = traceback.extract_tb(e.__traceback__)
            where = next((f.lineno for f in reversed(line) if f.filename == f"<cell {index}>"), None)
            first = str(e).splitlines()[0] if str(e) else ""
            status, detail = "failed", f"line {where}: {type(e).__name__}: {first}"
        finally:
            sys.stdout = stdout
        results.append((index, status, detail))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--test", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--valid", type=int, default=500)
    parser.add_argument("--workdir", default=None, help="where the cells write their files (default: here)")
    parser.add_argument("--echo", action="store_true", help="show what the cells print")
    args = parser.parse_args(argv)
    results = run(args.train, args.test, args.epochs, args.valid, args.workdir, args.echo)
    for index, status, detail in results:
        print(f"cell {index:3d}  {status:7s}  {detail}")
    counts = {s: sum(1 for _, t, _ in results if t == s) for s in ("ok", "failed", "skipped")}
    print(f"{len(results)} cells: {counts['ok']} ran, {counts['failed']} failed, {counts['skipped']} skipped")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
