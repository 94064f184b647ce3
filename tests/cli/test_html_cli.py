"""`attnviz html`: writes an offline view, prints the path, clear errors."""
from __future__ import annotations

import json
import re

import pytest

from attnviz.cli import main
from attnviz.cli.html import int_list
from attnviz.testing import save_tiny_model


def payload(path) -> dict:
    text = path.read_text(encoding="utf-8")
    return json.loads(re.search(r'<script type="application/json" id="attnviz-\w+-data">(.*?)</script>', text, re.S)[1])


def test_head_view_file(bert_dir, tmp_path, capsys):
    out = tmp_path / "head.html"
    assert main(["html", "--model", str(bert_dir), "--text", "the cat sat", "--text", "hello world",
                 "--example", "1", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    html = out.read_text(encoding="utf-8")
    assert 'data-attnviz-view="head"' in html and "https://" not in html
    (entry,) = payload(out)["kinds"]
    assert entry["q"] == ["[CLS]", "hello", "world", "[SEP]"]


def test_model_view_with_layers_and_heads(bert_dir, tmp_path, capsys):
    out = tmp_path / "model.html"
    assert main(["html", "--model", str(bert_dir), "--text", "the cat", "--view", "model", "--layers", "1",
                 "--heads", "0,2-3", "--scale", "map", "--out", str(out)]) == 0
    data = payload(out)
    assert data["scale"] == "map" and data["kinds"][0]["layers"] == [1] and data["kinds"][0]["heads"] == [0, 2, 3]
    assert 'data-attnviz-view="model"' in out.read_text(encoding="utf-8")


def test_seq2seq_cross_only(tmp_path, capsys):
    model = save_tiny_model("t5", tmp_path / "t5", head="lm")
    out = tmp_path / "cross.html"
    assert main(["html", "--model", str(model), "--text", "the cat sat", "--decoder-text", "le chat",
                 "--kind", "cross", "--out", str(out)]) == 0
    assert [k["name"] for k in payload(out)["kinds"]] == ["cross"]


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["html", "--help"])
    assert 'attnviz html --text "The cat sat on the mat."' in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["--layers", "9"], "layer 9 is out of range"),
    (["--example", "3"], "example 3 is out of range"),
])
def test_errors_are_one_clear_line(bert_dir, tmp_path, capsys, argv, message):
    out = tmp_path / "x.html"
    assert main(["html", "--model", str(bert_dir), "--text", "a b", "--out", str(out), *argv]) == 1
    assert message in capsys.readouterr().err and not out.exists()


def test_int_list():
    assert int_list("0, 2-4,7") == [0, 2, 3, 4, 7]
    with pytest.raises(Exception, match="not a list of numbers"):
        int_list("a-b")
    with pytest.raises(SystemExit):
        main(["html", "--layers", "x"])


def test_out_must_be_an_html_file(capsys, tmp_path):
    from attnviz.cli import main

    assert main(["html", "--text", "hello", "--out", str(tmp_path / "view.docx")]) == 1
    assert "ending in .html" in capsys.readouterr().err
    assert not (tmp_path / "view.docx").exists()
