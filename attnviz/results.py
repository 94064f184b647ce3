"""One contract for every attnviz result: ``save``/``load``, ``to_dict``/``from_dict``, ``to_frame``.

:class:`ResultIO` is the base class of every result object (Capture, HeadStats, Comparison,
HeadImportance, PruningCurve, Rollout, LogitLens, Trajectory, FinetuneResult, ShapeReport);
:func:`json_safe` is the one NaN-to-null JSON helper and :func:`pandas` the one "needs pandas"
message.

Example:
    >>> json_safe([1.0, float("nan")])
    [1.0, None]
"""
from __future__ import annotations

__all__ = ["ResultIO", "frame", "json_nan", "json_safe", "pandas"]

import math
import os
from pathlib import Path
from typing import Any

from attnviz.atomic import atomic_write_text


def json_safe(value: Any) -> Any:
    """JSON-ready, recursively: arrays and numpy scalars as Python values, paths as str, NaN/inf as None
    (bare NaN is not JSON). The one NaN-to-null helper of attnviz.

    Example:
        >>> import numpy as np
        >>> json_safe({"a": np.array([1.0, np.nan]), "b": float("inf"), 3: np.float32(0.5)})
        {'a': [1.0, None], 'b': None, '3': 0.5}
    """

    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def json_nan(value: Any) -> Any:
    """Inverse of :func:`attnviz.results.json_safe` for numbers: null as NaN, recursively.

    Example:
        >>> json_nan([1.0, None, [None]])
        [1.0, nan, [nan]]
    """
    if value is None:
        return float("nan")
    if isinstance(value, list):
        return [json_nan(v) for v in value]
    return value


class ResultIO:
    """The methods every attnviz result shares: ``to_dict``, ``to_json``, ``save``, ``load``, ``to_frame``.

    A result defines ``to_dict()`` (JSON-ready) and ``from_dict(doc)``; it then gets
    ``to_json(path=None)`` (the JSON text without a path; with one, the file, written
    atomically, and its Path), ``save(path)`` (JSON unless the class has a format of its
    own: a Capture saves safetensors, a Comparison a folder), the ``load(path)`` classmethod
    (what ``save`` wrote) and ``to_frame()`` (its ``records()`` as a pandas DataFrame).
    Results also have ``plot(...)``. Captures, HeadStats, Comparison, FinetuneResult,
    ShapeReport, Rollout and HeadImportance follow it.

    Example:
        >>> import json
        >>> class Pair(ResultIO):
        ...     def __init__(self, a): self.a = a
        ...     def to_dict(self): return {"a": self.a}
        ...     @classmethod
        ...     def from_dict(cls, doc): return cls(doc["a"])
        >>> json.loads(Pair(float("nan")).to_json())
        {'a': None}
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # equality by content, set before @dataclass runs (it keeps an __eq__ the class already has)
        if "__eq__" not in cls.__dict__:
            cls.__eq__ = ResultIO.__eq__  # type: ignore[method-assign]
            cls.__hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        """Equal when of the same class with the same content (:meth:`to_dict` after :func:`json_safe`)."""
        if type(other) is not type(self):
            return NotImplemented
        return json_safe(self._content()) == json_safe(other._content())  # type: ignore[attr-defined]

    def _content(self) -> dict:
        """What equality compares: :meth:`to_dict` (a Capture adds its arrays)."""
        return self.to_dict()

    def to_dict(self) -> dict:  # pragma: no cover - every result defines it
        raise NotImplementedError

    @classmethod
    def from_dict(cls, doc: dict):  # pragma: no cover - every result defines it
        raise NotImplementedError

    def records(self) -> list[dict]:
        """The rows of :meth:`to_frame` (a list of dicts; no pandas needed)."""
        raise NotImplementedError(f"{type(self).__name__} has no table")

    def to_json(self, path: str | os.PathLike | None = None, *, indent: int | None = 1):
        """The result as JSON: the text when ``path`` is None, else the file written (atomically) and its Path."""
        import json

        text = json.dumps(json_safe(self.to_dict()), indent=indent, allow_nan=False) + "\n"
        return text if path is None else atomic_write_text(path, text)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the result to ``path`` as JSON (atomically); :meth:`load` reads it back."""
        return self.to_json(path)

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Read a result written by :meth:`save` (or :meth:`to_json` with a path)."""
        import json

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no {cls.__name__} file at {path}: pass the path that save() returned")
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def to_frame(self):
        """The result's table as a pandas DataFrame (needs pandas: ``pip install 'attnviz[pandas]'``)."""
        return frame(self.records(), type(self).__name__)


def pandas(owner: str = "this result"):
    """The pandas module, or the one ImportError of attnviz that names the extra to install.

    Example:
        >>> pandas("HeadStats.to_frame").__name__  # doctest: +SKIP
        'pandas'
    """
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(f"{owner} needs pandas: pip install 'attnviz[pandas]' "
                          "(or use records()/to_dict(), which need nothing)") from exc
    return pd


def frame(rows: list[dict], owner: str = "this result"):
    """``pandas.DataFrame(rows)``, with :func:`pandas`'s ImportError when pandas is missing.

    Example:
        >>> frame([{"a": 1}]).shape  # doctest: +SKIP
        (1, 1)
    """
    return pandas(f"{owner}.to_frame").DataFrame.from_records(rows)
