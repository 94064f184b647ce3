"""``attnviz finetune``: fine-tune a sequence classifier and write checkpoints, metrics and a summary.

Fine-tune a model as a sequence classifier the Hugging Face way and write one checkpoint per
epoch, the best model with its tokenizer (OUT/best), per-epoch metrics and a summary.

Example:
    attnviz finetune --model ./MiniLM --data builtin --out run --epochs 3
"""
from __future__ import annotations

import argparse

from attnviz.cli.common import add_input_args

HELP = "fine-tune a sequence classifier (HF Trainer or a plain loop)"
EXAMPLE = """examples:
  attnviz finetune --data builtin --out run                 # packaged MiniLM on the shipped reviews
  attnviz finetune --model ./my-bert --data reviews.csv --text-column review --label-column stars \\
      --out run --epochs 4 --lr 5e-5 --method loop --probe-text "a dull film" --overwrite
  attnviz compare MODEL run/best --data builtin --out run/comparison   # what changed

--data builtin is the shipped movie-review set (320 train / 80 validation sentences).
A CSV/JSONL file needs a text and an integer (0..K-1) or class-name label column; without a
'split' column (train/validation) --validation-split of it is held out."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the flags of ``attnviz finetune``."""
    add_input_args(p, texts=False)
    p.add_argument("--data", metavar="FILE|builtin", required=True,
                   help="'builtin' (the shipped reviews) or a CSV/TSV/JSONL file with text and label columns")
    p.add_argument("--text-column", default="text", help="text column of --data (default text)")
    p.add_argument("--label-column", default="label", help="label column of --data (default label)")
    p.add_argument("--validation-split", type=float, default=0.2,
                   help="share held out for validation when the file has no split column (default 0.2)")
    p.add_argument("--out", metavar="DIR", required=True, help="run folder (refused if it holds another run)")
    p.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
    p.add_argument("--batch-size", type=int, default=16, help="training batch size (default 16)")
    p.add_argument("--lr", type=float, default=1e-4, help="peak learning rate (default 1e-4)")
    p.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay (default 0.01)")
    p.add_argument("--warmup", type=float, default=0.1, help="share of steps for linear warm-up (default 0.1)")
    p.add_argument("--max-length", type=int, default=128, help="truncate texts to N tokens (default 128)")
    p.add_argument("--method", choices=("trainer", "loop"), default="trainer",
                   help="HF Trainer (default) or a plain PyTorch loop")
    p.add_argument("--early-stopping", type=int, default=None, metavar="N",
                   help="stop after N epochs without a better validation accuracy")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--probe-text", action="append", default=None, metavar="TEXT",
                   help="capture attention on this text before training and after each epoch (repeatable)")
    p.add_argument("--threads", type=_threads, default="auto",
                   help="torch CPU threads: a number, or auto (default: torch's, less the cores others keep busy)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier attnviz run in --out")


def _threads(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of threads or 'auto'")
    return value


def data_from(value: str, text_column: str, label_column: str, validation_split: float, seed: int):
    """The DatasetDict for ``--data``: the shipped reviews for 'builtin', else the file.

    Example:
        >>> data_from("builtin", "text", "label", 0.2, 0).num_rows["validation"]
        80
    """
    from pathlib import Path

    from attnviz.data import load_labeled, load_reviews

    if value == "builtin" and not Path(value).exists():
        return load_reviews()
    return load_labeled(value, text_column=text_column, label_column=label_column,
                        validation_split=validation_split, seed=seed)


def run(args: argparse.Namespace) -> int:
    """Fine-tune and print what was written."""
    from attnviz.cli.common import show_warnings_briefly
    from attnviz.modeling import default_model_path
    from attnviz.training.finetuning import finetune

    show_warnings_briefly()
    data = data_from(args.data, args.text_column, args.label_column, args.validation_split, args.seed)
    result = finetune(args.model or default_model_path(), data, args.out, method=args.method, epochs=args.epochs,
                      batch_size=args.batch_size, learning_rate=args.lr, weight_decay=args.weight_decay,
                      warmup_ratio=args.warmup, max_length=args.max_length, seed=args.seed,
                      early_stopping_patience=args.early_stopping, probe_texts=args.probe_text,
                      num_threads=args.threads, disable_tqdm=args.quiet, overwrite=args.overwrite)
    print(result.summary())
    print("\nwrote:")
    for path in [*result.checkpoints, result.best_checkpoint, *result.probe_files,
                 result.output_dir / "finetune_result.json", result.output_dir / "finetune_summary.md"]:
        print(f"  {path}")
    return 0
