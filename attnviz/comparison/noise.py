"""Is a head's change more than noise? Bootstrap intervals, a seed baseline, the training trajectory.

* :func:`per_example`: the numbers of :func:`attnviz.compare` for each example
  (cosine of the flattened maps, Kovaleva et al. 2019; JS divergence; Clark et al.'s entropy).
* :func:`bootstrap_intervals`: percentile confidence intervals of the per-head means
  over examples (resampling examples with replacement), for change, cosine, JS and
  entropy change.
* :func:`seed_noise`: per head, ``1 - cosine`` between two fine-tuned checkpoints that
  differ only in the training seed: how much a head moves by chance alone. ``compare(...,
  baseline=...)`` flags heads whose before/after change exceeds it.
* :class:`Trajectory` / :func:`trajectory`: the change of each layer (1 - cosine to the
  epoch-0 capture) over the per-epoch probe captures of a fine-tuning run.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_capture
    >>> a = tiny_capture("bert", ["the cat sat", "a dog", "hello world"], seed=0)
    >>> b = tiny_capture("bert", ["the cat sat", "a dog", "hello world"], seed=1)
    >>> ci = bootstrap_intervals(per_example(a, b), n=200)
    >>> ci["change"].shape, bool((ci["change"][..., 0] <= ci["change"][..., 1]).all())
    ((2, 4, 2), True)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from attnviz.capture import Capture
from attnviz.results import ResultIO, json_nan, json_safe

__all__ = ["Trajectory", "bootstrap_intervals", "per_example", "seed_noise", "trajectory"]

#: Statistics that get intervals; "change" = 1 - cosine, "entropy_change" = after - before.
INTERVAL_METRICS = ("change", "cosine", "js", "entropy_change")



def per_example(a: Capture, b: Capture) -> dict[str, np.ndarray]:
    """Per example (example, layer, head): cosine, js (nats), entropy_before, entropy_after, change,
    entropy_change; their means over examples are what :func:`attnviz.compare` reports.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("bert", ["a cat", "a dog"])
        >>> per_example(cap, cap)["cosine"].shape
        (2, 2, 4)
    """
    from attnviz.comparison.stats import _entropy, _js_rows

    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("cosine", "js", "entropy_before", "entropy_after")}
    for x, y in zip(a, b, strict=True):
        p, q = x.attention().astype(np.float64), y.attention().astype(np.float64)
        dot = (p * q).sum(axis=(2, 3))
        rows["cosine"].append(dot / np.maximum(np.linalg.norm(p, axis=(2, 3)) * np.linalg.norm(q, axis=(2, 3)), 1e-12))
        rows["js"].append(_js_rows(p, q).mean(axis=-1))
        rows["entropy_before"].append(_entropy(p))
        rows["entropy_after"].append(_entropy(q))
    out = {k: np.stack(v) for k, v in rows.items()}
    out["change"] = 1.0 - out["cosine"]
    out["entropy_change"] = out["entropy_after"] - out["entropy_before"]
    return out


def bootstrap_intervals(values: dict[str, np.ndarray], *, n: int = 1000, level: float = 0.95,
                        seed: int = 0) -> dict[str, np.ndarray]:
    """Percentile bootstrap intervals of the mean over examples: name -> (layer, head, 2) [low, high].

    Examples are resampled with replacement ``n`` times (multinomial counts, so the
    cost is one (n x examples) @ (examples x heads) product per statistic). With one
    example the interval collapses to the value; with none it is NaN.

    Example:
        >>> v = {"change": np.array([[[0.1]], [[0.3]]])}
        >>> ci = bootstrap_intervals(v, n=500, level=0.9)["change"][0, 0]
        >>> bool(0.1 <= ci[0] <= ci[1] <= 0.3)
        True
    """
    if n < 1:
        raise ValueError(f"bootstrap must be a number of resamples >= 1, got {n}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1 (e.g. 0.95), got {level}")
    rng = np.random.default_rng(seed)
    out = {}
    for name in INTERVAL_METRICS:
        if name not in values:
            continue
        v = np.asarray(values[name], dtype=np.float64)
        e = v.shape[0]
        if e == 0:
            out[name] = np.full(v.shape[1:] + (2,), np.nan)
            continue
        counts = rng.multinomial(e, np.full(e, 1.0 / e), size=n).astype(np.float64)   # (n, examples)
        means = (counts @ v.reshape(e, -1) / e).reshape((n,) + v.shape[1:])
        alpha = (1 - level) / 2
        low, high = np.quantile(means, [alpha, 1 - alpha], axis=0)
        out[name] = np.stack([low, high], axis=-1)
    return out


def seed_noise(after: Capture, other_seed: Capture) -> np.ndarray:
    """(layer, head) ``1 - cosine`` between the maps of two checkpoints trained with different seeds
    (mean over examples): the change a head shows by chance alone.

    Example:
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("bert", "the cat")
        >>> float(seed_noise(cap, cap).max()) < 1e-6
        True
    """
    from attnviz.comparison.checks import check_same

    check_same(after, other_seed)
    return per_example(after, other_seed)["change"].mean(axis=0)


@dataclass
class Trajectory(ResultIO):
    """Attention change over the epochs of a fine-tuning run.

    Attributes:
        epochs: the epochs of the probe captures (0 = before training).
        layers: model layer numbers.
        layer_change: (epoch, layer) mean over heads and examples of 1 - cosine to epoch 0.
        head_change: (epoch, layer, head) the same per head (or None).

    Example:
        >>> t = Trajectory([0, 1], [0, 1], np.array([[0.0, 0.0], [0.1, 0.2]]))
        >>> t.to_dict()["layer_change"][1]
        [0.1, 0.2]
    """

    epochs: list[int]
    layers: list[int]
    layer_change: np.ndarray
    head_change: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite values as null)."""
        return json_safe({"epochs": list(self.epochs), "layers": list(self.layers),
                          "definition": "1 - cosine similarity of each head's flattened attention map to the "
                                        "epoch-0 (before training) map, mean over probe texts (Kovaleva et al. "
                                        "2019); layer_change is the mean over the layer's heads",
                          "layer_change": np.asarray(self.layer_change),
                          "head_change": None if self.head_change is None else np.asarray(self.head_change),
                          "extra": self.extra})

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Trajectory:
        """Inverse of :meth:`to_dict`.

        Example:
            >>> t = Trajectory([0, 1], [0], np.array([[0.0], [0.2]]))
            >>> Trajectory.from_dict(t.to_dict()) == t
            True
        """
        def array(v: Any) -> np.ndarray:
            return np.array(json_nan(v), dtype=float)

        return cls(list(doc["epochs"]), list(doc["layers"]), array(doc["layer_change"]),
                   None if doc.get("head_change") is None else array(doc["head_change"]), dict(doc.get("extra") or {}))

    def plot(self, *, ax=None, **kwargs: Any):
        """One line per layer against the epoch; returns the Axes (see :func:`attnviz.plot.importance.trajectory_axes`).

        Example:
            >>> ax = Trajectory([0, 1], [0], np.array([[0.0], [0.2]])).plot()
            >>> ax.lines[0].get_ydata().tolist()
            [0.0, 0.2]
        """
        from attnviz.plot.importance import trajectory_axes

        return trajectory_axes(self, ax=ax, **kwargs)

    def save_with_figure(self, folder: str | os.PathLike, *, dpi: float = 150) -> list[Path]:
        """Write ``trajectory.json`` (:meth:`save`) and ``trajectory.png`` into ``folder``; return the paths.

        Example:
            >>> import tempfile
            >>> [p.name for p in Trajectory([0, 1], [0], np.array([[0.0], [0.2]])).save_with_figure(tempfile.mkdtemp())]
            ['trajectory.json', 'trajectory.png']
        """
        import matplotlib.pyplot as plt

        from attnviz.plot.importance import trajectory_figure

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        paths = [self.save(out / "trajectory.json")]
        view = trajectory_figure(self)
        paths.append(view.savefig(out / "trajectory.png", dpi=dpi))
        plt.close(view.figure)
        return paths


def trajectory(captures: Sequence[Capture], epochs: Sequence[int] | None = None) -> Trajectory:
    """Change per layer and head of each capture against the first (the epoch-0 capture).

    ``captures`` are the probe captures of a run (``FinetuneResult.probe_captures`` or
    ``AttentionCaptureCallback.captures``), all of the same texts; ``epochs`` their
    epoch numbers (default 0, 1, 2, ...).

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> models = [tiny_model("bert", seed=s) for s in (0, 0, 1)]
        >>> caps = [attnviz.extract(model, "the cat sat", tokenizer=tok) for model, tok in models]
        >>> t = trajectory(caps)
        >>> t.epochs, float(t.layer_change[1].max()) < 1e-6, bool(t.layer_change[2].min() > 0)
        ([0, 1, 2], True, True)
    """
    caps = list(captures)
    if len(caps) < 2:
        raise ValueError(f"a trajectory needs at least two captures (before training and after an epoch), "
                         f"got {len(caps)}: fine-tune with probe_texts= so that each epoch is captured")
    epochs = list(range(len(caps))) if epochs is None else [int(e) for e in epochs]
    if len(epochs) != len(caps):
        raise ValueError(f"{len(epochs)} epochs for {len(caps)} captures: pass one epoch per capture")
    from attnviz.comparison.checks import check_same

    heads = []
    for cap in caps:
        check_same(caps[0], cap)
        heads.append(per_example(caps[0], cap)["change"].mean(axis=0))
    head_change = np.stack(heads)
    return Trajectory(epochs=epochs, layers=list(caps[0].layers), layer_change=head_change.mean(axis=-1),
                      head_change=head_change)
