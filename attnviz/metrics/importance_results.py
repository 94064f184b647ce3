"""Head importance, its results: :class:`HeadImportance`, :class:`PruningCurve` (see :mod:`.importance`).

Example:
    >>> HeadImportance(np.array([[0.1, 0.9]]), np.array([[1.0, 9.0]]), method="gradient").top(1)[0]["head"]
    1
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from attnviz.atomic import atomic_write_text
from attnviz.results import ResultIO, pandas

__all__ = ["DEFINITIONS", "HeadImportance", "PruningCurve", "metric_name"]



@dataclass
class HeadImportance(ResultIO):
    """Per-head importance (layers x heads) and how it was measured.

    Attributes:
        scores: (layer, head) the ranking score: for ``gradient`` the per-layer
            l2-normalised ``E|dL/dxi|``, for ``ablation`` the loss increase when the head is zeroed.
        raw: ``gradient``: the unnormalised ``E|dL/dxi|``; ``ablation``: same as ``scores``.
        loss_change / metric_change: ``ablation`` only: loss after minus before, and task
            metric before minus after (positive = the head helps), (layer, head).
        base_loss / base_metric: the loss and task metric of the unmodified model.
        metric_name: "accuracy" (classifier) or "next-token accuracy" (language model).
        method, task ("classification" or "lm"), layers, heads, num_examples, seconds, model_name.

    Example:
        >>> imp = HeadImportance(np.array([[0.1, 0.9]]), np.array([[1.0, 9.0]]), method="gradient")
        >>> imp.top(1)[0]["head"], int(imp.rank()[0, 1])
        (1, 1)
    """

    scores: np.ndarray
    raw: np.ndarray
    method: str = "gradient"
    task: str = "classification"
    layers: list[int] = field(default_factory=list)
    heads: list[int] = field(default_factory=list)
    num_examples: int = 0
    base_loss: float = math.nan
    base_metric: float = math.nan
    metric_name: str = "accuracy"
    loss_change: np.ndarray | None = None
    metric_change: np.ndarray | None = None
    seconds: float = math.nan
    model_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, dtype=np.float64)
        self.raw = np.asarray(self.raw, dtype=np.float64)
        if not self.layers:
            self.layers = list(range(self.scores.shape[0]))
        if not self.heads:
            self.heads = list(range(self.scores.shape[1]))

    def __repr__(self) -> str:
        return (f"HeadImportance(method={self.method!r}, task={self.task!r}, {len(self.layers)} layers x "
                f"{len(self.heads)} heads, {self.num_examples} example(s))")

    def rank(self) -> np.ndarray:
        """(layer, head) rank of each head, 1 = most important.

        Example:
            >>> HeadImportance(np.array([[0.2, 0.5], [0.1, 0.3]]), np.zeros((2, 2))).rank().tolist()
            [[3, 1], [4, 2]]
        """
        order = np.argsort(-self.scores.ravel(), kind="stable")
        ranks = np.empty(order.size, dtype=int)
        ranks[order] = np.arange(1, order.size + 1)
        return ranks.reshape(self.scores.shape)

    def top(self, n: int | None = 5, *, by: str = "score", lowest: bool = False) -> list[dict[str, Any]]:
        """The ``n`` most important heads by ``by`` ("score", "raw", "loss_change", "metric_change";
        ``lowest=True``: least important first), one dict per head; ``n=None``: every head.

        Example:
            >>> HeadImportance(np.array([[0.2, 0.5]]), np.array([[2.0, 5.0]])).top(1)
            [{'layer': 0, 'head': 1, 'score': 0.5, 'raw': 5.0}]
        """
        rows = self._rows()
        if not rows or by not in rows[0]:
            raise ValueError(f"by={by!r}: rank by one of {sorted(k for k in (rows[0] if rows else {}) if k not in ('layer', 'head'))}")
        rows.sort(key=lambda r: r[by] if lowest else -r[by])
        return rows[:n] if n is not None else rows

    def _rows(self) -> list[dict[str, Any]]:
        """One dict per head, most important first."""
        rows = []
        for i, layer in enumerate(self.layers):
            for j, head in enumerate(self.heads):
                row = {"layer": layer, "head": head, "score": float(self.scores[i, j]), "raw": float(self.raw[i, j])}
                if self.loss_change is not None:
                    row["loss_change"] = float(self.loss_change[i, j])
                if self.metric_change is not None:
                    row["metric_change"] = float(self.metric_change[i, j])
                rows.append(row)
        rows.sort(key=lambda r: -r["score"])
        return rows

    def to_frame(self):
        """The per-head table as a pandas DataFrame (``pip install 'attnviz[pandas]'``), with a rank column.

        Example:
            >>> HeadImportance(np.array([[0.2, 0.5]]), np.array([[2.0, 5.0]])).to_frame()["rank"].tolist()
            [1, 2]
        """
        frame = pandas("HeadImportance.to_frame").DataFrame(self._rows())
        frame.insert(0, "rank", np.arange(1, len(frame) + 1))
        return frame


    def records(self) -> list[dict[str, Any]]:
        """The per-head rows (the rows of :meth:`top` with n=None)."""
        return self._rows()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite numbers become None).

        Example:
            >>> HeadImportance(np.array([[1.0]]), np.array([[1.0]])).to_dict()["base_loss"] is None
            True
        """
        arr = lambda a: None if a is None else _finite(np.asarray(a).tolist())  # noqa: E731
        return {"format": "attnviz.head_importance/1", "method": self.method, "task": self.task,
                "layers": list(self.layers), "heads": list(self.heads), "num_examples": self.num_examples,
                "base_loss": _finite(self.base_loss), "base_metric": _finite(self.base_metric),
                "metric_name": self.metric_name, "scores": arr(self.scores), "raw": arr(self.raw),
                "loss_change": arr(self.loss_change), "metric_change": arr(self.metric_change),
                "seconds": _finite(self.seconds), "model_name": self.model_name,
                "definition": DEFINITIONS[self.method], "extra": _finite(self.extra)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeadImportance:
        """Inverse of :meth:`to_dict`.

        Example:
            >>> imp = HeadImportance(np.array([[0.5]]), np.array([[2.0]]), model_name="m")
            >>> HeadImportance.from_dict(imp.to_dict()).model_name
            'm'
        """
        arr = lambda v: None if v is None else np.array(v, dtype=np.float64)  # noqa: E731
        num = lambda v: math.nan if v is None else float(v)  # noqa: E731
        req = lambda v: np.array(v, dtype=np.float64)  # noqa: E731  (None -> nan, as __post_init__ did)
        return cls(scores=req(d["scores"]), raw=req(d["raw"]), method=d["method"], task=d["task"],
                   layers=list(d["layers"]), heads=list(d["heads"]), num_examples=int(d["num_examples"]),
                   base_loss=num(d["base_loss"]), base_metric=num(d["base_metric"]),
                   metric_name=d.get("metric_name", "accuracy"), loss_change=arr(d.get("loss_change")),
                   metric_change=arr(d.get("metric_change")), seconds=num(d.get("seconds")),
                   model_name=d.get("model_name", ""), extra=dict(d.get("extra") or {}))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the result as JSON (atomically); a folder gets ``importance.json`` inside. Returns the path.

        Example:
            >>> import tempfile
            >>> p = HeadImportance(np.array([[0.5]]), np.array([[2.0]])).save(tempfile.mkdtemp())
            >>> HeadImportance.load(p).scores.tolist()
            [[0.5]]
        """
        path = Path(path)
        if path.suffix != ".json":
            path.mkdir(parents=True, exist_ok=True)
            path = path / "importance.json"
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> HeadImportance:
        """Read what :meth:`save` wrote (a JSON file or the folder holding ``importance.json``)."""
        path = Path(path)
        if path.is_dir():
            path = path / "importance.json"
        return cls.from_dict(json.loads(path.read_text()))

    def plot(self, *, ax=None, values: str = "scores", **kwargs: Any):
        """Layers x heads map of the importance (``values``: "scores", "raw", "loss_change",
        "metric_change"); returns the Axes. kwargs go to ``imshow``.

        Example:
            >>> ax = HeadImportance(np.array([[0.2, 0.5]]), np.zeros((1, 2))).plot()
            >>> ax.images[0].get_array().tolist()
            [[0.2, 0.5]]
        """
        from attnviz.plot.importance import importance_map

        return importance_map(self, ax=ax, values=values, **kwargs)


@dataclass
class PruningCurve(ResultIO):
    """Accuracy (task metric) and loss against the fraction of heads masked, least important first.

    Attributes:
        fractions, metric, loss: one entry per step; pruned: number of heads masked;
        order: (layer, head) pairs in pruning order; metric_name; random_metric: the same
        curve for a random order (or None).

    Example:
        >>> c = PruningCurve([0.0, 0.5], [0.9, 0.7], [0.3, 0.6], [0, 1], [(0, 1)])
        >>> c.to_dict()["metric"]
        [0.9, 0.7]
    """

    fractions: list[float]
    metric: list[float]
    loss: list[float]
    pruned: list[int]
    order: list[tuple[int, int]]
    metric_name: str = "accuracy"
    method: str = "gradient"
    random_metric: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return _finite({"fractions": self.fractions, "metric": self.metric, "loss": self.loss, "pruned": self.pruned,
                        "order": [list(o) for o in self.order], "metric_name": self.metric_name,
                        "method": self.method, "random_metric": self.random_metric})

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> PruningCurve:
        """Inverse of :meth:`to_dict`.

        Example:
            >>> c = PruningCurve([0.0, 0.5], [0.9, 0.7], [0.3, 0.6], [0, 1], [(0, 1)])
            >>> PruningCurve.from_dict(c.to_dict()) == c
            True
        """
        return cls(list(doc["fractions"]), list(doc["metric"]), list(doc["loss"]), list(doc["pruned"]),
                   [(int(a), int(b)) for a, b in doc["order"]], metric_name=doc.get("metric_name", "accuracy"),
                   method=doc.get("method", "gradient"), random_metric=doc.get("random_metric"))

    def plot(self, *, ax=None, **kwargs: Any):
        """The curve (and the random-order curve, dashed); returns the Axes.

        Example:
            >>> ax = PruningCurve([0.0, 0.5], [0.9, 0.7], [0.3, 0.6], [0, 1], [(0, 1)]).plot()
            >>> ax.lines[0].get_ydata().tolist()
            [0.9, 0.7]
        """
        from attnviz.plot.importance import pruning_axes

        return pruning_axes(self, ax=ax, **kwargs)


DEFINITIONS = {
    "gradient": "Michel et al. 2019: gate xi_h = 1 on each head's output before the output projection; "
                "raw = mean over examples of |dL/dxi_h|; scores = raw / l2 norm of the layer's raw values",
    "ablation": "zero one head's output (gate xi_h = 0) at a time; scores = loss_change = mean loss with the "
                "head zeroed - mean loss; metric_change = metric - metric with the head zeroed",
}


def _finite(value: Any) -> Any:
    """Non-finite floats -> None, recursively (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (np.floating,)):
        return _finite(float(value))
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value



def metric_name(task: str) -> str:
    """The task metric's name: "accuracy" (classifier) or "next-token accuracy" (language model).

    Example:
        >>> metric_name("lm")
        'next-token accuracy'
    """
    return "accuracy" if task == "classification" else "next-token accuracy"
