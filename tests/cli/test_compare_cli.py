"""`attnviz compare`: two model folders or two saved captures -> JSON, Markdown and PNG figures."""
from __future__ import annotations

import json

import pytest

import attnviz
from attnviz.cli import main
from attnviz.testing import save_tiny_model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("m")
    return save_tiny_model("bert", root / "a", seed=0), save_tiny_model("bert", root / "b", seed=1)


def test_compare_two_models_on_texts(models, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", str(models[0]), str(models[1]), "--text", "the cat sat", "--text", "a dog",
                 "--out", str(out), "--top", "3"]) == 0
    printed = capsys.readouterr().out
    record = json.loads((out / "comparison.json").read_text())
    assert record["num_examples"] == 2 and record["before"] == "a" and len(record["cosine"]) == 2
    for name in ("comparison.md", "change_map.png", "layers.png"):
        assert (out / name).exists() and str(out / name) in printed
    assert "| layer | cosine |" in printed


def test_compare_saved_captures_and_builtin_texts(models, tmp_path, capsys):
    texts = ["the cat sat on the mat", "hello world"]
    a = attnviz.extract(models[0], texts, tokenizer=None).save(tmp_path / "a.safetensors")
    b = attnviz.extract(models[1], texts, tokenizer=None).save(tmp_path / "b.safetensors")
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "c1")]) == 0
    assert json.loads((tmp_path / "c1" / "comparison.json").read_text())["texts"] == texts
    assert main(["compare", str(models[0]), str(models[1]), "--data", "builtin", "--out", str(tmp_path / "c2")]) == 0
    assert json.loads((tmp_path / "c2" / "comparison.json").read_text())["num_examples"] == 80


@pytest.mark.parametrize("argv, message", [
    (["compare", "/no/such/a", "/no/such/b", "--text", "x", "--out", "o"], "no model folder or capture file"),
    (["compare", "A", "B", "--out", "o"], "no input text"),
])
def test_compare_errors(models, tmp_path, capsys, argv, message):
    argv = [str(models[0]) if a == "A" else str(models[1]) if a == "B" else a for a in argv]
    argv[argv.index("o")] = str(tmp_path / "o")
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_compare_help_has_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    assert "attnviz compare ./pretrained run/best" in capsys.readouterr().out


@pytest.mark.slow
def test_default_names_the_packaged_model(minilm_path, tmp_path, capsys):
    assert main(["compare", "default", str(minilm_path), "--text", "A warm film.", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "comparison.json").read_text())
    assert min(min(row) for row in data["cosine"]) > 0.9999
