"""``attnviz extract``: extract a capture of every text of a data file into a capture folder.

Run the model on every text of --data and write the attention maps and hidden states as a
capture folder (manifest.json + safetensors shards), locally or on a Ray cluster. Read it with
attnviz.load(DIR) or --capture DIR.

Example:
    attnviz extract --data reviews.jsonl --out caps/
    attnviz extract --data corpus.parquet --out /shared/caps --engine ray --address auto --layers 0-2
"""
from __future__ import annotations

import argparse
from pathlib import Path

from attnviz.cli.common import (
    add_engine_args,
    add_input_args,
    add_selection_args,
    engine_options,
    show_warnings_briefly,
)
from attnviz.cli.common import int_list as int_list  # re-exported: it was importable from here
from attnviz.cli.common import query_spec as query_spec  # re-exported: it was importable from here

HELP = "extract the capture of a data file into a folder (resumable)"
EXAMPLE = ("examples:\n  attnviz extract --data reviews.jsonl --out caps\n"
           "  attnviz extract --data corpus.parquet --out /shared/caps --engine ray --address auto --layers 0-2\n"
           "Run the same command again after a crash: finished shards are kept, the rest is computed.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the flags of ``attnviz extract``."""
    add_input_args(p)
    p.add_argument("--out", metavar="DIR", required=True, help="the capture folder (new, empty, or to resume)")
    p.add_argument("--shard-size", type=int, default=32, metavar="N", help="texts per shard (default 32)")
    add_selection_args(p, sources=False)
    p.add_argument("--no-hidden-states", action="store_true", help="do not keep hidden states (smaller files)")
    p.add_argument("--dtype", choices=("float32", "float16"), default="float32", help="storage dtype of the maps")
    add_engine_args(p)


def run(args: argparse.Namespace) -> int:
    """Extract into ``--out`` and print what was written."""
    import attnviz
    from attnviz.modeling import default_model_path

    show_warnings_briefly()
    engine = engine_options(args)
    if not args.data:
        raise ValueError("no input: pass --data FILE (.txt, .csv, .jsonl or .parquet)")
    if args.text:
        raise ValueError("attnviz extract reads --data FILE only: put the --text texts in the file")
    cap = attnviz.extract_dataset(
        args.model or default_model_path(), args.data, args.out, shard_size=args.shard_size,
        text_column=args.text_column, progress=True, batch_size=args.batch_size, max_length=args.max_length,
        layers=args.layers, heads=args.heads, queries=args.queries, hidden_states=not args.no_hidden_states,
        dtype=args.dtype, **engine)
    shards = len(list(Path(args.out).glob("shard-*.safetensors")))
    print(f"wrote {len(cap)} example(s) in {shards} shard(s) to {args.out}")
    print(f"  read it with attnviz.load({str(args.out)!r}) or --capture {args.out}")
    return 0
