"""``attnviz stats``: per-head statistics over a data set, as a table and layers x heads maps.

Stream texts through the model and write per-head statistics (entropy, attention to
[CLS]/[SEP]/punctuation/previous/next token, distance, confidence, sink, pattern types) as CSV
and JSON, and layers x heads maps as PNG.

Example:
    attnviz stats --data reviews.jsonl --out stats/
    attnviz stats --model ./my-model --text "Great film." --text "Awful plot." --out stats/
    attnviz stats --model ./my-vit --images photos/ --out stats/
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from attnviz.cli.common import (
    add_engine_args,
    add_input_args,
    add_selection_args,
    capture_from_args,
    check_output_dir,
    engine_options,
    model_from,
    show_warnings_briefly,
)
from attnviz.modeling import default_model_path

HELP = "per-head statistics over many texts (table + maps)"
EXAMPLE = ("examples:\n  attnviz stats --data reviews.jsonl --out stats\n"
           "  attnviz stats --text \"Great film.\" --text \"Awful plot.\" --metrics cls,sep --out stats\n"
           "  attnviz stats --capture cap/ --layers 0-2 --heads 0,5 --out stats\n"
           "  attnviz stats --model ./my-vit --images photos/ --out stats\n"
           "  attnviz stats --data corpus.parquet --engine ray --address auto --gpus-per-worker 1 --out stats")
#: Statistics drawn as layers x heads maps by default.
MAPS = ("entropy_norm", "cls", "sep", "punct", "prev", "next", "distance", "confidence")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the flags of ``attnviz stats``."""
    add_input_args(p, images=True)
    p.add_argument("--out", metavar="DIR", required=True, help="folder for the table and the maps")
    add_selection_args(p)
    p.add_argument("--metrics", default=None, help="comma-separated statistics (default: all, with the registered)")
    p.add_argument("--plugin", action="append", metavar="FILE.py|MODULE", default=[],
                   help="a Python file or module that calls attnviz.metrics.register_metric(...) (repeatable)")
    p.add_argument("--maps", default=",".join(MAPS),
                   help="comma-separated statistics drawn as maps ('' for none; default: %(default)s)")
    add_engine_args(p)


def _source(args: argparse.Namespace):
    from attnviz.metrics.sources import iter_texts

    texts = list(args.text or [])
    if args.data and not Path(args.data).is_file():
        raise FileNotFoundError(f"no data file at {args.data}: check the --data path (.txt, .csv or .jsonl)")
    if args.data and texts:
        return itertools.chain(texts, iter_texts(Path(args.data), text_column=args.text_column)[0])
    if args.data:
        return Path(args.data)
    if texts:
        return texts
    raise ValueError('no input text: pass --data FILE (.txt, .csv or .jsonl) or --text "some text" (repeatable)')


def load_plugins(plugins: list[str]) -> None:
    """Import files or modules that register statistics (``--plugin``), before --metrics is checked."""
    import importlib
    import importlib.util

    for i, plugin in enumerate(plugins):
        if plugin.endswith(".py") or Path(plugin).is_file():
            path = Path(plugin)
            if not path.is_file():
                raise FileNotFoundError(f"no plugin file at {plugin}: check the --plugin path")
            spec = importlib.util.spec_from_file_location(f"attnviz_plugin_{i}_{path.stem}", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load a plugin from {plugin}: give a .py file or a module name")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(plugin)
        try:  # so that engine="ray" workers get the functions themselves, not an import of this file
            import cloudpickle

            cloudpickle.register_pickle_by_value(module)
        except (ImportError, AttributeError, ValueError):
            pass


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def run(args: argparse.Namespace) -> int:
    """Compute the statistics and write the files, printing each path."""
    from attnviz.metrics import dataset_stats
    from attnviz.metrics.definitions import check_metrics

    show_warnings_briefly()
    load_plugins(getattr(args, "plugin", None) or [])
    # images: the default statistics add the image ones (pixel_distance)
    metrics = check_metrics(_names(args.metrics), image=bool(getattr(args, "image", None) or getattr(args, "images", None)))
    maps = check_metrics(_names(args.maps)) if _names(args.maps) else ()
    missing = [m for m in maps if m not in metrics]
    if missing:
        raise ValueError(f"--maps asks for {', '.join(missing)}, which --metrics leaves out: add them to --metrics")
    if args.queries is not None:
        raise ValueError("--queries: per-head statistics need every query row; drop --queries")
    out = check_output_dir(args.out)
    engine = engine_options(args)
    if engine["engine"] == "ray" and (args.capture or args.save_capture):
        raise ValueError("--engine ray computes statistics from texts: drop --capture/--save-capture "
                         "(use `attnviz extract --engine ray` to write a capture)")
    if engine["engine"] == "ray" and (args.image or args.images):
        raise ValueError("--engine ray computes statistics from texts: drop --engine ray for --image/--images")
    if args.capture or args.save_capture or args.image or args.images:
        # statistics of a saved capture, of one written now, or of images
        import contextlib
        import tempfile

        from attnviz.metrics import head_stats

        with contextlib.ExitStack() as stack:
            if (args.image or args.images) and not args.save_capture:
                # the maps of many images go to a temporary capture folder and are read back one batch
                # at a time, so memory stays that of a shard, not of the whole folder of images
                args.save_capture = str(Path(stack.enter_context(tempfile.TemporaryDirectory())) / "capture")
            cap = capture_from_args(args, progress=True)
            stats = head_stats(cap, metrics=metrics, batch_size=args.batch_size)
    else:
        source = _source(args)
        # Ray workers load the model from its folder; the local engine loads it here
        model, tok = (args.model or default_model_path(), None) if engine["engine"] == "ray" else model_from(args)
        stats = dataset_stats(model, source, batch_size=args.batch_size, metrics=metrics,
                              max_length=args.max_length, text_column=args.text_column, progress=True, **engine, tokenizer=tok)
    stats = _select(stats, args.layers, args.heads)
    from attnviz.atomic import atomic_outputs

    with atomic_outputs(out) as tmp:  # all files or none: moved into --out only when complete
        written = [stats.to_csv(tmp / "head_stats.csv"), stats.to_json(tmp / "head_stats.json")]
        if "vertical" in metrics and "diagonal" in metrics:
            written.append(_write_patterns(stats, tmp / "patterns.csv"))
        written += [_write_map(stats, metric, tmp / f"{metric}.png") for metric in maps]
    written = [out / Path(p).relative_to(tmp) for p in written]
    print(f"statistics of {stats.num_examples} text(s), {len(stats.layers)} layers x {len(stats.heads)} heads:")
    for path in written:
        print(f"  wrote {path}")
    for metric in ("cls", "sep"):
        if metric in metrics:
            top = ", ".join(f"L{h.layer}H{h.head} {h.value:.2f}" for h in stats.top(metric, 3))
            print(f"  most attention to {metric}: {top}")
    return 0


def _select(stats, layers: list[int] | None, heads: list[int] | None):
    """The statistics of the asked layers and heads only."""
    import numpy as np

    from attnviz.metrics.stats import HeadStats

    if not layers and not heads:
        return stats

    def positions(chosen, kept, what):
        if not chosen:
            return list(range(len(kept)))
        missing = [c for c in chosen if c not in kept]
        if missing:
            raise ValueError(f"--{what}s: {what} {missing[0]} is not in the statistics (they cover {what}s "
                             f"{kept[0]} to {kept[-1]}): pick from those")
        return [kept.index(c) for c in chosen]

    li, hi = positions(layers, stats.layers, "layer"), positions(heads, stats.heads, "head")
    cut = {name: {m: np.asarray(v)[np.ix_(li, hi)] for m, v in getattr(stats, name).items()}
           for name in ("values", "std")}
    return HeadStats(values=cut["values"], std=cut["std"], counts=stats.counts,
                     layers=[stats.layers[i] for i in li], heads=[stats.heads[i] for i in hi],
                     num_examples=stats.num_examples, kind=stats.kind, model_name=stats.model_name,
                     extra=dict(stats.extra))


def _write_patterns(stats, path: Path) -> Path:
    import csv

    from attnviz.atomic import atomic_path

    kinds = stats.patterns()
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["layer", "head", "pattern", "vertical", "diagonal", "block"])
        for li, layer in enumerate(stats.layers):
            for hi, head in enumerate(stats.heads):
                scores = [stats.values[m][li, hi] if m in stats.values else float("nan")
                          for m in ("vertical", "diagonal", "block")]
                writer.writerow([layer, head, kinds[li, hi], *(f"{s:.4f}" for s in scores)])
    return path


def _write_map(stats, metric: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from attnviz.plot.style import save_figure

    ax = stats.plot(metric)
    fig = ax.figure.get_figure(root=True)
    try:
        save_figure(fig, path, dpi=200)
    finally:
        plt.close(fig)
    return path
