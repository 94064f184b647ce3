"""Fine-tune the packaged MiniLM on the shipped reviews; print time, accuracy and the attention change.

Usage:
    python benchmarks/bench_finetune.py [--method trainer|loop] [--epochs 3] [--lr 1e-4] [--out DIR]

Prints the training time, the per-epoch metrics, and the per-layer mean cosine
similarity of the attention maps before vs after fine-tuning (Kovaleva et al. 2019)
on the 80 validation sentences. Timings are noisy on a shared CPU: run it twice.
"""
from __future__ import annotations

import argparse
import tempfile
import time

import attnviz
from attnviz.data import load_reviews
from attnviz.modeling import default_model_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="trainer", choices=("trainer", "loop"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--threads", default="auto", help="torch CPU threads: a number, auto (default) or torch")
    parser.add_argument("--out", default=None)
    parser.add_argument("--no-compare", action="store_true")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="attnviz-bench-")
    data = load_reviews()
    start = time.perf_counter()
    result = attnviz.finetune(default_model_path(), data, out, method=args.method, epochs=args.epochs,
                              learning_rate=args.lr, batch_size=args.batch_size, max_length=args.max_length,
                              disable_tqdm=True, overwrite=True,
                              num_threads=_threads(args.threads))
    total = time.perf_counter() - start
    print(result.summary())
    print(f"\nfinetune() wall time {total:.1f} s (training {result.train_time_s:.1f} s); "
          f"best validation accuracy {result.final_accuracy:.3f}")
    if args.no_compare:
        return
    texts = list(data["validation"]["text"])
    start = time.perf_counter()
    comp = attnviz.compare(default_model_path(), result.best_checkpoint, texts=texts)
    print(f"\ncompare() on {len(texts)} texts: {time.perf_counter() - start:.1f} s")
    print("per-layer mean cosine similarity, before vs after:")
    for layer, value in zip(comp.layers, comp.layer_cosine, strict=True):
        print(f"  layer {layer}: {value:.4f}")


def _threads(value: str) -> int | str | None:
    return None if value == "torch" else value if value == "auto" else int(value)


if __name__ == "__main__":
    main()
