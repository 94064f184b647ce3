"""`attnviz extract` (a capture folder from a data file, resumable) and the --engine flags of stats."""
from __future__ import annotations

import numpy as np

import attnviz
from attnviz.cli import main

TEXTS = ["the cat sat on the mat", "a dog", "hello there, world", "the dog sat", "a cat"]


def test_extract_writes_a_capture_folder_and_resumes(bert_dir, tmp_path, capsys):
    data = tmp_path / "texts.jsonl"
    data.write_text("".join(f'{{"text": "{t}"}}\n' for t in TEXTS))
    out = tmp_path / "caps"
    argv = ["extract", "--model", str(bert_dir), "--data", str(data), "--out", str(out), "--shard-size", "2",
            "--layers", "1", "--no-hidden-states"]
    assert main(argv) == 0
    assert "wrote 5 example(s) in 3 shard(s)" in capsys.readouterr().out
    cap = attnviz.load(out)
    assert [ex.text for ex in cap] == TEXTS and cap.layers == [1] and cap[0].hidden_states is None
    expected = attnviz.extract(str(bert_dir), TEXTS, layers=[1], hidden_states=False, tokenizer=None)
    for got, want in zip(cap, expected):
        np.testing.assert_allclose(np.asarray(got.attentions), want.attentions, atol=1e-6)
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    (out / "shard-00001.safetensors").unlink()  # a lost shard is computed again, the others kept
    assert main(argv) == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*")}.keys() == \
        {k for k in mtimes if k.startswith("shard-")}
    assert (out / "shard-00000.safetensors").stat().st_mtime_ns == mtimes["shard-00000.safetensors"]


def test_extract_refusals(bert_dir, tmp_path, capsys):
    assert main(["extract", "--model", str(bert_dir), "--out", str(tmp_path / "c")]) == 1
    assert "--data FILE" in capsys.readouterr().err
    data = tmp_path / "t.txt"
    data.write_text("a text\n")
    assert main(["extract", "--data", str(data), "--out", str(tmp_path / "c"), "--num-workers", "2"]) == 1
    assert "only apply with --engine ray" in capsys.readouterr().err


def test_stats_engine_flags_reach_dataset_stats(bert_dir, tmp_path, monkeypatch, capsys):
    import attnviz.metrics

    seen = {}
    real = attnviz.metrics.dataset_stats

    def spy(model, tok, source, **kwargs):
        seen.update(kwargs, model=model)
        kwargs.update(engine="local", num_workers=None, worker_resources=None, address=None)
        return real(model, tok, source, **kwargs)

    monkeypatch.setattr(attnviz.metrics, "dataset_stats", spy)
    argv = ["stats", "--model", str(bert_dir), "--text", "a cat", "--out", str(tmp_path / "s"), "--maps", "",
            "--engine", "ray", "--address", "auto", "--num-workers", "3", "--gpus-per-worker", "0.5"]
    assert main(argv) == 0
    assert seen["engine"] == "ray" and seen["address"] == "auto" and seen["num_workers"] == 3
    assert seen["worker_resources"] == {"num_gpus": 0.5} and str(seen["model"]) == str(bert_dir)  # a path
