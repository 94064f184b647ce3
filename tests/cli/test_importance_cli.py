"""`attnviz importance`: tables, maps, pruning curve and matters-vs-changed from the command line."""
from __future__ import annotations

import json

from attnviz.cli import main
from attnviz.testing import save_tiny_model


def test_importance_writes_tables_maps_pruning_and_matters_vs_changed(tmp_path, capsys):
    model = save_tiny_model("bert", tmp_path / "clf", head="sequence-classification")
    before = save_tiny_model("bert", tmp_path / "base", seed=1)
    data = tmp_path / "d.jsonl"
    rows = [{"text": t, "label": y} for t, y in [("a good film", "pos"), ("a bad film", "neg")] * 5]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "imp"
    code = main(["importance", "--model", str(model), "--data", str(data), "--method", "both",
                 "--before", str(before), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    names = {p.name for p in out.iterdir()}
    assert {"importance.json", "importance.csv", "importance.png", "importance-ablation.json",
            "importance-ablation-accuracy.png", "pruning.json", "pruning.png", "matters_vs_changed.png"} <= names
    doc = json.loads((out / "importance.json").read_text())
    assert doc["method"] == "gradient" and len(doc["scores"]) == 2 and len(doc["scores"][0]) == 4
    assert (out / "importance.csv").read_text().splitlines()[0].startswith("rank,layer,head,score")
    assert json.loads((out / "pruning.json").read_text())["pruned"][-1] == 8
    assert "Spearman rho" in capsys.readouterr().out


def test_importance_refuses_a_missing_model(tmp_path, capsys):
    assert main(["importance", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 1
    assert "no model folder" in capsys.readouterr().err
