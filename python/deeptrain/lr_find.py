"""``deeptrain.lr_find``: the learning-rate range test (``deeptrain lr-find``) on a compiled
``deeptrain.keras`` model, which is left as it was."""

from . import _core  # noqa: F401


class LrFind:
    """The range test's curve (``rates``, ``losses``, ``smoothed``) and its reading:
    ``best_lr`` (lowest smoothed loss), ``turning_lr`` (where it climbs 25% above its minimum),
    ``suggested_lr`` (a tenth of that, as the chapter advises), ``diverged``."""

    def __init__(self, points, best, turning, suggested, diverged):
        self.rates = [p[0] for p in points]
        self.losses = [p[1] for p in points]
        self.smoothed = [p[2] for p in points]
        self.best_lr, self.turning_lr, self.suggested_lr, self.diverged = best, turning, suggested, diverged

    def __repr__(self):
        return f"<LrFind {len(self.rates)} steps: suggested learning rate {self.suggested_lr:.3g}>"


def lr_find(model, x, y, min_lr=1e-6, max_lr=10.0, steps=None, batch_size=32):
    """Trains ``model`` on ``(x, y)`` with the rate growing exponentially from ``min_lr`` to
    ``max_lr`` (``steps`` steps; default one epoch, at least 100), then restores its weights,
    optimizer and shuffling; returns the curve and the suggested rate."""
    model._require_compiled()
    x, y = model._x(x), model._y(y)
    model._build_now(x.shape[1:])
    try:
        found = model._core.lr_find(x, y, float(min_lr), float(max_lr), None if steps is None else int(steps), int(batch_size))
    except ValueError as e:
        raise ValueError(f"lr_find: {e}") from None
    return LrFind(*found)
