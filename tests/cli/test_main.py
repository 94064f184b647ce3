"""The `attnviz` command as a whole: every subcommand documented, the console script installed."""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from attnviz.cli import add_command, description_of, main, subcommands

SUBCOMMANDS = ["compare", "demo", "extract", "finetune", "generate", "html", "importance", "knockout", "plot",
               "relevance", "report", "stats"]


def _listed_commands(help_text: str) -> list[str]:
    """The subcommand names of the COMMAND section of `attnviz --help`, as a user reads them."""
    section = help_text.split("COMMAND\n", 2)[-1].split("\noptions:", 1)[0]
    return sorted(re.findall(r"^    ([a-z][a-z-]*)\b", section, flags=re.M))


def test_every_subcommand_is_listed_in_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert _listed_commands(capsys.readouterr().out) == SUBCOMMANDS


def test_an_unknown_subcommand_fails_naming_the_choices(capsys):
    with pytest.raises(SystemExit) as info:
        main(["plott"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'plott'" in err and all(name in err for name in SUBCOMMANDS)


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


def test_a_subcommand_module_is_declared_as_data(capsys):
    """HELP, the docstring's second paragraph (one line) and EXAMPLE make the subcommand's --help."""
    module = types.ModuleType("attnviz.cli.shout", '"""``attnviz shout``: say it loudly.\n\nPrint the\n'
                                                   'text in capitals.\n\nExample:\n    attnviz shout hi\n"""')
    module.HELP, module.EXAMPLE = "say it loudly", "example:\n  attnviz shout hi"
    module.add_arguments = lambda p: p.add_argument("text")
    module.run = lambda args: print(args.text.upper()) or 0
    parser = argparse.ArgumentParser(prog="attnviz")
    add_command(parser.add_subparsers(dest="command"), "shout", module)
    args = parser.parse_args(["shout", "hi"])
    assert args.func(args) == 0 and capsys.readouterr().out == "HI\n"
    assert description_of(module) == "Print the text in capitals."
    with pytest.raises(SystemExit):
        parser.parse_args(["shout", "--help"])
    assert "Print the text in capitals.\n" in capsys.readouterr().out


def test_a_subcommand_module_missing_a_declaration_is_named():
    module = types.ModuleType("attnviz.cli.half", '"""``attnviz half``: summary only.\n\nExample:\n    x\n"""')
    module.add_arguments = lambda p: None
    sub = argparse.ArgumentParser().add_subparsers()
    with pytest.raises(AttributeError, match="lacks HELP, EXAMPLE, run"):
        add_command(sub, "half", module)
    module.HELP, module.EXAMPLE, module.run = "h", "e", lambda args: 0
    with pytest.raises(ValueError, match="paragraph that describes"):
        add_command(sub, "half", module)


def test_every_subcommand_module_declares_itself():
    for name, module in subcommands().items():
        assert module.HELP and f"attnviz {name}" in module.EXAMPLE
        assert description_of(module) and not hasattr(module, "register")
