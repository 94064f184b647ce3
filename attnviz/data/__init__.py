"""Data for fine-tuning: the shipped movie-review sentiment set and users' own labelled texts.

``reviews.jsonl`` holds 400 short movie-review sentences written for attnviz (200
positive, 200 negative; varied wording, length and structure, with negation and mixed
but clear sentiment) and a fixed split: 320 train, 80 validation, balanced in both.

Example:
    >>> from attnviz.data import load_reviews
    >>> dd = load_reviews()
    >>> dd.num_rows, dd["train"].features["label"].names
    ({'train': 320, 'validation': 80}, ['negative', 'positive'])
"""
from __future__ import annotations

from pathlib import Path

from attnviz.data.labeled import load_labeled, read_rows

REVIEWS_PATH = Path(__file__).with_name("reviews.jsonl")
REVIEW_LABELS = ["negative", "positive"]

__all__ = ["REVIEWS_PATH", "REVIEW_LABELS", "load_labeled", "load_reviews", "read_rows"]


def load_reviews():
    """The shipped sentiment data set as a ``DatasetDict`` ("train": 320, "validation": 80).

    Columns ``text`` and ``label`` (``ClassLabel`` with names negative = 0, positive = 1).
    Nothing is downloaded: the file ships inside the package.

    Example:
        >>> ex = load_reviews()["train"][0]
        >>> sorted(ex), ex["label"] in (0, 1)
        (['label', 'text'], True)
    """
    return load_labeled(REVIEWS_PATH, label_names=REVIEW_LABELS)
