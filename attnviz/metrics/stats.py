"""``HeadStats``: per-head statistics (mean and std over examples) as arrays, tables and plots.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_capture
    >>> stats = attnviz.metrics.head_stats(tiny_capture("bert", ["the cat sat", "a dog"]))
    >>> stats.values["entropy"].shape, stats.records_count == 2 * 4 * len(stats.metrics)
    ((2, 4), True)
"""
from __future__ import annotations

import json  # noqa: F401  (the examples below use it)
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from attnviz.atomic import atomic_path
from attnviz.metrics.definitions import describe, label
from attnviz.metrics.patterns import PatternThresholds, classify_patterns
from attnviz.results import ResultIO, pandas

COLUMNS = ("layer", "head", "metric", "value", "std", "count")


class HeadScore(NamedTuple):
    """One head's value of one statistic (what :meth:`HeadStats.top` lists).

    Example:
        >>> HeadScore(layer=2, head=5, value=0.8).head
        5
    """

    layer: int
    head: int
    value: float


@dataclass
class HeadStats(ResultIO):
    """Mean and standard deviation over examples of per-head statistics.

    Attributes:
        values: statistic name -> (layer, head) array of means over examples.
        std: statistic name -> (layer, head) array of population standard deviations.
        counts: statistic name -> number of examples it was defined on.
        layers / heads: the model layer and head indices of the array rows and columns.
        num_examples: examples seen; kind: "self", "decoder" or "cross"; model_name: provenance.

    Example:
        >>> s = HeadStats({"cls": np.array([[0.5, 0.1]])}, {"cls": np.zeros((1, 2))}, {"cls": 3},
        ...               layers=[0], heads=[0, 1], num_examples=3)
        >>> s.top(1, by="cls")
        [HeadScore(layer=0, head=0, value=0.5)]
    """

    values: dict[str, np.ndarray]
    std: dict[str, np.ndarray]
    counts: dict[str, int]
    layers: list[int]
    heads: list[int]
    num_examples: int
    kind: str = "self"
    model_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = (len(self.layers), len(self.heads))
        for name, arr in self.values.items():
            if np.shape(arr) != shape:
                raise ValueError(f"values[{name!r}] has shape {np.shape(arr)}, expected (layers, heads) = {shape}")

    def __repr__(self) -> str:
        return (f"HeadStats({len(self.metrics)} statistic(s) x {len(self.layers)} layer(s) x "
                f"{len(self.heads)} head(s), {self.num_examples} example(s), kind={self.kind!r})")

    @property
    def metrics(self) -> list[str]:
        """The statistic names, in order.

        Example:
            >>> HeadStats({}, {}, {}, layers=[], heads=[], num_examples=0).metrics
            []
        """
        return list(self.values)

    @property
    def records_count(self) -> int:
        """Number of rows of the tidy table.

        Example:
            >>> HeadStats({}, {}, {}, layers=[0], heads=[0], num_examples=0).records_count
            0
        """
        return len(self.metrics) * len(self.layers) * len(self.heads)

    def _check(self, metric: str) -> np.ndarray:
        if metric not in self.values:
            raise KeyError(f"no statistic {metric!r} here (have: {', '.join(self.metrics)}); "
                           "compute it by including it in metrics=")
        return self.values[metric]

    def __getitem__(self, metric: str) -> np.ndarray:
        return self._check(metric)

    # --- tables -----------------------------------------------------------------------
    def to_records(self) -> list[dict[str, Any]]:
        """Tidy rows ``{layer, head, metric, value, std, count}``, layers and heads as model indices.

        Example:
            >>> s = HeadStats({"cls": np.ones((1, 1))}, {"cls": np.zeros((1, 1))}, {"cls": 2},
            ...               layers=[3], heads=[1], num_examples=2)
            >>> s.to_records()
            [{'layer': 3, 'head': 1, 'metric': 'cls', 'value': 1.0, 'std': 0.0, 'count': 2}]
        """
        rows = []
        for metric in self.metrics:
            mean, std = self.values[metric], self.std[metric]
            for li, layer in enumerate(self.layers):
                for hi, head in enumerate(self.heads):
                    rows.append({"layer": int(layer), "head": int(head), "metric": metric,
                                 "value": float(mean[li, hi]), "std": float(std[li, hi]),
                                 "count": int(self.counts.get(metric, self.num_examples))})
        return rows

    def to_table(self) -> dict[str, list]:
        """The tidy table as columns: ``{"layer": [...], "head": [...], "metric": [...], ...}``.

        Example:
            >>> s = HeadStats({"cls": np.ones((1, 2))}, {"cls": np.zeros((1, 2))}, {"cls": 2},
            ...               layers=[0], heads=[0, 1], num_examples=2)
            >>> s.to_table()["head"]
            [0, 1]
        """
        rows = self.to_records()
        return {col: [r[col] for r in rows] for col in COLUMNS}

    def to_frame(self):
        """The tidy table as a pandas DataFrame (needs pandas: ``pip install 'attnviz[pandas]'``).

        Example:
            >>> s = HeadStats({"cls": np.ones((1, 1))}, {"cls": np.zeros((1, 1))}, {"cls": 1},
            ...               layers=[0], heads=[0], num_examples=1)
            >>> list(s.to_frame().columns)  # doctest: +SKIP
            ['layer', 'head', 'metric', 'value', 'std', 'count']
        """
        return pandas("HeadStats.to_frame").DataFrame(self.to_table(), columns=list(COLUMNS))

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write the tidy table as CSV (atomically); NaN is written as an empty cell.

        Example:
            >>> import tempfile, pathlib
            >>> s = HeadStats({"cls": np.ones((1, 1))}, {"cls": np.zeros((1, 1))}, {"cls": 1},
            ...               layers=[0], heads=[0], num_examples=1)
            >>> p = s.to_csv(pathlib.Path(tempfile.mkdtemp()) / "stats.csv")
            >>> p.read_text().splitlines()[1]
            '0,0,cls,1.0,0.0,1'
        """
        import csv

        with atomic_path(path) as tmp:
            with tmp.open("w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=list(COLUMNS))
                writer.writeheader()
                for row in self.to_records():
                    writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
        return Path(path)

    def records(self) -> list[dict[str, Any]]:
        """Same as :meth:`to_records` (the rows of :meth:`to_frame`)."""
        return self.to_records()

    def to_dict(self) -> dict[str, Any]:
        """The table and its provenance, JSON-ready (NaN as None); :meth:`from_dict` inverts it.

        Example:
            >>> s = HeadStats({"cls": np.ones((1, 1))}, {"cls": np.zeros((1, 1))}, {"cls": 1},
            ...               layers=[0], heads=[0], num_examples=1)
            >>> s.to_dict()["records"][0]["value"], HeadStats.from_dict(s.to_dict()).values["cls"].tolist()
            (1.0, [[1.0]])
        """
        rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
                for r in self.to_records()]
        return {"model_name": self.model_name, "kind": self.kind, "num_examples": self.num_examples,
                "layers": list(map(int, self.layers)), "heads": list(map(int, self.heads)),
                "metrics": {m: describe(m) for m in self.metrics}, "records": rows}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> HeadStats:
        """A HeadStats from :meth:`to_dict` (or the JSON that :meth:`to_json` / :meth:`save` wrote)."""
        layers, heads = [int(v) for v in doc["layers"]], [int(v) for v in doc["heads"]]
        li, hi = {l: i for i, l in enumerate(layers)}, {h: i for i, h in enumerate(heads)}
        names = list(doc.get("metrics") or dict.fromkeys(r["metric"] for r in doc["records"]))
        values = {m: np.full((len(layers), len(heads)), np.nan) for m in names}
        std = {m: np.full((len(layers), len(heads)), np.nan) for m in names}
        counts: dict[str, int] = {}
        for r in doc["records"]:
            at = (li[int(r["layer"])], hi[int(r["head"])])
            values[r["metric"]][at] = np.nan if r["value"] is None else r["value"]
            std[r["metric"]][at] = np.nan if r["std"] is None else r["std"]
            counts[r["metric"]] = int(r["count"])
        return cls(values=values, std=std, counts=counts, layers=layers, heads=heads,
                   num_examples=int(doc["num_examples"]), kind=doc.get("kind", "self"),
                   model_name=doc.get("model_name", ""))

    def to_json(self, path: str | os.PathLike | None = None, *, indent: int | None = 1):
        """The table and its provenance as JSON (NaN as null): the text, or with ``path`` the file (atomic).

        Example:
            >>> import tempfile, pathlib
            >>> s = HeadStats({"cls": np.ones((1, 1))}, {"cls": np.zeros((1, 1))}, {"cls": 1},
            ...               layers=[0], heads=[0], num_examples=1)
            >>> json.loads(s.to_json(pathlib.Path(tempfile.mkdtemp()) / "s.json").read_text())["records"][0]["value"]
            1.0
            >>> HeadStats.from_dict(json.loads(s.to_json())).counts
            {'cls': 1}
        """
        return ResultIO.to_json(self, path, indent=indent)

    # --- queries ------------------------------------------------------------------------
    def top(self, n: int | None = 5, *, by: str | None = None, lowest: bool = False) -> list[HeadScore]:
        """The ``n`` heads with the highest (``lowest=True``: lowest) mean value of the statistic ``by``
        (may be left out when there is one statistic); NaN heads skipped; ``n=None``: every head.

        Example:
            >>> s = HeadStats({"sep": np.array([[0.1, 0.7], [0.3, 0.2]])}, {"sep": np.zeros((2, 2))},
            ...               {"sep": 1}, layers=[0, 1], heads=[0, 1], num_examples=1)
            >>> [(h.layer, h.head) for h in s.top(2, by="sep")]
            [(0, 1), (1, 0)]
        """
        if by is None:
            if len(self.values) != 1:
                raise ValueError(f"top(n, by=...): name the statistic to rank by, one of {sorted(self.values)}")
            by = next(iter(self.values))
        values = self._check(by)
        k = len(self.layers) * len(self.heads) if n is None else n
        if k < 1:
            raise ValueError(f"n={n}: ask for at least one head")
        flat = [(float(values[li, hi]), li, hi) for li in range(values.shape[0]) for hi in range(values.shape[1])
                if not math.isnan(values[li, hi])]
        flat.sort(key=lambda t: t[0], reverse=not lowest)
        return [HeadScore(int(self.layers[li]), int(self.heads[hi]), v) for v, li, hi in flat[:k]]

    def patterns(self, thresholds: PatternThresholds | None = None, **kwargs: float) -> np.ndarray:
        """Kovaleva et al.'s (2019) pattern type per head, (layer, head) array of str.

        Needs the ``vertical`` and ``diagonal`` statistics (``block`` is used when present);
        thresholds as a :class:`~attnviz.metrics.patterns.PatternThresholds` or keywords.

        Example:
            >>> s = HeadStats({"vertical": np.array([[0.9, 0.0]]), "diagonal": np.array([[0.0, 0.9]])},
            ...               {}, {}, layers=[0], heads=[0, 1], num_examples=1)
            >>> s.patterns().tolist()
            [['vertical', 'diagonal']]
        """
        missing = [m for m in ("vertical", "diagonal") if m not in self.values]
        if missing:
            raise KeyError(f"pattern types need the statistics {missing}: include them in metrics=")
        thresholds = thresholds or PatternThresholds(**kwargs)
        return classify_patterns(self.values["vertical"], self.values["diagonal"], self.values.get("block"),
                                 thresholds)

    # --- plotting -----------------------------------------------------------------------
    def plot(self, metric: str, *, ax=None, **kwargs: Any):
        """Plot one statistic as a layers x heads map with :func:`attnviz.plot.head_summary`; returns the Axes.

        Keywords go to ``head_summary`` (``cmap``, ``center``, ``annotate``, ``title``, ...).

        Example:
            >>> s = HeadStats({"cls": np.ones((1, 2))}, {"cls": np.zeros((1, 2))}, {"cls": 1},
            ...               layers=[0], heads=[0, 1], num_examples=1)
            >>> s.plot("cls").get_title()  # doctest: +SKIP
            'attention to [CLS] (1 examples)'
        """
        from attnviz.plot import head_summary

        values = self._check(metric)
        kwargs.setdefault("title", f"{label(metric)} ({self.num_examples} examples)")
        kwargs.setdefault("cbar_label", label(metric))
        return head_summary(values, ax=ax, layers=list(self.layers), heads=list(self.heads), **kwargs)
