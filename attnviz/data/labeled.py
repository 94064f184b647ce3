"""Labelled text data for fine-tuning: read, check and split into train / validation.

:func:`load_labeled` accepts a CSV/TSV or JSONL file, a ``datasets.Dataset`` or a
``datasets.DatasetDict`` and returns a ``DatasetDict`` with "train" and "validation",
columns ``text`` (str) and ``label`` (a ``ClassLabel``), whatever the input called them.

Labels must be integer class ids 0..K-1 with every class present. String labels are
accepted too: strings that are whole numbers ("0", "1") become those numbers, other
strings ("negative", "positive") are mapped to ids in **sorted order** and become the
class names (so "negative" -> 0, "positive" -> 1). Anything else (floats, booleans,
missing labels, ids with gaps) raises a ValueError that says how to fix the data.

Example:
    >>> import datasets
    >>> ds = datasets.Dataset.from_dict({"sentence": ["good", "bad", "fine", "awful", "great"],
    ...                                  "label": ["pos", "neg", "pos", "neg", "pos"]})
    >>> dd = load_labeled(ds, text_column="sentence", validation_split=0.4)
    >>> dd["train"].features["label"].names, dd["train"].column_names
    (['neg', 'pos'], ['text', 'label'])
"""
from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

SPLIT_NAMES = {"train": ("train",), "validation": ("validation", "valid", "dev", "eval", "test")}


def load_labeled(
    path_or_dataset: Any,
    *,
    text_column: str = "text",
    label_column: str = "label",
    validation_split: float = 0.2,
    seed: int = 0,
    label_names: Sequence[str] | None = None,
):
    """Load labelled texts as a ``DatasetDict`` with "train" and "validation".

    Args:
        path_or_dataset: a ``.csv``/``.tsv``/``.jsonl``/``.json`` file (a JSON list or one
            object per line), a ``datasets.Dataset`` or a ``datasets.DatasetDict``.
        text_column / label_column: names of the text and label columns in the input;
            the result always names them ``text`` and ``label``.
        validation_split: share of the examples held out for validation when the input
            has no validation part (a DatasetDict split, or a ``split`` column in a file
            whose values are "train"/"validation"). The split is stratified by label and
            fixed by ``seed``.
        label_names: names of the classes (K = its length); default: from a ClassLabel
            feature, from string labels, else "0".."K-1".

    Raises:
        ValueError: missing columns (the message lists the columns found), an empty data
            set or text, labels that are not integer ids 0..K-1.

    Example:
        >>> import datasets
        >>> ds = datasets.Dataset.from_dict({"text": ["a", "b", "c", "d"], "label": [0, 1, 0, 1]})
        >>> dd = load_labeled(ds, validation_split=0.5)
        >>> dd.num_rows
        {'train': 2, 'validation': 2}
    """
    parts = _read(path_or_dataset)
    names = list(label_names) if label_names is not None else _class_label_names(parts, label_column)
    texts, labels = {}, {}
    for split, rows in parts.items():
        texts[split], labels[split] = _columns(rows, text_column, label_column, split)
    if not any(texts.values()):
        raise ValueError(f"the data set is empty ({_describe(path_or_dataset)}): give it at least "
                         "a few labelled texts per class")
    ids, names = _label_ids(labels, names)
    if "validation" not in texts:
        return _split(texts["train"], ids["train"], names, validation_split, seed)
    return _dataset_dict({s: (texts[s], ids[s]) for s in ("train", "validation")}, names)


# --- reading ------------------------------------------------------------------------------
def _read(source: Any) -> dict[str, Any]:
    """{"train": rows, ["validation": rows]} where rows is a Dataset or a list of dicts."""
    import datasets

    if isinstance(source, datasets.DatasetDict):
        return _pick_splits(dict(source), "the DatasetDict")
    if isinstance(source, datasets.Dataset):
        return {"train": source}
    if isinstance(source, (str, os.PathLike)):
        rows = read_rows(source)
        if rows and "split" in rows[0]:
            groups: dict[str, list] = {}
            for row in rows:
                groups.setdefault(str(row.get("split")), []).append(row)
            return _pick_splits(groups, str(source))
        return {"train": rows}
    raise TypeError(f"cannot read labelled data from a {type(source).__name__}: pass a CSV/JSONL "
                    "path, a datasets.Dataset or a datasets.DatasetDict")


def _pick_splits(groups: dict[str, Any], where: str) -> dict[str, Any]:
    found = {}
    for name, aliases in SPLIT_NAMES.items():
        for alias in aliases:
            if alias in groups:
                found[name] = groups[alias]
                break
    if "train" not in found:
        raise ValueError(f"{where} has no 'train' split (splits: {', '.join(map(str, groups)) or 'none'}): "
                         "name the training part 'train', or pass a single Dataset to split")
    return found


def read_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a CSV/TSV (all values strings), JSONL or JSON-list file, as dicts.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
        >>> _ = p.write_text("text,label\\ngood,1\\n")
        >>> read_rows(p)
        [{'text': 'good', 'label': '1'}]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no data file at {path}: check the path (CSV or JSONL with text and label columns)")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ","))
    if suffix in (".jsonl", ".json"):
        text = path.read_text(encoding="utf-8")
        if suffix == ".json" and text.lstrip().startswith("["):
            return list(json.loads(text))
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path} line {n} is not valid JSON ({exc.msg}): write one JSON "
                                     "object per line, e.g. {\"text\": \"...\", \"label\": 1}") from exc
        return rows
    raise ValueError(f"{path} has the extension {suffix or '(none)'!r}: use a .csv, .tsv or .jsonl file")


# --- checking -------------------------------------------------------------------------------
def _columns(rows: Any, text_column: str, label_column: str, split: str) -> tuple[list[str], list[Any]]:
    if hasattr(rows, "column_names"):
        columns = list(rows.column_names)
    else:
        columns = list(rows[0]) if rows else []
    if rows is not None and len(rows) and (text_column not in columns or label_column not in columns):
        missing = [c for c in (text_column, label_column) if c not in columns]
        raise ValueError(
            f"the {split} data has no column {' or '.join(map(repr, missing))} (columns found: "
            f"{', '.join(columns) or 'none'}); name the right ones with text_column= / label_column=")
    if hasattr(rows, "column_names"):
        texts, labels = list(rows[text_column]), list(rows[label_column])
    else:
        texts = [r.get(text_column) for r in rows]
        labels = [r.get(label_column) for r in rows]
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f"{split} row {i} has an empty or missing text ({t!r}): remove the row or give it text")
    return texts, labels


def _class_label_names(parts: dict[str, Any], label_column: str) -> list[str] | None:
    import datasets

    rows = parts.get("train")
    feature = getattr(rows, "features", {}).get(label_column) if hasattr(rows, "features") else None
    return list(feature.names) if isinstance(feature, datasets.ClassLabel) else None


def _label_ids(labels: dict[str, list], names: list[str] | None) -> tuple[dict[str, list[int]], list[str]]:
    every = [(split, i, v) for split, values in labels.items() for i, v in enumerate(values)]
    if all(isinstance(v, str) for _, _, v in every) and not all(_is_int_text(v) for _, _, v in every):
        numeric = [(s, i, v) for s, i, v in every if _is_number_text(v)]
        if numeric:
            s, i, v = numeric[0]
            raise ValueError(f"{s} row {i} has the label {v!r} among text labels: use either class "
                             "names for every row or integer ids for every row")
        classes = sorted({v for _, _, v in every})
        if names is not None and set(names) >= set(classes):
            classes = list(names)
        lookup = {c: k for k, c in enumerate(classes)}
        return {s: [lookup[v] for v in vals] for s, vals in labels.items()}, classes
    ids = {s: [_as_int(v, s, i) for i, v in enumerate(vals)] for s, vals in labels.items()}
    found = sorted({v for vals in ids.values() for v in vals})
    if len(found) < 2:
        raise ValueError(f"every label is {found[0]}: a classifier needs at least two classes in the data")
    k = len(names) if names is not None else (found[-1] + 1)
    bad = [v for v in found if v < 0 or v >= k]
    if bad:
        raise ValueError(f"label {bad[0]} is outside 0..{k - 1} (labels found: {found}): labels must be "
                         f"class ids 0..K-1; renumber them{' or pass label_names= for all classes' if names else ''}")
    if names is None and len(found) != k:
        gap = sorted(set(range(k)) - set(found))
        raise ValueError(f"labels must be the ids 0..K-1 with every class present, but class {gap[0]} has no "
                         f"example (labels found: {found}): renumber the classes without gaps")
    return ids, list(names) if names is not None else [str(c) for c in range(k)]


def _as_int(value: Any, split: str, row: int) -> int:
    if isinstance(value, str) and _is_int_text(value):
        return int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        hint = " (a missing value?)" if value is None or (isinstance(value, float) and math.isnan(value)) else ""
        raise ValueError(f"{split} row {row} has the label {value!r}{hint}: labels must be integer class ids "
                         "0..K-1 (or class names as strings); convert them, e.g. int(label)")
    return int(value)


def _is_int_text(value: str) -> bool:
    return value.strip().lstrip("-").isdigit()


def _is_number_text(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


# --- building -------------------------------------------------------------------------------
def _features(names: list[str]):
    import datasets

    return datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)})


def _dataset_dict(parts: dict[str, tuple[list[str], list[int]]], names: list[str]):
    import datasets

    out = {}
    for split, (texts, ids) in parts.items():
        if not texts:
            raise ValueError(f"the {split} split is empty: give it some examples, or pass a single "
                             "Dataset and let validation_split= make the split")
        out[split] = datasets.Dataset.from_dict({"text": texts, "label": ids}, features=_features(names))
    return datasets.DatasetDict(out)


def _split(texts: list[str], ids: list[int], names: list[str], share: float, seed: int):
    import datasets

    if not 0 < share < 1:
        raise ValueError(f"validation_split={share} must be between 0 and 1 (e.g. 0.2 for 20%)")
    n_val = int(round(len(texts) * share))
    if n_val < 1 or n_val >= len(texts):
        raise ValueError(f"{len(texts)} example(s) cannot be split {1 - share:.0%}/{share:.0%} into train and "
                         "validation: add examples or change validation_split=")
    full = datasets.Dataset.from_dict({"text": texts, "label": ids}, features=_features(names))
    stratify = "label" if min(ids.count(k) for k in set(ids)) >= 2 and n_val >= len(names) else None
    parts = full.train_test_split(test_size=n_val, seed=seed, stratify_by_column=stratify)
    return datasets.DatasetDict({"train": parts["train"], "validation": parts["test"]})


def _describe(source: Any) -> str:
    return str(source) if isinstance(source, (str, os.PathLike)) else type(source).__name__
