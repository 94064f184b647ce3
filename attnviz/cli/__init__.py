"""The ``attnviz`` command: one command, a subcommand per job.

Each module in this package is one subcommand, named after the module (``report``,
``plot``, ``html``, ...), and says what it is as data: its docstring (summary line, then
the description ``--help`` prints), ``HELP`` (its line in ``attnviz --help``), ``EXAMPLE``
(the epilog, printed as written), ``add_arguments(parser)`` and ``run(args) -> int``.
:func:`build_parser` turns them into the parser in one place; a new subcommand plugs in
by adding a module. Errors are shown as one line that says what to do (``--debug`` shows
the traceback); the exit code is 0 on success, 1 on failure and 2 on a usage error.

Example:
    >>> main(["--version"])  # doctest: +SKIP
    attnviz 0.1.0
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
from types import ModuleType
from typing import Sequence

from attnviz._version import __version__
from attnviz.cli.common import add_subcommand

EPILOG = """examples:
  attnviz demo --out attnviz-demo
  attnviz report --text "The cat sat on the mat."
  attnviz plot --text "The cat sat on the mat." --layer 2 --head 5 --out head.pdf
  attnviz plot --text "The cat sat on the mat." --grid --out grid.png

The default model is the packaged all-MiniLM-L6-v2; --model takes a local folder."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand found in this package.

    Example:
        >>> "report" in build_parser().format_help()
        True
    """
    parser = argparse.ArgumentParser(
        prog="attnviz", description="Look inside Hugging Face transformers: attention and hidden states.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"attnviz {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in subcommands().items():
        add_command(subparsers, name, module)
    return parser


def subcommands() -> dict[str, ModuleType]:
    """The subcommand modules of this package by command name, in alphabetical order.

    A subcommand module is one that defines ``add_arguments``; ``common`` (shared flags)
    and private modules are not subcommands.

    Example:
        >>> subcommands()["report"].HELP
        'per-layer shapes, dtypes and statistics'
    """
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "common":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "add_arguments"):
            found[info.name] = module
    return found


def add_command(subparsers: argparse._SubParsersAction, name: str, module: ModuleType) -> argparse.ArgumentParser:
    """Add the subcommand ``name`` that ``module`` declares: ``HELP``, the description (see
    :func:`description_of`), ``EXAMPLE``, the flags of ``add_arguments(parser)`` and ``run(args)``.

    Example:
        >>> sub = argparse.ArgumentParser(prog="attnviz").add_subparsers()
        >>> add_command(sub, "report", subcommands()["report"]).parse_args(["--text", "a"]).func.__name__
        'run'
    """
    missing = [attr for attr in ("HELP", "EXAMPLE", "run") if not hasattr(module, attr)]
    if missing:
        raise AttributeError(f"attnviz.cli.{name} is a subcommand (it defines add_arguments) but lacks "
                             f"{', '.join(missing)}: define them beside add_arguments")
    parser = add_subcommand(subparsers, name, help=module.HELP, description=description_of(module),
                            epilog=module.EXAMPLE)
    module.add_arguments(parser)
    parser.set_defaults(func=module.run)
    return parser


def description_of(module: ModuleType) -> str:
    """What ``attnviz NAME --help`` says under the usage line: the second paragraph of the module's
    docstring, as one line (the terminal wraps it), or ``DESCRIPTION``, printed as written, where the
    module sets one.

    Example:
        >>> description_of(subcommands()["report"])
        'Print one row per layer and tensor: shape with named axes, dtype, memory and statistics.'
    """
    if getattr(module, "DESCRIPTION", None):
        return module.DESCRIPTION
    paragraphs = (module.__doc__ or "").split("\n\n")
    if len(paragraphs) < 2 or paragraphs[1].lstrip().startswith("Example"):
        raise ValueError(f"{module.__name__}: its docstring needs a summary line, then a paragraph that "
                         "describes the subcommand (shown by --help)")
    return " ".join(paragraphs[1].split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Example:
        >>> main(["report", "--help"])  # doctest: +SKIP
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _quiet_transformers()
    try:
        result = args.func(args)
        return int(result or 0)
    except KeyboardInterrupt:
        print("attnviz: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure becomes one clear line
        if args.debug:
            traceback.print_exc()
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"attnviz {args.command}: error: {message}", file=sys.stderr)
        if not args.debug:
            print("(run with --debug for the full traceback)", file=sys.stderr)
        return 1


def _quiet_transformers() -> None:
    """No weight-loading progress bars or info logs from transformers on the terminal."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
