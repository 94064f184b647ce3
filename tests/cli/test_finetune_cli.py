"""`attnviz finetune`: a tiny model on a small CSV, the run folder, refusal to clobber, help."""
from __future__ import annotations

import json

import pytest

from attnviz.cli import main
from attnviz.testing import save_tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model("bert", tmp_path_factory.mktemp("m") / "bert")


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("d") / "reviews.csv"
    rows = [("a good film", "pos"), ("a bad film", "neg"), ("the cat sat", "pos"), ("a dull dog", "neg")] * 4
    path.write_text("review,sentiment\n" + "".join(f"{t},{l}\n" for t, l in rows))
    return path


def test_finetune_writes_the_run_and_prints_it(model_dir, data_file, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["finetune", "--model", str(model_dir), "--data", str(data_file), "--text-column", "review",
            "--label-column", "sentiment", "--out", str(out), "--epochs", "2", "--batch-size", "4",
            "--max-length", "16", "--method", "loop", "--probe-text", "a good film", "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    record = json.loads((out / "finetune_result.json").read_text())
    assert record["label_names"] == ["neg", "pos"] and len(record["metrics"]) == 2
    assert (out / "best" / "config.json").exists() and (out / "probes" / "epoch-2.safetensors").exists()
    assert str(out / "best") in printed and "| epoch |" in printed
    assert main(argv) == 1  # the folder now holds a run
    assert "overwrite" in capsys.readouterr().err
    assert main(argv + ["--overwrite"]) == 0


def test_finetune_builtin_data_with_the_trainer(model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["finetune", "--model", str(model_dir), "--data", "builtin", "--out", str(out), "--epochs", "1",
                 "--max-length", "16", "--quiet"]) == 0
    record = json.loads((out / "finetune_result.json").read_text())
    assert record["method"] == "trainer" and record["label_names"] == ["negative", "positive"]


def test_finetune_bad_labels_give_one_clear_line(model_dir, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": 0}\n{"text": "b", "label": 5}\n' * 3)
    assert main(["finetune", "--model", str(model_dir), "--data", str(bad), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "attnviz finetune: error:" in err and "renumber" in err


def test_finetune_help_has_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["finetune", "--help"])
    assert "attnviz finetune --data builtin --out run" in capsys.readouterr().out
