"""``attnviz plot``: write one static figure (PNG, PDF or SVG) of a model's attention.

Extract one text's attention and hidden states and save one figure for a paper (PNG, PDF or SVG
by extension; fonts embedded, heatmaps rasterized).

Example:
    attnviz plot --text "The cat sat on the mat." --layer 2 --head 5 --out head.pdf
    attnviz plot --text "The cat sat on the mat." --grid --out grid.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

from attnviz.cli.common import (
    add_input_args,
    add_selection_args,
    check_layer_head,
    example_capture,
    positive_float,
    show_warnings_briefly,
)
from attnviz.cli.common import int_list as int_list  # re-exported: it was importable from here

HELP = "a static figure: one head, a layer x head grid, hidden-state norms or similarity"
EXAMPLE = """examples:
  attnviz plot --text "The cat sat on the mat." --layer 2 --head 5 --out head.pdf
  attnviz plot --text "The cat sat on the mat." --head mean --scale row --hide-special --out mean.png
  attnviz plot --text "The cat sat on the mat." --grid --width page --out grid.png
  attnviz plot --text "The cat sat on the mat." --hidden --out norms.svg
  attnviz plot --model ./my-t5 --text "translate: the cat" --decoder-text "le chat" --kind cross --out cross.pdf
  attnviz plot --capture cap/ --example 40 --grid --layers 3 --out layer3.png   (reads only that layer)
  attnviz plot --model ./my-vit --image cat.png --grid --out vit_grid.png"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the flags of ``attnviz plot``."""
    add_input_args(p, images=True)
    view = p.add_mutually_exclusive_group()
    view.add_argument("--grid", action="store_true", help="every layer (rows) x head (columns)")
    view.add_argument("--hidden", action="store_true", help="hidden-state norms (layers x tokens)")
    view.add_argument("--similarity", action="store_true", help="layer x layer similarity of hidden states")
    p.add_argument("--layer", type=int, default=0, help="layer of the one-head map (default 0)")
    p.add_argument("--head", default="0", help="head number, or 'mean' / 'max' over the layer's heads")
    add_selection_args(p, layers_help="layers to extract and to show in --grid, e.g. 0,2 or 0-3 (default all)",
                       heads_help="heads to extract and to show in --grid (default all)")
    p.add_argument("--example", type=int, default=0, help="which text (0-based) when several are given")
    p.add_argument("--kind", choices=("self", "decoder", "cross"), default="self",
                   help="attention kind: self (encoder), decoder or cross (seq2seq models)")
    p.add_argument("--decoder-text", action="append", default=None, metavar="TEXT",
                   help="decoder input of a seq2seq model; one per --text")
    p.add_argument("--hide-special", action="store_true", help="drop [CLS]/[SEP]/BOS/EOS rows and columns")
    p.add_argument("--scale", choices=("linear", "log", "row"), default="linear",
                   help="colour scale: log or row (each row / its max) keep sink tokens from washing out the map")
    p.add_argument("--annotate", action="store_true", help="write the values in the cells (one-head map)")
    p.add_argument("--width", type=_width, default=None,
                   help="figure width: column (3.3 in), page (6.9 in) or inches "
                        "(default: page for --grid/--similarity, column otherwise)")
    p.add_argument("--height", type=positive_float, default=None, help="figure height in inches (default: keep the aspect)")
    p.add_argument("--dpi", type=positive_float, default=300, help="resolution of PNG files and rasterized heatmaps")
    p.add_argument("--out", metavar="FILE", required=True, help="output file: .png, .pdf or .svg")


def _width(text: str) -> str | float:
    if text in ("column", "page"):
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use column, page or a number of inches") from None
    if not 0 < value < 100:
        raise argparse.ArgumentTypeError(f"{text!r}: the width must be above 0 and below 100 inches")
    return value


def _head(text: str) -> int | str:
    if text in ("mean", "max"):
        return text
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--head {text!r}: give a head number, 'mean' or 'max'") from None


def run(args: argparse.Namespace) -> int:
    """Extract, draw the asked view and save it; print the path written."""
    import attnviz

    show_warnings_briefly()
    out = Path(args.out)
    from attnviz.plot.export import file_format

    file_format(out)  # a bad extension fails before the model loads
    head = _head(args.head)
    def check(model):
        check_layer_head(model, layer=None if args.grid or args.hidden or args.similarity else args.layer,
                         head=head, layers=args.layers, heads=args.heads, kind=args.kind)

    cap = example_capture(args, check=check)
    wide = args.grid or args.similarity
    width = args.width or ("page" if wide else "column")
    with attnviz.paper_theme():
        figure = _draw(attnviz.plot, cap, args, head, width)
        attnviz.save_figure(figure, out, width=width, height=args.height, dpi=args.dpi)
    print(out)
    return 0


def _draw(plot, cap, args: argparse.Namespace, head: int | str, width):
    common = dict(example=args.example)
    if args.grid:
        return plot.head_grid(cap, layers=args.layers, heads=args.heads, kind=args.kind, width=width,
                              hide_special=args.hide_special, scale=args.scale, **common)
    if args.hidden:
        kind = "decoder" if args.kind == "decoder" else "self"
        return plot.hidden_norms(cap, kind=kind, hide_special=args.hide_special,
                                 scale="log" if args.scale == "log" else "linear", **common).figure
    if args.similarity:
        kind = "decoder" if args.kind == "decoder" else "self"
        return plot.layer_similarity(cap, kind=kind, hide_special=args.hide_special, **common)
    return plot.token_heatmap(cap, layer=args.layer, head=head, kind=args.kind, annotate=args.annotate,
                              hide_special=args.hide_special, scale=args.scale, **common).figure
