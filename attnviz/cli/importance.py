"""``attnviz importance``: which heads a fine-tuned model depends on (Michel et al. 2019), and pruning.

Head importance of a classifier or language model on its own loss: the gradient of a gate on
each head (Michel et al. 2019, per-layer l2 normalised) and/or ablation (loss and accuracy with
each head zeroed); accuracy against the fraction of heads pruned.

Example:
    attnviz importance --model run/best --data builtin --out run/importance
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

HELP = "head importance (gradient / ablation) and the pruning curve"
EXAMPLE = """examples:
  attnviz importance --model run/best --data builtin --out imp                 # shipped validation reviews
  attnviz importance --model run/best --data reviews.jsonl --method both --out imp
  attnviz importance --model run/best --data builtin --before default --out imp  # also: matters vs changed
  attnviz importance --model ./gpt2-small --data texts.txt --out imp            # a causal LM: next-token loss

--model is a sequence classifier (e.g. the best/ folder of `attnviz finetune`) or a causal language
model. --data is a labelled .csv/.jsonl (text,label) for a classifier, texts for a language model, or
'builtin' (the 80 shipped validation reviews). Writes importance[-ablation].json/.csv, layers x heads
maps, the pruning curve (pruning.png/.json) and, with --before, matters_vs_changed.png."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the flags of ``attnviz importance``."""
    p.add_argument("--model", metavar="PATH", required=True, help="model folder (classifier or causal LM)")
    p.add_argument("--data", metavar="FILE|builtin", default="builtin",
                   help="labelled .csv/.jsonl, texts for an LM, or 'builtin' (default)")
    p.add_argument("--text-column", default="text", help="column holding the texts (default text)")
    p.add_argument("--label-column", default="label", help="column holding the labels (default label)")
    p.add_argument("--method", choices=("gradient", "ablation", "both"), default="gradient",
                   help="gradient (default, one forward+backward), ablation (heads+1 forward passes) or both")
    p.add_argument("--no-pruning", action="store_true", help="skip the pruning curve")
    p.add_argument("--before", metavar="PATH", default=None,
                   help="the checkpoint before fine-tuning ('default' = packaged MiniLM): also draw importance "
                        "beside change (compare) with the Spearman correlation")
    p.add_argument("--batch-size", type=int, default=16, help="examples per pass (default 16)")
    p.add_argument("--max-length", type=int, default=128, help="truncate longer inputs (default 128 tokens)")
    p.add_argument("--out", metavar="DIR", required=True, help="folder for the tables and figures")


def _write_csv(imp, path: Path) -> Path:
    from attnviz.atomic import atomic_path

    rows = imp.top(None)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["rank", *rows[0].keys()])
        writer.writeheader()
        for rank, row in enumerate(rows, 1):
            writer.writerow({"rank": rank, **row})
    return path


def _save_view(ax, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from attnviz.plot.export import save_figure

    fig = ax.figure.get_figure(root=True)
    save_figure(fig, path, dpi=150)
    plt.close(fig)
    return path


def run(args: argparse.Namespace) -> int:
    """Measure, save and print the top heads and the files written."""
    import matplotlib.pyplot as plt

    from attnviz.atomic import atomic_write_text
    from attnviz.cli.common import output_dir, show_warnings_briefly
    from attnviz.metrics.importance import head_importance, pruning_curve
    from attnviz.modeling import load_model

    show_warnings_briefly()
    if not Path(args.model).exists():
        raise FileNotFoundError(f"no model folder at {args.model}: pass the folder written by save_pretrained")
    if args.data != "builtin" and not Path(args.data).is_file():
        raise FileNotFoundError(f"no data file at {args.data}: pass a .csv/.jsonl/.txt file or 'builtin'")
    out = output_dir(args.out)
    model, tok = load_model(args.model)
    options = dict(tokenizer=tok, batch_size=args.batch_size, max_length=args.max_length,
                   text_column=args.text_column, label_column=args.label_column)
    data = None if args.data == "builtin" else args.data
    methods = ("gradient", "ablation") if args.method == "both" else (args.method,)
    written, results = [], {}
    for method in methods:
        imp = head_importance(model, data, method=method, **options)
        results[method] = imp
        stem = "importance" if method == "gradient" or len(methods) == 1 else f"importance-{method}"
        written.append(imp.save(out / f"{stem}.json"))
        written.append(_write_csv(imp, out / f"{stem}.csv"))
        written.append(_save_view(imp.plot(), out / f"{stem}.png"))
        if method == "ablation":
            written.append(_save_view(imp.plot(values="metric_change"), out / f"{stem}-{_slug(imp.metric_name)}.png"))
        print(f"{method}: base loss {imp.base_loss:.4f}, {imp.metric_name} {imp.base_metric:.4f}, "
              f"{imp.num_examples} examples, {imp.seconds:.1f} s; top heads:")
        for r in imp.top(5):
            print(f"  layer {r['layer']} head {r['head']}: {r['score']:.4f}")
    main = results[methods[0]]
    if not args.no_pruning:
        curve = pruning_curve(model, data, main, **options)
        written.append(atomic_write_text(out / "pruning.json", json.dumps(curve.to_dict(), indent=2) + "\n"))
        written.append(_save_view(curve.plot(), out / "pruning.png"))
    if args.before:
        written += _matters_vs_changed(args, main, data, out)
    plt.close("all")
    print("\nwrote:")
    for path in written:
        print(f"  {path}")
    return 0


def _slug(text: str) -> str:
    return text.replace(" ", "-")


def _matters_vs_changed(args, imp, data, out: Path) -> list[Path]:
    from attnviz.cli.compare import _resolve
    from attnviz.comparison import compare
    from attnviz.data import load_labeled, load_reviews
    from attnviz.metrics.sources import iter_texts
    from attnviz.plot.importance import matters_vs_changed

    before = _resolve(args.before)
    if data is None:
        texts = list(load_reviews()["validation"]["text"])
    else:
        try:
            texts = list(load_labeled(data, text_column=args.text_column, label_column=args.label_column)
                         ["validation"]["text"])
        except Exception:  # an LM's plain texts
            texts = list(iter_texts(Path(data), text_column=args.text_column)[0])
    comp = compare(before, args.model, texts=texts, max_length=args.max_length, hidden_states=False)
    view = matters_vs_changed(imp, comp)
    path = view.savefig(out / "matters_vs_changed.png", dpi=150)
    print(f"Spearman rho (importance vs change): {view.spearman:.3f}")
    return [path]
