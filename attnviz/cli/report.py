"""``attnviz report``: print the shape report of a model's attention and hidden states.

Example:
    attnviz report --text "The cat sat on the mat." --format markdown
"""
from __future__ import annotations

import argparse

from attnviz.atomic import atomic_write_text
from attnviz.cli.common import add_input_args, model_from, show_warnings_briefly, texts_from
from attnviz.extract import extract
from attnviz.shapes import shape_report

EXAMPLE = 'example:\n  attnviz report --text "The cat sat on the mat." --format markdown --out shapes.md'


def register(subparsers) -> None:
    """Add the ``report`` subcommand."""
    p = subparsers.add_parser("report", help="per-layer shapes, dtypes and statistics",
                              description="Print one row per layer and tensor: shape with named axes, "
                                          "dtype, memory and statistics.",
                              epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_args(p)
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument("--out", metavar="FILE", help="also write the report to FILE")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Extract and print the report."""
    show_warnings_briefly()
    texts = texts_from(args)
    model, tok = model_from(args)
    cap = extract(model, tok, texts, batch_size=args.batch_size, max_length=args.max_length,
                  progress=True)
    report = shape_report(cap)
    text = {"text": str, "markdown": lambda r: r.to_markdown(), "json": lambda r: r.to_json(indent=2)}[args.format](report)
    print(text)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    return 0
