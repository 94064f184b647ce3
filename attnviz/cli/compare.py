"""``attnviz compare``: how attention changed between two checkpoints (or two saved captures).

Per layer and head: cosine similarity of the attention maps (Kovaleva et al. 2019), JS
divergence of the rows, entropy change; per layer: hidden-state similarity.

Example:
    attnviz compare ./MiniLM run/best --data builtin --out run/comparison
"""
from __future__ import annotations

import argparse
from pathlib import Path

from attnviz.cli.common import add_batch_args, positive_int

HELP = "compare attention head by head between two checkpoints"
EXAMPLE = """examples:
  attnviz compare default run/best --data builtin --out cmp            # packaged MiniLM vs its fine-tune
  attnviz compare ./pretrained run/best --text "A dull, lifeless film." --text "Loved it." --out cmp
  attnviz compare ./pretrained run/best --data builtin --out cmp        # the 80 validation reviews
  attnviz compare before.safetensors after.safetensors --out cmp        # two saved captures

BEFORE and AFTER are model folders (as written by save_pretrained / attnviz finetune), the word
'default' (the packaged all-MiniLM-L6-v2), or capture files saved with Capture.save (.safetensors). Writes comparison.json, comparison.md and PNG
figures: the layers x heads change map, the per-layer line and the most changed head."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the flags of ``attnviz compare``."""
    p.add_argument("before", metavar="BEFORE", help="model folder, 'default' or capture file (.safetensors)")
    p.add_argument("after", metavar="AFTER", help="model folder, 'default' or capture file (.safetensors)")
    p.add_argument("--text", action="append", default=None, metavar="TEXT", help="an input text; repeatable")
    p.add_argument("--data", metavar="FILE|builtin", default=None,
                   help="texts from a file (.txt one per line, CSV/JSONL column --text-column), or 'builtin' "
                        "for the shipped validation reviews")
    add_batch_args(p)
    p.add_argument("--top", type=positive_int, default=10, help="how many of the most changed heads to list (default 10)")
    p.add_argument("--out", metavar="DIR", required=True, help="folder for the JSON, Markdown and figures")


def texts_of(args: argparse.Namespace) -> list[str] | None:
    """Texts of ``--text`` / ``--data`` (None when neither is given).

    Example:
        >>> len(texts_of(argparse.Namespace(text=None, data="builtin", text_column="text")))
        80
    """
    from attnviz.cli.common import read_texts

    texts = list(args.text or [])
    if args.data == "builtin" and not Path(args.data).exists():
        from attnviz.data import load_reviews

        texts += list(load_reviews()["validation"]["text"])
    elif args.data:
        texts += read_texts(args.data, args.text_column)
    return texts or None


def run(args: argparse.Namespace) -> int:
    """Compare, save and print the summary and the files written."""
    from attnviz.cli.common import check_output_dir, show_warnings_briefly
    from attnviz.comparison import compare

    show_warnings_briefly()
    check_output_dir(args.out)
    args.before, args.after = (_resolve(s) for s in (args.before, args.after))
    for side in (args.before, args.after):
        if not Path(side).exists():
            raise FileNotFoundError(f"no model folder or capture file at {side}: check the path")
    texts = texts_of(args)
    captures = all(str(s).endswith(".safetensors") for s in (args.before, args.after))
    if texts is None and not captures:
        raise ValueError('no input text: pass --text "some text" (repeatable) or --data FILE|builtin')
    names = (_label(args.before), _label(args.after))
    comparison = compare(args.before, args.after, texts=texts, batch_size=args.batch_size,
                         max_length=args.max_length, names=names)
    written = comparison.save(args.out)  # all files or none (staged beside --out)
    print(comparison.summary(top=args.top))
    print("\nwrote:")
    for path in written:
        print(f"  {path}")
    return 0


def _resolve(side: str) -> str:
    """'default' names the packaged all-MiniLM-L6-v2; anything else is a path."""
    if side == "default" and not Path(side).exists():
        from attnviz.modeling import default_model_path

        return str(default_model_path())
    return side


def _label(path: str) -> str:
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.parent.name and p.name in ("best", "model") else p.name
