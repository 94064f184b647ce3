"""``attnviz relevance``: which tokens a prediction depends on (Chefer et al. 2021, grad x attention, value norms).

Run a sequence classifier (the predicted label) or a causal language model (the predicted next
token) on texts, differentiate the target's logit through every layer's attention and write the
per-token relevance as a table (CSV, JSON) and one coloured strip of tokens per text (PNG).

Example:
    attnviz relevance --model run/best --text "A moving, beautiful film." --out rel/
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

from attnviz.cli.common import add_input_args, check_output_dir, model_from, show_warnings_briefly, texts_from

HELP = "per-token relevance of a prediction (Chefer et al. 2021; table + strips)"
EXAMPLE = """examples:
  attnviz relevance --model run/best --text "A moving, beautiful film." --out rel
  attnviz relevance --model run/best --data reviews.jsonl --method value_norm --figures 3 --out rel
  attnviz relevance --model ./tiny-gpt2 --text "the cat sat on the" --target " mat" --out rel

--model is a sequence classifier (e.g. the best/ folder of `attnviz finetune`) or a causal language
model. Writes relevance.json (Relevance.load reads it), relevance.csv (example, position, token,
score, target) and relevance_<i>.png for the first --figures texts."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the flags of ``attnviz relevance``."""
    add_input_args(p)
    p.add_argument("--out", metavar="DIR", required=True, help="folder for the table and the figures")
    p.add_argument("--method", choices=("chefer", "grad_attention", "value_norm"), default="chefer",
                   help="chefer (default; Chefer et al. 2021), grad_attention or value_norm (Kobayashi et al. 2020)")
    p.add_argument("--target", default=None,
                   help="the class (id or label name) or next token (id or one-token string) to explain "
                        "(default: the prediction)")
    p.add_argument("--figures", type=int, default=8, help="draw the first N texts (default 8; 0 for none)")


def _target(value: str | None):
    if value is None:
        return None
    return int(value) if value.lstrip("-").isdigit() else value


def run(args: argparse.Namespace) -> int:
    """Compute the relevance and write the files, printing each path and the top tokens."""
    import matplotlib.pyplot as plt

    from attnviz.atomic import atomic_outputs
    from attnviz.metrics import relevance
    from attnviz.plot.export import save_figure

    show_warnings_briefly()
    texts = texts_from(args)
    out = check_output_dir(args.out)
    model, tok = model_from(args)
    rel = relevance(model, texts, tokenizer=tok, method=args.method, target=_target(args.target),
                    batch_size=args.batch_size, max_length=args.max_length)
    with atomic_outputs(out) as tmp:           # all files or none
        written = [rel.save(tmp / "relevance.json"), _write_csv(rel, tmp / "relevance.csv")]
        for i in range(min(max(args.figures, 0), len(rel))):
            ax = rel.plot(example=i)
            fig = ax.figure.get_figure(root=True)
            try:
                written.append(save_figure(fig, tmp / f"relevance_{i}.png", dpi=200))
            finally:
                plt.close(fig)
    print(f"{args.method} relevance of {len(rel)} text(s) ({rel.task}):")
    for path in written:
        print(f"  wrote {out / Path(path).relative_to(tmp)}")
    for i in range(min(len(rel), 3)):
        top = ", ".join(f"{t['token']} {t['score']:.3g}" for t in rel.top(3, example=i))
        print(f"  text {i} -> {rel.target_names[i]!r}: {top}")
    return 0


def _write_csv(rel, path: Path) -> Path:
    from attnviz.atomic import atomic_path

    rows = rel.records()
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    return path
