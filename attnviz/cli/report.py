"""``attnviz report``: print the shape report of a model's attention and hidden states.

Print one row per layer and tensor: shape with named axes, dtype, memory and statistics.

Example:
    attnviz report --text "The cat sat on the mat." --format markdown
"""
from __future__ import annotations

import argparse
from collections.abc import Callable

from attnviz.atomic import atomic_write_text
from attnviz.cli.common import (
    add_input_args,
    add_selection_args,
    capture_from_args,
    show_warnings_briefly,
)
from attnviz.shapes import ShapeReport, shape_report

HELP = "per-layer shapes, dtypes and statistics"
EXAMPLE = """examples:
  attnviz report --text "The cat sat on the mat." --format markdown --out shapes.md
  attnviz report --data texts.txt --layers 0-2 --queries last --save-capture cap/
  attnviz report --capture cap/ --layers 1
  attnviz report --model ./my-vit --image cat.png --image dog.jpg
  attnviz report --model ./my-llava --text "What is this?" --image cat.png --queries last"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the flags of ``attnviz report``."""
    add_input_args(p, images=True)
    add_selection_args(p)
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument("--out", metavar="FILE", help="also write the report to FILE")


def run(args: argparse.Namespace) -> int:
    """Extract (or open ``--capture``) and print the report."""
    show_warnings_briefly()
    cap = capture_from_args(args, progress=True)
    report = shape_report(cap)
    if args.capture and args.layers:  # a saved capture: show the asked layers only
        report = ShapeReport([r for r in report.rows if r.layer in args.layers or r.kind != "attention"],
                             source=report.source, notes=report.notes)
    formats: dict[str, Callable[[ShapeReport], str]] = {
        "text": str, "markdown": lambda r: r.to_markdown(), "json": lambda r: r.to_json(indent=2)}
    text = formats[args.format](report)
    print(text)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    return 0
