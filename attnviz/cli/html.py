"""``attnviz html``: write an offline interactive attention view (head or model view) to an HTML file.

Extract attention for a text and write a self-contained interactive view: 'head' (bertviz-style
lines, hover a token) or 'model' (every layer x head, click to enlarge).

Example:
    attnviz html --text "The cat sat on the mat." --view model --out view.html
"""
from __future__ import annotations

import argparse

from attnviz.cli.common import (
    add_input_args,
    add_selection_args,
    check_layer_head,
    example_capture,
    show_warnings_briefly,
)
from attnviz.cli.common import int_list as int_list  # re-exported: it was importable from here

HELP = "write an offline interactive attention view (HTML)"
EXAMPLE = """examples:
  attnviz html --text "The cat sat on the mat." --out head.html
  attnviz html --text "The cat sat on the mat." --view model --layers 0-2 --heads 0,3,5 --out model.html
  attnviz html --model ./my-t5 --text "the cat sat" --decoder-text "le chat" --kind cross --out cross.html
  attnviz html --capture cap/ --example 12 --view model --layers 0-1 --out model.html
  attnviz html --model ./my-vit --images photos/ --example 3 --out vit.html

The page is self-contained (its JavaScript is inline, nothing is fetched): open it in any
browser, offline, or send it to someone."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the flags of ``attnviz html``."""
    add_input_args(p, images=True)
    p.add_argument("--decoder-text", action="append", default=None, metavar="TEXT",
                   help="target text for encoder-decoder models (one per --text)")
    p.add_argument("--view", choices=("head", "model"), default="head", help="which view (default: head)")
    p.add_argument("--out", metavar="FILE", default=None, help="the HTML file to write (default: VIEW_view.html)")
    p.add_argument("--example", type=int, default=0, metavar="N", help="which text to show (0-based, default 0)")
    add_selection_args(p, layers_help="layers to extract and include, e.g. 0,2,4 or 0-3 (default: all)",
                       heads_help="heads to extract and include, e.g. 0-5 (default: all)")
    p.add_argument("--kind", choices=("self", "encoder", "decoder", "cross"), default=None,
                   help="one attention kind only (default: all the model has)")
    p.add_argument("--scale", choices=("linear", "sqrt", "map"), default=None,
                   help="initial colour scale (default: linear for head, sqrt for model)")
    p.add_argument("--no-compress", action="store_true", help="store the maps uncompressed (older browsers)")


def run(args: argparse.Namespace) -> int:
    """Extract, build the view, write it and print the path."""
    from attnviz import notebook

    show_warnings_briefly()
    out = args.out or f"{args.view}_view.html"
    if not str(out).lower().endswith((".html", ".htm")):
        raise ValueError(f"--out {out}: a view is an HTML page; give a path ending in .html")
    cap = example_capture(args, check=lambda model: check_layer_head(
        model, layers=args.layers, heads=args.heads, kind=args.kind or "self"),
        hidden_states=False, progress=None)
    build = notebook.head_view if args.view == "head" else notebook.model_view
    options = {"scale": args.scale} if args.scale else {}
    view = build(cap, example=args.example, layers=args.layers, heads=args.heads, kind=args.kind,
                 compress=not args.no_compress, **options)
    path = view.save(out)
    print(f"wrote {path} ({view.nbytes / 1e6:.2f} MB, {args.view} view of example {args.example})")
    return 0
