"""The ``attnviz`` command: one command, a subcommand per job.

Each module in this package that defines ``register(subparsers)`` adds one
subcommand (``report``, ``plot``, ``html``, ...); new subcommands plug in by adding
a module. Errors are shown as one line that says what to do (``--debug`` shows the
traceback); the exit code is 0 on success, 1 on failure and 2 on a usage error.

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
from typing import Sequence

from attnviz._version import __version__

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
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "common":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(subparsers)
    return parser


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
