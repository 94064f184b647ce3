"""`attnviz relevance`: table, JSON and strips from the command line, on tiny models."""
from __future__ import annotations

import csv

import numpy as np

from attnviz.cli import main
from attnviz.metrics import Relevance, relevance
from attnviz.testing import save_tiny_model


def test_relevance_writes_the_table_the_result_and_one_strip_per_text(tmp_path, capsys):
    model = save_tiny_model("bert", tmp_path / "clf", head="sequence-classification")
    out = tmp_path / "rel"
    code = main(["relevance", "--model", str(model), "--text", "a good film", "--text", "a bad plot",
                 "--figures", "1", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert {p.name for p in out.iterdir()} == {"relevance.json", "relevance.csv", "relevance_0.png"}
    rel = Relevance.load(out / "relevance.json")
    expected = relevance(str(model), ["a good film", "a bad plot"])
    assert rel.tokens == expected.tokens and rel.targets == expected.targets
    np.testing.assert_allclose(rel.scores[1], expected.scores[1], atol=1e-6)
    rows = list(csv.DictReader((out / "relevance.csv").open()))
    assert len(rows) == sum(len(t) for t in rel.tokens)
    assert rows[1]["token"] == rel.tokens[0][1] and float(rows[1]["score"]) == rel.scores[0][1]
    assert "chefer relevance of 2 text(s)" in capsys.readouterr().out


def test_relevance_of_a_language_model_with_a_given_token(tmp_path, capsys):
    model = save_tiny_model("gpt2", tmp_path / "lm", head="lm")
    out = tmp_path / "rel"
    assert main(["relevance", "--model", str(model), "--text", "the cat sat", "--method", "value_norm",
                 "--target", "5", "--figures", "0", "--out", str(out)]) == 0, capsys.readouterr().err
    rel = Relevance.load(out / "relevance.json")
    assert rel.targets == [5] and rel.method == "value_norm" and rel.task == "lm"


def test_a_model_without_a_task_head_is_refused_with_the_fix(tmp_path, capsys):
    model = save_tiny_model("bert", tmp_path / "bare")
    assert main(["relevance", "--model", str(model), "--text", "a", "--out", str(tmp_path / "o")]) == 1
    assert "sequence classifier" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
