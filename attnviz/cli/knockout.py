"""``attnviz knockout``: does the attention matter? Geva et al.'s attention knockout over texts.

For each window of consecutive layers, block the target token's attention to the source tokens
in every head and measure the relative change of the probability of the model's prediction
(the next token for a causal language model, the label for a classifier). Writes the table
(CSV and JSON) and the figure (PNG), all or nothing.

Example:
    attnviz knockout --model ./my-lm --text "The capital of France is" --window 2 --out knockout/
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from attnviz.cli.common import add_input_args, check_output_dir, model_from, show_warnings_briefly, texts_from

HELP = "attention knockout per window of layers (table + figure)"
EXAMPLE = ("examples:\n  attnviz knockout --model ./my-lm --text \"The capital of France is\" --out knockout\n"
           "  attnviz knockout --model ./classifier --data reviews.jsonl --sources all --window 2 --out knockout")


def _position(text: str) -> str | int:
    return text if text in ("last", "first") else int(text)


def _sources(text: str) -> str | list[int]:
    if text in ("previous", "all", "self", "first"):
        return text
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--sources {text!r}: use previous, all, self, first or positions "
                                         "like 0,1,-2") from exc


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the flags of ``attnviz knockout``."""
    add_input_args(p)
    p.add_argument("--out", metavar="DIR", required=True, help="folder for the table and the figure")
    p.add_argument("--target", type=_position, default=None,
                   help="query position whose attention is blocked: last, first or N (default: last for "
                        "language models, first for encoder classifiers)")
    p.add_argument("--sources", type=_sources, default="previous",
                   help="keys it may no longer see: previous (default), all, self, first or positions 0,1,-2")
    p.add_argument("--window", type=int, default=1, help="consecutive layers blocked together (default 1)")


def write_outputs(result, out: Path) -> list[Path]:
    """Write a KnockoutMap's knockout.json, knockout.csv and knockout.png into ``out``, all or nothing.

    What ``attnviz knockout`` writes; ``attnviz demo`` can call it with its fine-tuned classifier.

    Example:
        >>> import tempfile
        >>> from attnviz.metrics import knockout_map
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("gpt2", head="lm")
        >>> paths = write_outputs(knockout_map(model, ["a b c"], tokenizer=tok), Path(tempfile.mkdtemp()))
        >>> [p.name for p in paths]
        ['knockout.json', 'knockout.csv', 'knockout.png']
    """
    import matplotlib.pyplot as plt

    from attnviz.atomic import atomic_outputs, atomic_path
    from attnviz.plot.export import save_figure

    with atomic_outputs(out) as tmp:
        written = [result.save(tmp / "knockout.json")]
        with atomic_path(tmp / "knockout.csv") as path, path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "window", "layers", "change", "base_prob"])
            for r in result.records():
                writer.writerow([r["text"], r["window"], " ".join(map(str, r["layers"])), f"{r['change']:.6f}",
                                 f"{r['base_prob']:.6f}"])
        written.append(tmp / "knockout.csv")
        ax = result.plot()
        fig = ax.figure.get_figure(root=True)
        try:
            written.append(save_figure(fig, tmp / "knockout.png", dpi=200))
        finally:
            plt.close(fig)
    return [out / Path(p).relative_to(tmp) for p in written]


def run(args: argparse.Namespace) -> int:
    """Measure the knockout, write knockout.json, knockout.csv and knockout.png, print the strongest windows."""
    from attnviz.metrics.causal import knockout_map

    show_warnings_briefly()
    texts = texts_from(args)  # raises 'no input text' with the fix when none is given
    out = check_output_dir(args.out)
    model, tok = model_from(args)
    result = knockout_map(model, texts, tokenizer=tok, target=args.target, sources=args.sources,
                          window=args.window, batch_size=args.batch_size, max_length=args.max_length)
    written = write_outputs(result, out)
    print(f"attention knockout of {len(texts)} text(s), {len(result.windows)} window(s), sources={result.sources}:")
    for path in written:
        print(f"  wrote {path}")
    for row in result.top(3):
        print(f"  layers {row['layers']}: {100 * row['mean_change']:+.1f}% p(prediction)")
    return 0
