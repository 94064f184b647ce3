"""--layers/--heads/--queries, --save-capture and --capture on report, plot, html and stats."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import attnviz
from attnviz.cli import main
from attnviz.store import count_reads

TEXTS = ["the cat sat on the mat", "a dog", "hello there, world"]


@pytest.fixture(scope="module")
def saved(bert_dir, tmp_path_factory):
    """A capture folder written by `attnviz report --save-capture`."""
    folder = tmp_path_factory.mktemp("cap") / "cap"
    argv = ["report", "--model", str(bert_dir), "--format", "json", "--save-capture", str(folder)]
    for t in TEXTS:
        argv += ["--text", t]
    assert main(argv) == 0
    return folder


def test_report_save_capture_writes_a_folder(saved, capsys):
    cap = attnviz.load(saved)
    assert [ex.text for ex in cap] == TEXTS and (saved / "manifest.json").is_file()


def test_report_layers_heads_queries(bert_dir, tmp_path, capsys):
    target = tmp_path / "r.json"
    assert main(["report", "--model", str(bert_dir), "--text", "the cat sat", "--layers", "1", "--heads", "0,2",
                 "--queries", "-1", "--format", "json", "--out", str(target)]) == 0
    rows = json.loads(target.read_text())["rows"]
    att = [r for r in rows if r["kind"] == "attention"]
    assert [r["name"] for r in att] == ["attentions[1]"]
    assert att[0]["shape"][1:3] == [2, 1]  # 2 heads, 1 query row


def test_report_from_a_capture(saved, capsys):
    assert main(["report", "--capture", str(saved), "--layers", "0", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["name"] for r in rows if r["kind"] == "attention"] == ["attentions[0]"]
    assert rows[0]["shape"][0] == 3


def test_plot_grid_from_a_capture_reads_one_layer(saved, tmp_path, capsys):
    out = tmp_path / "grid.png"
    with count_reads() as reads:
        assert main(["plot", "--capture", str(saved), "--example", "2", "--grid", "--layers", "1",
                     "--out", str(out), "--dpi", "60"]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")
    full = attnviz.load(saved, lazy=False)[2].attentions
    assert reads.nbytes == full[1].nbytes  # one layer of one example, nothing else


def test_plot_with_queries_and_layers(bert_dir, tmp_path, capsys):
    out = tmp_path / "last.png"
    assert main(["plot", "--model", str(bert_dir), "--text", "the cat sat", "--layers", "1", "--layer", "1",
                 "--head", "3", "--queries", "last", "--out", str(out), "--dpi", "60"]) == 0
    assert out.read_bytes().startswith(b"\x89PNG")


def test_html_from_a_capture(saved, tmp_path, capsys):
    out = tmp_path / "model.html"
    assert main(["html", "--capture", str(saved), "--example", "1", "--view", "model", "--layers", "0",
                 "--heads", "1-2", "--out", str(out)]) == 0
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "cdn" not in page.lower()


def test_html_extracts_only_the_asked_layers(bert_dir, tmp_path, capsys, monkeypatch):
    seen = {}
    real = attnviz.extract
    monkeypatch.setattr(attnviz, "extract", lambda *a, **k: seen.update(k) or real(*a, **k))
    out = tmp_path / "head.html"
    assert main(["html", "--model", str(bert_dir), "--text", "a dog", "--layers", "1", "--heads", "0,3",
                 "--out", str(out)]) == 0
    assert seen["layers"] == [1] and seen["heads"] == [0, 3]


def test_stats_from_a_capture_and_selected_heads(saved, bert_dir, tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["stats", "--capture", str(saved), "--layers", "1", "--heads", "0,2", "--metrics", "cls,sep",
                 "--maps", "cls", "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "head_stats.csv").open()))
    assert {(r["layer"], r["head"]) for r in rows} == {("1", "0"), ("1", "2")}
    # the same numbers as running the model
    out2 = tmp_path / "s2"
    argv = ["stats", "--model", str(bert_dir), "--layers", "1", "--heads", "0,2", "--metrics", "cls,sep",
            "--maps", "", "--out", str(out2)]
    for t in TEXTS:
        argv += ["--text", t]
    assert main(argv) == 0
    again = list(csv.DictReader((out2 / "head_stats.csv").open()))
    key = lambda r: (r["metric"], r["layer"], r["head"])
    a = {key(r): float(r["value"]) for r in rows}
    b = {key(r): float(r["value"]) for r in again}
    assert a.keys() == b.keys()
    np.testing.assert_allclose([a[k] for k in sorted(a)], [b[k] for k in sorted(a)], atol=1e-5)


@pytest.mark.parametrize("argv,message", [
    (["report", "--capture", "CAP", "--text", "x"], "--capture reads a saved capture, so --text cannot apply"),
    (["report", "--capture", "CAP", "--layers", "5"], "layer 5 is not in this capture"),
    (["plot", "--capture", "CAP", "--example", "9", "--out", "OUT/x.png"], "--example 9 is out of range"),
    (["report", "--capture", "/no/such/capture"], "no capture file at /no/such/capture"),
    (["report", "--model", "MODEL", "--text", "a b", "--queries", "7"], "query position 7 is out of range"),
    (["stats", "--capture", "CAP", "--queries", "last", "--out", "OUT/s"], "need every query row"),
    (["report", "--model", "MODEL", "--text", "other text", "--save-capture", "CAP"], "capture of other texts"),
])
def test_errors_name_the_fix(argv, message, saved, bert_dir, tmp_path, capsys):
    argv = [{"CAP": str(saved), "MODEL": str(bert_dir)}.get(a, a).replace("OUT", str(tmp_path)) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()[0]
    assert message in err, err


@pytest.mark.parametrize("text", ["x", "1,b", ""])
def test_bad_queries_are_usage_errors(text, capsys):
    with pytest.raises(SystemExit) as info:
        main(["report", "--text", "a", "--queries", text])
    assert info.value.code == 2
    assert "--queries" in capsys.readouterr().err
