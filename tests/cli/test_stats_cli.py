"""``attnviz stats``: writes the tidy table (CSV, JSON), the pattern table and layers x heads maps."""
from __future__ import annotations

import csv
import json

import pytest

from attnviz.cli import main
from attnviz.cli.stats import MAPS
from attnviz.testing import save_tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model("bert", tmp_path_factory.mktemp("tiny-bert"))


def test_stats_from_a_data_file_writes_table_and_maps(tmp_path, model_dir, capsys):
    data = tmp_path / "reviews.jsonl"
    data.write_text("\n".join(json.dumps({"text": t}) for t in
                              ["Great film. Loved it!", "Too long, too loud.", "the cat sat on the mat"]))
    out = tmp_path / "out"
    assert main(["stats", "--model", str(model_dir), "--data", str(data), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = list(csv.DictReader((out / "head_stats.csv").open()))
    assert {r["metric"] for r in rows} >= {"entropy", "cls", "sep", "prev"}
    assert len({(r["layer"], r["head"]) for r in rows}) == 2 * 4
    doc = json.loads((out / "head_stats.json").read_text())
    assert doc["num_examples"] == 3 and len(doc["records"]) == len(rows)
    patterns = list(csv.DictReader((out / "patterns.csv").open()))
    assert len(patterns) == 8 and patterns[0]["pattern"]
    for metric in MAPS:
        png = out / f"{metric}.png"
        assert png.read_bytes()[:4] == b"\x89PNG"
        assert str(png) in printed
    assert "most attention to cls" in printed


def test_stats_from_texts_with_chosen_metrics(tmp_path, model_dir):
    out = tmp_path / "o"
    args = ["stats", "--model", str(model_dir), "--text", "good film", "--text", "bad plot", "--out", str(out),
            "--metrics", "cls,sep", "--maps", "sep"]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["head_stats.csv", "head_stats.json", "sep.png"]


def test_errors_are_one_line_with_the_fix(tmp_path, model_dir, capsys):
    assert main(["stats", "--model", str(model_dir), "--out", str(tmp_path / "x")]) == 1
    assert "--data FILE" in capsys.readouterr().err
    assert main(["stats", "--model", str(model_dir), "--text", "a", "--out", str(tmp_path / "x"),
                 "--metrics", "cls", "--maps", "sep"]) == 1
    assert "add them to --metrics" in capsys.readouterr().err
    assert main(["stats", "--model", str(model_dir), "--data", str(tmp_path / "none.txt"),
                 "--out", str(tmp_path / "x")]) == 1
    assert "no data file" in capsys.readouterr().err
