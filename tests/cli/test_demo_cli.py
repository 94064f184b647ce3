"""`attnviz demo` writes everything it promises (on a tiny model, so it takes seconds)."""
from __future__ import annotations

import json

from attnviz.cli import main
from attnviz.testing import save_tiny_model


def test_demo_writes_figures_views_stats_and_comparison(tmp_path, capsys):
    model = save_tiny_model("bert", tmp_path / "model")
    out = tmp_path / "demo"
    assert main(["demo", "--model", str(model), "--out", str(out), "--epochs", "1", "--layer", "1",
                 "--head", "2"]) == 0
    printed = capsys.readouterr().out
    expected = ["capture.safetensors", "shapes.md", "grid.png", "grid.pdf", "head_L1_H2.png", "hidden_norms.png",
                "layer_similarity.png", "head_view.html", "model_view.html", "head_stats.csv",
                "comparison/comparison.json", "comparison/change_map.png", "comparison/importance.json",
                "comparison/importance_vs_change.png", "finetune/trajectory.png", "knockout/knockout.json",
                "knockout/knockout.csv", "knockout/knockout.png"]
    for name in expected:
        assert (out / name).stat().st_size > 0, name
        assert str(out / name) in printed
    assert "attentions[0]" in printed and "mean cosine similarity" in printed and "Spearman" in printed
    assert "blocking [CLS]'s attention" in printed
    knockout = json.loads((out / "knockout" / "knockout.json").read_text())
    assert len(knockout["windows"]) == 2  # the tiny model's two layers, one knockout window each
    assert (out / "grid.pdf").read_bytes().startswith(b"%PDF")


def test_demo_without_finetuning(tmp_path, capsys):
    model = save_tiny_model("bert", tmp_path / "model")
    assert main(["demo", "--model", str(model), "--out", str(tmp_path / "d"), "--no-finetune",
                 "--layer", "0", "--head", "mean"]) == 0
    assert not (tmp_path / "d" / "comparison").exists()
    assert (tmp_path / "d" / "head_L0_Hmean.png").exists()
