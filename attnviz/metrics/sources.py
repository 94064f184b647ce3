"""Stream texts from a list, a generator, a file or a Hugging Face ``datasets`` data set.

Example:
    >>> texts, total = iter_texts(["a text", "another"])
    >>> list(texts), total
    (['a text', 'another'], 2)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

from attnviz.data.files import DATA_SUFFIXES, iter_file_texts
from attnviz.data.files import row_values as _rows


def iter_texts(source: Any, *, text_column: str = "text") -> tuple[Iterator[str], int | None]:
    """``(iterator of texts, total or None)`` from any supported source, read lazily.

    Sources: a list/tuple/generator of strings (or of dict rows with ``text_column``);
    a path (``pathlib.Path``, or a string naming an existing file or ending in
    .txt/.csv/.tsv/.jsonl/.parquet) to a .txt file (one text per non-empty line), a
    .csv/.tsv, .jsonl or .parquet file (the ``text_column`` of each row); a
    ``datasets.Dataset`` or ``IterableDataset`` (streaming), or a ``ray.data.Dataset``
    (read in its own order), by ``text_column``. Any other string is one text.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.jsonl"
        >>> _ = p.write_text('{"text": "good"}\\n{"text": "bad"}\\n')
        >>> list(iter_texts(p)[0])
        ['good', 'bad']
    """
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_file(source)):
        return _checked(iter_file_texts(Path(source), text_column)), None
    if isinstance(source, str):
        return _checked(iter([source])), 1
    if _is_dataset(source):
        return _checked(_dataset_rows(source, text_column)), _length(source)
    if is_ray_dataset(source):
        return _checked(_ray_rows(source, text_column)), None
    if isinstance(source, dict):
        raise TypeError("got a dict: pass a list of texts, a file path or a datasets.Dataset "
                        f"(for a dict of columns, pass its {text_column!r} list)")
    try:
        rows = iter(source)
    except TypeError:
        raise TypeError(f"cannot read texts from a {type(source).__name__}: pass a list or generator of "
                        "strings, a .txt/.csv/.jsonl path or a datasets.Dataset") from None
    return _checked(_rows(rows, text_column)), _length(source)


def _looks_like_file(text: str) -> bool:
    if "\n" in text or len(text) > 4096:
        return False
    return Path(text).suffix.lower() in DATA_SUFFIXES or Path(text).is_file()


def _length(source: Any) -> int | None:
    try:
        return len(source)
    except TypeError:
        return None


def _is_dataset(source: Any) -> bool:
    return type(source).__module__.startswith("datasets.") and hasattr(source, "column_names")


def is_ray_dataset(source: Any) -> bool:
    """True for a ``ray.data.Dataset`` (checked without importing Ray).

    Example:
        >>> is_ray_dataset(["a text"])
        False
    """
    return type(source).__module__.startswith("ray.data") and hasattr(source, "iter_rows")


def _ray_rows(ds: Any, column: str) -> Iterator[Any]:
    names = ds.columns() if hasattr(ds, "columns") else None
    if names is not None and column not in names:
        raise ValueError(f"the Ray data set has no column {column!r} (columns: {', '.join(names)}); "
                         "pass text_column= naming the one with the texts")
    return _rows(ds.select_columns([column]).iter_rows() if names is not None else ds.iter_rows(), column)


def _dataset_rows(ds: Any, column: str) -> Iterator[Any]:
    names = ds.column_names
    if names is not None and column not in names:
        raise ValueError(f"the data set has no column {column!r} (columns: {', '.join(names)}); "
                         "pass text_column= naming the one with the texts")
    if names is not None and hasattr(ds, "select_columns"):
        ds = ds.select_columns([column])
    return _rows(iter(ds), column)


def _checked(texts: Iterator[Any]) -> Iterator[str]:
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text {i} is a {type(text).__name__}, not a string: pass texts as str")
        if not text.strip():
            raise ValueError(f"text {i} is empty: remove it or give it some text")
        yield text
