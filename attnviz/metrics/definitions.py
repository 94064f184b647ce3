"""The per-head statistics attnviz computes: names, meanings and sources.

Every statistic is computed per example over its real tokens (padding never
counts) and then averaged over examples. With ``n`` the number of real tokens
and ``A`` one head's attention map (rows are queries):

* ``entropy``: Clark et al. (2019), "What Does BERT Look At?": smooth
  ``A <- 0.9999 A + 0.0001 / n``, ``H_i = -sum_j a_ij ln a_ij`` (nats), mean over queries.
  Uniform attention gives ``ln n`` (the smoothing leaves a uniform row unchanged).
* ``entropy_norm``: attnviz's own, ``entropy / ln n``, 1 for uniform attention, 0 for
  one-hot (examples with one token are skipped).
* ``cls_entropy``: Clark et al.: the smoothed entropy of the [CLS] (first token) row alone.
* ``cls`` / ``sep`` / ``punct``: Clark et al.'s attention to a token type T,
  ``(1/n) sum_i sum_{j in T} A[i, j]``; ``punct`` is theirs, "." or "," only. See
  :mod:`attnviz.metrics.roles` for which tokens count as [CLS] and [SEP].
* ``punct_unicode``: attnviz's own, the same with every token made of Unicode
  punctuation or symbols (it differs from ``punct`` on text with ! ? ; : ' -- ...).
* ``sep_sep`` / ``rest_sep``: Clark et al.'s attention from [SEP] queries to [SEP] keys,
  ``(1/|S|) sum_{i in S} sum_{j in S} A[i, j]``, and from the other queries,
  ``(1/(n - |S|)) sum_{i not in S} sum_{j in S} A[i, j]`` (their code divides by 2 and
  n - 2: a sentence pair has two [SEP] tokens).
* ``self``: Clark et al.'s attention to the token itself, ``(1/n) sum_i A[i, i]``.
* ``prev`` / ``next``: the same on the off-diagonals, ``(1/n) sum_i A[i, i-1]`` and
  ``(1/n) sum_i A[i, i+1]``; a one-hot previous-token head scores ``(n-1)/n``.
* ``distance``: attnviz's own, mean attention distance ``(1/n) sum_i sum_j A[i, j] |i - j|``, in tokens.
* ``pixel_distance``: mean attention distance in pixels (Dosovitskiy et al. 2021, "An Image is
  Worth 16x16 Words", figure 7), image examples only: over patch queries i and patch keys j,
  ``(1/|P|) sum_i [sum_j A[i, j] d(i, j) / sum_j A[i, j]]`` with d the distance between the
  patch centres in pixels of the image as the model saw it (``Example.image``). The weights
  are renormalised over the patch keys ([CLS] and register keys left out), so the value is a
  distance (a uniform head over a 14 x 14 grid of 16 px patches scores about 117 px, a head on
  its own patch 0). Not among the defaults of a text capture.
* ``confidence``: Voita et al. (2019), "Analyzing Multi-Head Self-Attention": mean
  over queries of the largest weight in the row.
* ``sink``: attention-sink score (Xiao et al. 2023, "Efficient Streaming Language
  Models with Attention Sinks"): share of attention on the first token, averaged over
  the queries after the first (whose attention to it is forced in a causal model);
  meaningful for decoders, computed for every model.
* ``vertical`` / ``diagonal`` / ``block``: the scores behind Kovaleva et al.'s (2019)
  pattern types, see :mod:`attnviz.metrics.patterns`.
* ``induction``: Olsson et al. (2022), "In-context Learning and Induction Heads", for any
  text: for each query i whose token occurred before, last at p with p + 1 < i, the
  weight ``A[i, p + 1]`` on the token that followed that occurrence, averaged over those
  queries. Undefined (the example is skipped) where no token repeats. On a repeated
  random sequence this is their score; uniform attention gives about 1/n.

Your own statistic: :func:`register_metric` adds it to every path above
(``head_stats``, ``dataset_stats`` local and on Ray, ``attnviz stats --metrics``).

Example:
    >>> DEFAULT_METRICS[:4]
    ('entropy', 'entropy_norm', 'cls_entropy', 'cls')
    >>> check_metrics(["cls", "sep"])
    ('cls', 'sep')
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: What a registered statistic computes from one example: its attention (layer, head, query,
#: key) over real tokens and its tokens, to a (layer, head) array, or None where undefined.
MetricFn = Callable[[np.ndarray, list], np.ndarray | None]


@dataclass(frozen=True)
class Metric:
    """One per-head statistic, built-in or added with :func:`register_metric`: one record for both.

    Attributes:
        name: what ``metrics=`` and ``attnviz stats --metrics`` call it.
        fn: for a registered statistic, ``fn(attention, tokens) -> (layer, head) array or None``
            (see :func:`register_metric`); None for a built-in, which the batched kernel
            (:mod:`attnviz.metrics.kernel`) computes with the others.
        description: its definition and source, as printed in tables and files.
        label: a short label for colour bars and titles.
        cross: also defined on cross-attention (its queries and keys are different tokens):
            False for a statistic that compares query and key positions.

    Example:
        >>> METRICS["prev"].cross, METRICS["cls"].cross, METRICS["cls"].fn is None
        (False, True, True)
    """

    name: str
    fn: MetricFn | None
    description: str
    label: str = ""
    cross: bool = False

    @property
    def builtin(self) -> bool:
        """True for attnviz's own statistics (computed by the kernel), False for registered ones."""
        return self.fn is None


#: The built-in statistics' records, one JSON object a line in display order: ``name``, ``label``,
#: ``cross`` and ``description`` (its source and exact formula; the module docstring above says it at length).
BUILTIN_FILE = Path(__file__).resolve().parents[1] / "data" / "metrics.jsonl"


def _builtins(path: Path = BUILTIN_FILE) -> dict[str, Metric]:
    """The records of :data:`BUILTIN_FILE`, by name, in its order (a built-in has no ``fn``: the kernel computes it)."""
    rows = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return {row["name"]: Metric(fn=None, **row) for row in rows}


#: The built-in statistics, by name, in display order.
METRICS: dict[str, Metric] = _builtins()

#: Statistics defined for image examples only (their patch grid): computed by default for images.
IMAGE_METRICS: tuple[str, ...] = ("pixel_distance",)

#: All statistics of a text capture, in display order (an image capture adds IMAGE_METRICS).
DEFAULT_METRICS: tuple[str, ...] = tuple(m for m in METRICS if m not in IMAGE_METRICS)


def check_metrics(metrics: Iterable[str] | str | None, *, kind: str = "self", image: bool = False) -> tuple[str, ...]:
    """Validate a selection of statistic names; None means all that apply to ``kind`` (and images).

    ``image``: the data are images, so None includes :data:`IMAGE_METRICS` (``pixel_distance``).

    Raises a ValueError naming the unknown statistic and the known ones.

    Example:
        >>> check_metrics(None, kind="cross")[:3]
        ('entropy', 'entropy_norm', 'cls')
        >>> check_metrics("prev")
        ('prev',)
    """
    cross = kind == "cross"
    known = DEFAULT_METRICS + IMAGE_METRICS + tuple(_CUSTOM)
    if metrics is None:
        return tuple(m for m in known if not (cross and _positional(m)) and (image or m not in IMAGE_METRICS))
    chosen = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not chosen:
        raise ValueError("metrics= is empty: name at least one statistic, or pass None for all")
    for name in chosen:
        if name not in known:
            raise ValueError(f"unknown statistic {name!r}: use some of {', '.join(known)}, "
                             "or add it with attnviz.metrics.register_metric")
        if cross and _positional(name):
            raise ValueError(f"statistic {name!r} compares query and key positions, which cross-attention "
                             f"does not share: leave it out for kind='cross'")
    return tuple(dict.fromkeys(chosen))


# --- user statistics ------------------------------------------------------------------------


_CUSTOM: dict[str, Metric] = {}


def register_metric(name: str, fn: MetricFn, description: str, *, label: str | None = None,
                    cross: bool = False, overwrite: bool = False) -> Metric:
    """Add a per-head statistic of your own; it then runs wherever the built-in ones do.

    ``fn(attention, tokens)`` gets one example at a time: ``attention`` a float32 numpy
    array (layer, head, query, key) over the example's real tokens (no padding) and
    ``tokens`` its tokens (list of str). It returns one value per head, a (layer, head)
    array (or anything that broadcasts to it), or None where the statistic is undefined
    for that example (that example is then skipped, as ``block`` skips one-sentence texts).
    Treat layers independently: ``dataset_stats`` may pass one layer at a time. Like the
    built-ins, the result is the mean (and std) over examples, per head.

    ``head_stats``, ``dataset_stats`` (also ``engine="ray"``: the function travels to the
    workers with the task, so it must be picklable by cloudpickle, which a function defined
    in a script or notebook is) and ``attnviz stats --metrics NAME --plugin FILE.py`` pick
    it up; ``metrics=None`` includes it. ``cross=True`` also allows it on cross-attention
    (queries are then decoder tokens and ``tokens`` the encoder's keys).

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_capture
        >>> def last_token(att, tokens):            # attention on the last token, mean over queries
        ...     return att[..., -1].mean(axis=-1)
        >>> _ = register_metric("last", last_token, "(1/n) sum_i A[i, n-1]", overwrite=True)
        >>> cap = tiny_capture("bert", ["the cat sat"])
        >>> attnviz.metrics.head_stats(cap, metrics=["last"]).values["last"].shape
        (2, 4)
        >>> unregister_metric("last")
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"metric name {name!r} must be a plain identifier (letters, digits, _)")
    if name in METRICS:
        raise ValueError(f"{name!r} is a built-in statistic: choose another name")
    if name in _CUSTOM and not overwrite:
        raise ValueError(f"a statistic {name!r} is already registered: pass overwrite=True to replace it")
    if not callable(fn):
        raise TypeError(f"fn must be a function fn(attention, tokens) -> (layer, head) array, not {type(fn).__name__}")
    metric = Metric(name, fn, str(description), label or name, cross=bool(cross))
    _CUSTOM[name] = metric
    return metric


def unregister_metric(name: str) -> None:
    """Remove a statistic added with :func:`register_metric` (built-ins cannot be removed).

    Example:
        >>> _ = register_metric("tmp", lambda att, tokens: att.max(-1).mean(-1), "mean row max")
        >>> unregister_metric("tmp"); "tmp" in registered_metrics()
        False
    """
    if name not in _CUSTOM:
        raise KeyError(f"no registered statistic {name!r} (have: {', '.join(_CUSTOM) or 'none'})")
    del _CUSTOM[name]


def registered_metrics() -> dict[str, Metric]:
    """The statistics added with :func:`register_metric`, by name.

    Example:
        >>> isinstance(registered_metrics(), dict)
        True
    """
    return dict(_CUSTOM)


def custom_metrics(names: Iterable[str]) -> dict[str, Metric]:
    """The registered statistics among ``names`` (what to ship to Ray workers with a task).

    Example:
        >>> custom_metrics(["cls", "sep"])
        {}
    """
    return {n: _CUSTOM[n] for n in names if n in _CUSTOM}


def install(metrics: dict[str, Metric]) -> None:
    """Register statistics received from another process (a Ray worker), replacing same names.

    Example:
        >>> install({})
    """
    _CUSTOM.update(metrics)


def metric(name: str) -> Metric | None:
    """The record of a built-in or registered statistic, or None for an unknown name.

    Example:
        >>> metric("self").description[:16], metric("nope")
        ('Clark et al. 201', None)
    """
    return METRICS.get(name) or _CUSTOM.get(name)


def describe(name: str) -> str:
    """The definition of a built-in or registered statistic ("" if unknown).

    Example:
        >>> describe("self")[:16]
        'Clark et al. 201'
    """
    found = metric(name)
    return found.description if found else ""


def label(name: str) -> str:
    """A short label for colour bars and titles.

    Example:
        >>> label("cls")
        'attention to [CLS]'
    """
    found = metric(name)
    return (found.label if found else "") or name


def _positional(name: str) -> bool:
    found = metric(name)
    return found is not None and not found.cross
