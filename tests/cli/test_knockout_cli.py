"""`attnviz knockout`: the table and figure it writes, by content."""
from __future__ import annotations

import csv
import json

from attnviz.cli import main
from attnviz.metrics.causal import KnockoutMap
from attnviz.testing import save_tiny_model


def test_knockout_writes_table_json_and_figure(tmp_path, capsys):
    model = save_tiny_model("gpt2", tmp_path / "lm", head="lm")
    out = tmp_path / "ko"
    code = main(["knockout", "--model", str(model), "--text", "the cat sat on the mat", "--text", "a dog ran",
                 "--window", "2", "--sources", "all", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert {p.name for p in out.iterdir()} == {"knockout.json", "knockout.csv", "knockout.png"}
    result = KnockoutMap.load(out / "knockout.json")
    assert result.windows == [[0, 1]] and result.sources == "all" and len(result.texts) == 2
    rows = list(csv.DictReader((out / "knockout.csv").open()))
    assert [float(r["change"]) for r in rows] == [round(float(c), 6) for c in result.change[:, 0]]
    assert (out / "knockout.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "knockout.json").read_text())["format"] == "attnviz.knockout_map/1"
    assert "wrote" in capsys.readouterr().out


def test_knockout_refuses_a_bare_model_and_leaves_no_files(tmp_path, capsys):
    model = save_tiny_model("bert", tmp_path / "bare")
    out = tmp_path / "ko"
    assert main(["knockout", "--model", str(model), "--text", "a b", "--out", str(out)]) == 1
    assert "task head" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
