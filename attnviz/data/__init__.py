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
SENTIMENT_WORDS_PATH = Path(__file__).with_name("sentiment_words.txt")

__all__ = ["REVIEWS_PATH", "REVIEW_LABELS", "SENTIMENT_WORDS_PATH", "load_labeled", "load_reviews",
           "load_sentiment_words", "read_rows"]


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


def load_sentiment_words() -> set[str]:
    """A small general list of English sentiment words (lower case), shipped with the package.

    Used to score relevance methods: the share of a method's top tokens that are sentiment words.

    Example:
        >>> words = load_sentiment_words()
        >>> "wonderful" in words, "boring" in words, "film" in words
        (True, True, False)
    """
    lines = SENTIMENT_WORDS_PATH.read_text(encoding="utf-8").splitlines()
    return {w.strip().lower() for w in lines if w.strip() and not w.startswith("#")}
