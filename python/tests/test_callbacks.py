"""Python callbacks run from deeptrain's loop: they see Keras' events and logs, set the
learning rate per batch (the chapter's 1cycle callback) and stop training; the built-in
callbacks are deeptrain's; Ctrl-C stops training between two steps; the GIL is released."""

import math
import os
import signal
import threading
import time

import numpy as np
import pytest

import deeptrain
from deeptrain import keras


@pytest.fixture(scope="module")
def digits():
    (x, y), _ = deeptrain._core.digits()
    return x / 16.0, y.reshape(-1)


def model(seed=1, lr=0.05, schedule=None):
    keras.utils.set_random_seed(seed)
    m = keras.Sequential([keras.Input(shape=(8, 8)), keras.layers.Flatten(), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    m.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=schedule or lr), metrics=["accuracy"])
    return m


class Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append(("train_begin", self.params["epochs"], self.params["steps"]))

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch_begin", epoch))

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(("batch_end", batch, sorted(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch, dict(logs)))

    def on_train_end(self, logs=None):
        self.events.append(("train_end",))


def test_events_and_logs(digits):
    x, y = digits
    recorder = Recorder()
    history = model().fit(x, y, epochs=2, batch_size=500, validation_split=0.25, callbacks=[recorder], verbose=0)
    steps = math.ceil(len(x) * 0.75 / 500)  # the last 25% validate
    assert recorder.events[0] == ("train_begin", 2, steps)
    assert recorder.events[1] == ("epoch_begin", 0)
    assert recorder.events[2] == ("batch_end", 0, ["accuracy", "loss"])
    ends = [e for e in recorder.events if e[0] == "epoch_end"]
    assert [e[2]["val_loss"] for e in ends] == history.history["val_loss"]
    assert recorder.events[-1] == ("train_end",)
    assert len(recorder.events) == 1 + 2 * (2 + steps) + 1


class OneCycle(keras.callbacks.Callback):
    """The chapter's 1cycle scheduler: the rate per batch, up then down."""

    def __init__(self, iterations, max_rate, start_rate=None):
        super().__init__()
        self.iterations, self.max_rate = iterations, max_rate
        self.start_rate = start_rate or max_rate / 10
        self.half = iterations // 2
        self.iteration = 0
        self.seen = []

    def _interpolate(self, i1, i2, r1, r2):
        return (r2 - r1) * (self.iteration - i1) / (i2 - i1) + r1

    def on_batch_begin(self, batch, logs=None):
        if self.iteration < self.half:
            rate = self._interpolate(0, self.half, self.start_rate, self.max_rate)
        else:
            rate = self._interpolate(self.half, self.iterations, self.max_rate, self.start_rate)
        self.iteration += 1
        self.model.optimizer.learning_rate = rate
        self.seen.append(float(self.model.optimizer.learning_rate))


def test_a_python_callback_sets_the_rate_of_every_batch(digits):
    x, y = digits
    steps = math.ceil(len(x) / 128)
    cycle = OneCycle(iterations=2 * steps, max_rate=0.5)
    m = model()
    m.fit(x, y, epochs=2, batch_size=128, callbacks=[cycle], verbose=0)
    assert len(cycle.seen) == 2 * steps
    assert max(cycle.seen) == pytest.approx(0.5, rel=1e-6)
    assert m.optimizer.learning_rate == pytest.approx(cycle.seen[-1], rel=1e-6)


class Exponential(keras.callbacks.Callback):
    """η₀ · r^(t/s) per step, set from Python."""

    def on_train_batch_begin(self, batch, logs=None):
        t = self.model.optimizer.iterations if False else self.step
        self.model.optimizer.learning_rate.assign(0.1 * 0.5 ** (t / 10))
        self.step += 1

    def on_train_begin(self, logs=None):
        self.step = 0


def test_rates_set_from_python_train_as_the_built_in_schedule(digits):
    x, y = digits
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    built_in = model(seed=4, schedule=schedule).fit(x, y, epochs=2, batch_size=64, verbose=0).history
    from_python = model(seed=4, lr=0.1).fit(x, y, epochs=2, batch_size=64, callbacks=[Exponential()], verbose=0).history
    for name in built_in:
        np.testing.assert_allclose(from_python[name], built_in[name], rtol=1e-5, err_msg=name)


def test_a_zero_rate_set_per_batch_leaves_the_weights(digits):
    x, y = digits

    class Freeze(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.model.optimizer.learning_rate = 0.0

    m = model()
    before = m.get_weights()
    m.fit(x, y, epochs=1, callbacks=[Freeze()], verbose=0)
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_stop_training_within_an_epoch_and_at_its_end(digits):
    x, y = digits

    class StopAfter(keras.callbacks.Callback):
        def __init__(self, batches):
            super().__init__()
            self.batches, self.done = batches, 0

        def on_train_batch_end(self, batch, logs=None):
            self.done += 1
            if self.done == self.batches:
                self.model.stop_training = True

    m = model()
    history = m.fit(x, y, epochs=5, batch_size=32, validation_split=0.1, callbacks=[StopAfter(7)], verbose=0)
    assert m.optimizer.iterations == 7
    assert len(history.history["loss"]) == 1 and np.isfinite(history.history["val_loss"][0])

    class StopAtEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    m = model()
    history = m.fit(x, y, epochs=5, batch_size=256, callbacks=[StopAtEpoch()], verbose=0)
    assert len(history.history["loss"]) == 2
    assert m.optimizer.iterations == 2 * math.ceil(len(x) / 256)


def test_an_exception_in_a_callback_reaches_the_caller(digits):
    x, y = digits

    class Broken(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 3:
                raise ZeroDivisionError("from the callback")

    m = model()
    with pytest.raises(ZeroDivisionError, match="from the callback"):
        m.fit(x, y, epochs=3, callbacks=[Broken()], verbose=0)
    assert m.optimizer.iterations <= 5  # stopped at once, not after three epochs


def test_built_in_callbacks(digits, tmp_path, monkeypatch):
    x, y = digits
    monkeypatch.chdir(tmp_path)
    stopper = keras.callbacks.EarlyStopping(monitor="loss", min_delta=10.0, patience=1)
    logger = keras.callbacks.CSVLogger("log.csv")
    checkpoint = keras.callbacks.ModelCheckpoint("best", monitor="val_loss", save_best_only=True)
    scheduler = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    m = model()
    history = m.fit(x, y, epochs=10, validation_split=0.1, callbacks=[stopper, logger, checkpoint, scheduler], verbose=0)
    # No epoch improves the loss by 10: the first sets the best, the next two do not.
    assert len(history.history["loss"]) == 2
    assert m.optimizer.learning_rate == pytest.approx(0.1 / 2)
    lines = (tmp_path / "log.csv").read_text().splitlines()
    # Keras' CSVLogger sorts the columns.
    assert len(lines) == 3 and lines[0] == "epoch,accuracy,learning_rate,loss,val_accuracy,val_loss"
    best = keras.models.load_model(tmp_path / "best")
    assert best.count_params() == m.count_params()
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0)
    m = model(lr=0.08)
    m.fit(x, y, epochs=3, callbacks=[plateau], verbose=0)
    # The first epoch sets the best; the next two are plateaus at min_delta 10: halved twice.
    assert m.optimizer.learning_rate == pytest.approx(0.02, rel=1e-6)


def test_ctrl_c_stops_training_between_steps(digits):
    x, y = digits
    m = model()
    # Python's own handler, whatever the suite was started with: a background job of a
    # non-interactive shell starts with SIGINT ignored, and Python keeps that.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    start = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            m.fit(x, y, epochs=10_000, batch_size=1, verbose=0)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - start < 5.0
    steps = m.optimizer.iterations
    assert 0 < steps < 10_000 * len(x)
    assert all(np.isfinite(w).all() for w in m.get_weights())
    m.fit(x, y, epochs=1, verbose=0)  # the model is usable afterwards


def test_training_releases_the_gil(digits):
    x, y = digits
    m = model()
    done = threading.Event()
    ticks = []

    def train():
        m.fit(x, y, epochs=300, batch_size=8, verbose=0)
        done.set()

    worker = threading.Thread(target=train)
    worker.start()
    while not done.is_set():
        ticks.append(time.monotonic())
        time.sleep(0.001)
    worker.join()
    # The main thread kept running while the other trained.
    assert len(ticks) > 20


def test_a_callback_reads_the_weights_at_each_epoch_end(digits):
    x, y = digits

    class KeepBest(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.snapshots = []

        def on_epoch_end(self, epoch, logs=None):
            self.snapshots.append((self.model.get_weights(), self.model.layers[1].get_weights()))

    keep = KeepBest()
    m = model()
    m.fit(x, y, epochs=2, callbacks=[keep], verbose=0)
    assert len(keep.snapshots) == 2
    assert not np.array_equal(keep.snapshots[0][0][0], keep.snapshots[1][0][0])
    for a, b in zip(keep.snapshots[1][0], m.get_weights()):
        np.testing.assert_array_equal(a, b)  # the last epoch's are the final weights
    np.testing.assert_array_equal(keep.snapshots[1][1][0], m.layers[1].get_weights()[0])


def test_learning_rate_scheduler_takes_the_chapter_schedules(digits):
    """schedule(epoch) (Keras' older form) and schedule(epoch, lr); the rate goes into the
    history as Keras 3's `learning_rate`, as ReduceLROnPlateau's does."""
    x, y = digits
    m = model()
    history = m.fit(x, y, epochs=3, verbose=0, callbacks=[keras.callbacks.LearningRateScheduler(lambda epoch: 0.01 * 0.1 ** (epoch / 20))])
    np.testing.assert_allclose(history.history["learning_rate"], [0.01 * 0.1 ** (e / 20) for e in range(3)], rtol=1e-6)
    history = model().fit(x, y, epochs=2, verbose=0, callbacks=[keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)])
    np.testing.assert_allclose(history.history["learning_rate"], [0.025, 0.0125], rtol=1e-6)
    history = model().fit(x, y, epochs=2, verbose=0, validation_split=0.2, callbacks=[keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=5)])
    assert history.history["learning_rate"] == pytest.approx([0.05, 0.05])


def test_keys_a_callback_adds_to_the_epoch_logs_reach_the_history(digits):
    x, y = digits

    class AddsLr(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["lr"] = float(self.model.optimizer.learning_rate.numpy())

    history = model().fit(x, y, epochs=2, verbose=0, callbacks=[AddsLr()])
    assert history.history["lr"] == pytest.approx([0.05, 0.05])


def test_the_report_callback_writes_the_run_files(digits, tmp_path):
    """fit(..., callbacks=[Report(dir)]) writes what `deeptrain train` writes for a run."""
    x, y = digits
    report = deeptrain.keras.callbacks.Report(tmp_path / "run")
    history = model().fit(x[:-200], y[:-200], epochs=2, verbose=0, validation_data=(x[-200:], y[-200:]), callbacks=[report])
    run = tmp_path / "run"
    rows = (run / "history.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,loss,accuracy,val_loss,val_accuracy") and len(rows) == 3
    assert float(rows[2].split(",")[1]) == pytest.approx(history.history["loss"][1], rel=1e-5)
    page = (run / "report.html").read_text()
    assert "deeptrain run: " in page and "validation" in page and "data:image/png;base64" in page
    assert (run / "plots" / "curve_loss.png").stat().st_size > 1000
    assert keras.models.load_model(run / "model").count_params() == history.model.count_params()
    again = deeptrain.report(history, tmp_path / "after")
    assert any(p.endswith("report.html") for p in again)
    assert (tmp_path / "after" / "history.csv").read_text() == (run / "history.csv").read_text()
    assert "validation" in (tmp_path / "after" / "report.html").read_text()


def test_only_per_step_hooks_make_the_steps_call_python(digits, monkeypatch):
    x, y = digits
    from deeptrain.keras import callbacks as module

    calls = []
    for hook in ("batch_begin", "batch_end"):
        original = getattr(module._Dispatcher, hook)
        monkeypatch.setattr(module._Dispatcher, hook, lambda self, *a, _o=original, _h=hook: calls.append(_h) or _o(self, *a))

    class EpochsOnly(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.model.optimizer.learning_rate = 0.05 / (epoch + 1)

    steps = math.ceil(len(x) / 100)
    m = model()
    m.fit(x, y, epochs=2, batch_size=100, callbacks=[EpochsOnly()], verbose=0)
    assert calls == []
    # The rate the callback set at the second epoch's start took effect.
    assert m.optimizer.learning_rate == pytest.approx(0.025, rel=1e-6)
    ends = []
    model().fit(x, y, epochs=2, batch_size=100, callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: ends.append(b))], verbose=0)
    assert calls == ["batch_end"] * 2 * steps and ends == list(range(steps)) * 2
    calls.clear()
    model().fit(x, y, epochs=1, batch_size=100, callbacks=[OneCycle(steps, 0.1)], verbose=0)
    assert calls == ["batch_begin"] * steps
