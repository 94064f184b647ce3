"""The `attnviz` command as a whole: every subcommand documented, the console script installed."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from attnviz.cli import build_parser, main

SUBCOMMANDS = ["compare", "demo", "finetune", "generate", "html", "plot", "report", "stats"]


def test_every_subcommand_is_registered():
    choices = build_parser()._subparsers._group_actions[0].choices
    assert sorted(choices) == SUBCOMMANDS


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_help_has_an_example(name, capsys):
    with pytest.raises(SystemExit) as info:
        main([name, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "example" in text.lower() and f"attnviz {name}" in text


def test_no_subcommand_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_console_script_runs():
    beside = Path(sys.executable).with_name("attnviz")
    exe = str(beside) if beside.exists() else shutil.which("attnviz")
    assert exe, "the attnviz console script is not installed: pip install -e ."
    done = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("attnviz ")
