"""`attnviz report` and the command's error handling."""
from __future__ import annotations

import json

import pytest

from attnviz.cli import main
from attnviz.testing import save_tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model("bert", tmp_path_factory.mktemp("m") / "bert")


def test_report_prints_the_table(model_dir, capsys):
    assert main(["report", "--model", str(model_dir), "--text", "the cat sat"]) == 0
    out = capsys.readouterr().out
    assert "attentions[1]" in out and "hidden_states[2]" in out


def test_report_json_to_file(model_dir, tmp_path, capsys):
    target = tmp_path / "r.json"
    assert main(["report", "--model", str(model_dir), "--text", "a", "--text", "b", "--format", "json",
                 "--out", str(target)]) == 0
    data = json.loads(target.read_text())
    assert data["rows"][0]["shape"][0] == 2


def test_report_from_a_data_file(model_dir, tmp_path, capsys):
    data = tmp_path / "texts.csv"
    data.write_text("text,label\nthe cat,1\na dog,0\n")
    assert main(["report", "--model", str(model_dir), "--data", str(data), "--format", "markdown"]) == 0
    assert "| attentions[0] |" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["report", "--model", "/no/such/model", "--text", "x"], "no model at /no/such/model"),
    (["report", "--text", ""], "text 1 is empty"),
    (["report", "--model", "MODEL"], "no input text"),
    (["report", "--model", "MODEL", "--data", "/no/file.txt"], "no data file"),
])
def test_errors_are_one_clear_line(argv, message, model_dir, capsys):
    argv = [str(model_dir) if a == "MODEL" else a for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[0] and err[0].startswith("attnviz report: error:")
    assert "Traceback" not in "\n".join(err)


def test_unknown_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_debug_shows_the_traceback(capsys):
    assert main(["--debug", "report", "--model", "/no/such/model", "--text", "x"]) == 1
    assert "Traceback" in capsys.readouterr().err
