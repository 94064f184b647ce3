"""Benchmark of attnviz.metrics.head_importance on MiniLM over the 80 shipped validation reviews.

(a) method="gradient": time as a ratio of one ordinary forward+backward pass over the
    same data and batches (loss.backward() with weight gradients, as a training step
    computes them, no optimizer step): goal <= 1.3x. The gradient method needs one
    forward pass and one backward pass to a per-example gate (no weight gradients).
(b) method="ablation": time, and its ratio to (heads + 1) forward passes over the data
    (one forward pass measured here, without gradients): goal <= 1.2x. The ablations are
    batched: several heads' ablations share one forward pass (a gate row per repeated example).

The model is the packaged all-MiniLM-L6-v2 with a sequence-classification head, either a
fine-tuned checkpoint (--model, e.g. the best/ folder of `attnviz finetune`) or, by
default, the base weights with a fresh seeded head: the cost does not depend on the weights.
Medians over --repeats interleaved rounds, wall clock and process CPU time; torch on
--threads threads (1 by default: the steadier figure on a shared machine). Run:

    .venv/bin/python benchmarks/bench_importance.py [--model run/best] [--repeats 3] [--skip-ablation]
"""
from __future__ import annotations

import argparse
import json
import os

from _common import classifier, interleaved_medians, timed

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a fine-tuned classifier folder (default: MiniLM + new head)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-ablation", action="store_true")
    parser.add_argument("--skip-gradient", action="store_true", help="measure the forward pass and ablation only")
    args = parser.parse_args()

    import torch

    from attnviz.data import load_reviews
    from attnviz.metrics.importance import head_importance
    from attnviz.metrics.importance_data import _to
    from attnviz.metrics.importance_data import prepare as _prepare

    model, tok, path = classifier(args.model, args.threads)
    data = load_reviews()
    prepared = _prepare(model, tok, data, batch_size=args.batch_size, max_length=args.max_length,
                        text_column="text", label_column="label", split="validation")
    layers, heads = model.config.num_hidden_layers, model.config.num_attention_heads

    def forward_backward():
        model.zero_grad(set_to_none=True)
        for batch in prepared.batches:
            model(**_to(batch, "cpu")).loss.backward()
        model.zero_grad(set_to_none=True)

    def forward():
        with torch.no_grad():
            for batch in prepared.batches:
                model(**_to(batch, "cpu"))

    def gradient():
        head_importance(model, data, tokenizer=tok, batch_size=args.batch_size, max_length=args.max_length)

    order = [("forward", forward)] if args.skip_gradient else \
        [("forward_backward", forward_backward), ("forward", forward), ("gradient", gradient)]
    for _, fn in order:                                    # warm-up
        fn()
    med = interleaved_medians(order, args.repeats)
    result = {"texts": prepared.num_examples, "batch_size": args.batch_size, "max_length": args.max_length,
              "threads": args.threads, "model": path, "seconds": med}
    if not args.skip_gradient:
        result["gradient_over_forward_backward"] = {"wall": med["gradient"][0] / med["forward_backward"][0],
                                                    "cpu": med["gradient"][1] / med["forward_backward"][1]}
        result["goal_gradient_ratio"] = 1.3
    if not args.skip_ablation:
        w, c = timed(lambda: head_importance(model, data, tokenizer=tok, method="ablation",
                                             batch_size=args.batch_size, max_length=args.max_length))
        passes = layers * heads + 1
        result["ablation"] = {"seconds": [w, c], "forward_passes": passes,
                              "over_passes_x_forward": {"wall": w / (passes * med["forward"][0]),
                                                        "cpu": c / (passes * med["forward"][1])},
                              "goal": 1.2}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
