"""Read texts from data files: .txt (one per line), .csv/.tsv, .jsonl and .parquet.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.txt"; _ = p.write_text("one\\n\\ntwo\\n")
    >>> list(iter_file_texts(p))
    ['one', 'two']
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Iterable, Iterator

DATA_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl", ".json", ".parquet")

__all__ = ["DATA_SUFFIXES", "iter_file_texts", "row_values"]


def row_values(rows: Iterable[Any], column: str) -> Iterator[Any]:
    """Each row's ``column`` value (dict rows) or the row itself (anything else), lazily.

    Example:
        >>> list(row_values([{"text": "hi", "label": 1}, "there"], "text"))
        ['hi', 'there']
    """
    for row in rows:
        if isinstance(row, dict):
            if column not in row:
                raise ValueError(f"a row has no column {column!r} (columns: {', '.join(map(str, row))}); "
                                 "pass text_column= naming the one with the texts")
            row = row[column]
        yield row


def iter_file_texts(path: Path, column: str = "text") -> Iterator[str]:
    """The non-empty texts of a .txt (one per line), .csv/.tsv, .jsonl or .parquet file, read lazily.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.jsonl"; _ = p.write_text('{"text": "hi"}\\n')
        >>> list(iter_file_texts(p))
        ['hi']
    """
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {path}: check the path (texts are read from .txt, "
                                ".csv, .tsv, .jsonl or .parquet files)")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_texts(path, column)
        return
    with path.open(encoding="utf-8", newline="") as f:
        if suffix in (".csv", ".tsv"):
            reader = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
            if reader.fieldnames is None or column not in reader.fieldnames:
                raise ValueError(f"{path} has no column {column!r} (columns: {', '.join(reader.fieldnames or [])}); "
                                 "pass text_column= naming the one with the texts")
            for row in reader:
                if (row[column] or "").strip():
                    yield row[column]
        elif suffix in (".jsonl", ".json"):
            for number, line in enumerate(f, 1):
                if line.strip():
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{path} line {number} is not JSON ({exc.msg}): write one JSON "
                                         "object per line") from None
                    yield from row_values([row], column)
        else:
            for line in f:
                if line.strip():
                    yield line.rstrip("\r\n")


def _parquet_texts(path: Path, column: str) -> Iterator[str]:
    """The non-empty ``column`` values of a Parquet file, a record batch at a time (needs pyarrow)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(f"reading {path} needs pyarrow: pip install pyarrow (Ray Data and datasets "
                          "install it)") from None
    f = pq.ParquetFile(path)
    names = f.schema_arrow.names
    if column not in names:
        raise ValueError(f"{path} has no column {column!r} (columns: {', '.join(names)}); "
                         "pass text_column= naming the one with the texts")
    for batch in f.iter_batches(columns=[column], batch_size=1024):
        for text in batch.column(0).to_pylist():
            if text is not None and str(text).strip():
                yield text
