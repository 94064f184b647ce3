"""attnviz.data: the shipped reviews and load_labeled's reading, checking and splitting."""
from __future__ import annotations

import json

import datasets
import pytest

from attnviz.data import REVIEWS_PATH, load_labeled, load_reviews


def _ds(texts, labels, **columns):
    return datasets.Dataset.from_dict({"text": texts, "label": labels, **columns})


def test_reviews_are_balanced_fixed_and_varied():
    dd = load_reviews()
    assert dd.num_rows == {"train": 320, "validation": 80}
    assert dd["train"].features["label"].names == ["negative", "positive"]
    for split in ("train", "validation"):
        labels = list(dd[split]["label"])
        assert labels.count(0) == labels.count(1)
    texts = list(dd["train"]["text"]) + list(dd["validation"]["text"])
    assert len(set(texts)) == 400  # no duplicates, so no leak between splits
    lengths = [len(t.split()) for t in texts]
    assert min(lengths) <= 2 and max(lengths) >= 15
    assert sum("not" in t.lower().split() for t in texts) >= 20  # negation is covered
    assert list(load_reviews()["validation"]["text"]) == list(dd["validation"]["text"])  # the split is fixed


def test_reviews_file_has_the_documented_fields():
    rows = [json.loads(line) for line in REVIEWS_PATH.read_text().splitlines()]
    assert {tuple(sorted(r)) for r in rows} == {("label", "split", "text")}
    assert {r["split"] for r in rows} == {"train", "validation"}


def test_dataset_is_split_stratified_and_renamed():
    ds = datasets.Dataset.from_dict({"sentence": [f"text {i}" for i in range(20)],
                                     "y": [i % 2 for i in range(20)], "other": list(range(20))})
    dd = load_labeled(ds, text_column="sentence", label_column="y", validation_split=0.2, seed=1)
    assert dd.num_rows == {"train": 16, "validation": 4}
    assert dd["train"].column_names == ["text", "label"]
    assert list(dd["validation"]["label"]).count(0) == 2
    again = load_labeled(ds, text_column="sentence", label_column="y", validation_split=0.2, seed=1)
    assert list(again["validation"]["text"]) == list(dd["validation"]["text"])


def test_datasetdict_keeps_its_splits_and_class_names():
    feats = datasets.Features({"text": datasets.Value("string"),
                               "label": datasets.ClassLabel(names=["neg", "neu", "pos"])})
    dd = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 2]}, features=feats),
        "test": datasets.Dataset.from_dict({"text": ["d"], "label": [2]}, features=feats)})
    out = load_labeled(dd)
    assert out.num_rows == {"train": 3, "validation": 1}
    assert out["train"].features["label"].names == ["neg", "neu", "pos"]


def test_csv_and_jsonl_files(tmp_path):
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("review,stars\n" + "".join(f"text {i},{i % 2}\n" for i in range(10)))
    dd = load_labeled(csv_path, text_column="review", label_column="stars")
    assert sorted(list(dd["train"]["label"]) + list(dd["validation"]["label"])) == [0] * 5 + [1] * 5
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": f"t{i}", "label": i % 2}) for i in range(10)))
    assert load_labeled(jsonl).num_rows == {"train": 8, "validation": 2}


def test_string_labels_map_in_sorted_order():
    dd = load_labeled(_ds(["a", "b", "c", "d"], ["pos", "neg", "pos", "neg"]), validation_split=0.5)
    assert dd["train"].features["label"].names == ["neg", "pos"]
    rows = list(dd["train"]) + list(dd["validation"])
    pairs = {row["text"]: row["label"] for row in rows}
    assert pairs == {"a": 1, "b": 0, "c": 1, "d": 0}


@pytest.mark.parametrize("labels, match", [
    ([0, 1, 2, 5], "class 3 has no example"),
    ([0, 1, -1, 1], "outside"),
    ([0.0, 1.0, 0.0, 1.0], "integer class ids"),
    ([True, False, True, False], "integer class ids"),
    (["0", "1", "x", "1"], "either class names"),
    ([1, 1, 1, 1], "at least two classes"),
])
def test_bad_labels_are_rejected_with_the_fix(labels, match):
    with pytest.raises(ValueError, match=match):
        load_labeled(_ds(["a", "b", "c", "d"], labels))


def test_label_outside_given_names():
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        load_labeled(_ds(["a", "b", "c"], [0, 1, 2]), label_names=["neg", "pos"])


def test_missing_column_names_the_columns_found():
    ds = datasets.Dataset.from_dict({"sentence": ["a", "b"], "label": [0, 1]})
    with pytest.raises(ValueError, match=r"no column 'text' \(columns found: sentence, label\)"):
        load_labeled(ds)


def test_empty_data_and_empty_text():
    with pytest.raises(ValueError, match="empty"):
        load_labeled(_ds([], []))
    with pytest.raises(ValueError, match="row 1 has an empty"):
        load_labeled(_ds(["a", "  ", "c", "d"], [0, 1, 0, 1]))


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no data file"):
        load_labeled(tmp_path / "missing.csv")
    bad = tmp_path / "d.txt"
    bad.write_text("x")
    with pytest.raises(ValueError, match="use a .csv"):
        load_labeled(bad)
    with pytest.raises(ValueError, match="too small|cannot be split"):
        load_labeled(_ds(["a", "b"], [0, 1]), validation_split=0.1)
