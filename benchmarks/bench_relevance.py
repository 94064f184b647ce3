"""Benchmark of attnviz.metrics.relevance(method="chefer") against one forward+backward pass.

The same model, texts and batches: (a) ``relevance(model, texts, method="chefer")`` (tokenise,
forward through the "attnviz" attention function with every layer's weights in the graph,
``autograd.grad`` of the predicted logits to the weights, then Chefer's per-text recursion on
the CPU); (b) the baseline, one ordinary forward+backward pass over the same batches
(``loss.backward()`` of the labels' cross-entropy with weight gradients, sdpa attention, as a
training step computes it). Goal: (a) / (b) <= 3x. Medians over --repeats interleaved rounds,
wall clock and process CPU time, torch on --threads threads.

The model is the packaged all-MiniLM-L6-v2 with a seeded sequence-classification head (the cost
does not depend on the weights), or --model. Run:

    .venv/bin/python benchmarks/bench_relevance.py [--texts 32] [--batch-size 16] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os

from _common import classifier, interleaved_medians

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a classifier folder (default: MiniLM + a new head)")
    parser.add_argument("--texts", type=int, default=32, help="validation reviews used (default 32)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--method", default="chefer", choices=("chefer", "grad_attention", "value_norm"))
    args = parser.parse_args()

    import torch

    from attnviz.data import load_reviews
    from attnviz.metrics import relevance

    model, tok, path = classifier(args.model, args.threads)
    texts = list(load_reviews()["validation"]["text"])[:args.texts]
    batches = [tok(texts[s:s + args.batch_size], return_tensors="pt", padding=True, truncation=True,
                   max_length=args.max_length) for s in range(0, len(texts), args.batch_size)]

    def forward_backward():
        model.zero_grad(set_to_none=True)
        for enc in batches:
            labels = torch.zeros(enc["input_ids"].shape[0], dtype=torch.long)
            model(**enc, labels=labels).loss.backward()
        model.zero_grad(set_to_none=True)

    def rel():
        relevance(model, texts, tokenizer=tok, method=args.method, batch_size=args.batch_size,
                  max_length=args.max_length)

    forward_backward(), rel()                               # warm-up
    med = interleaved_medians([("forward_backward", forward_backward), ("relevance", rel)], args.repeats)
    print(json.dumps({"method": args.method, "texts": len(texts), "batch_size": args.batch_size,
                      "max_length": args.max_length, "threads": args.threads, "model": path, "seconds": med,
                      "relevance_over_forward_backward": {"wall": med["relevance"][0] / med["forward_backward"][0],
                                                          "cpu": med["relevance"][1] / med["forward_backward"][1]},
                      "goal": 3.0}, indent=1))


if __name__ == "__main__":
    main()
