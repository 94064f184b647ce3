"""Benchmark: memory over repeated calls on one model in one process (a notebook cell run again and again).

Users of nnsight (#169, #396) and TransformerLens report memory that grows each time a cell
runs again. Here one process loads a model once and calls the same function ``--calls``
times: ``extract`` (8 texts of ~``--tokens`` tokens), ``dataset_stats`` (the same texts) and a forward pass
inside ``attnviz.intervene`` (a head ablated, an edge blocked);
each case runs in a fresh subprocess. Reported per case: peak RSS (``ru_maxrss``) after the
first ``--warmup`` calls and after all of them, and the growth between the two (goal: < 5%),
plus resident RSS at both points. The model's hooks and attention implementation are
checked to be as before after every call (as ``tests/test_hardening.py`` does).

Run: .venv/bin/python benchmarks/bench_memory.py [--calls 100] [--warmup 5] [--model minilm|tiny]
"""
from __future__ import annotations

import argparse
import json

from _common import run_json


def run_case(case: str, calls: int, warmup: int, model_kind: str, tokens: int) -> dict:
    import gc
    import os
    import resource
    import warnings

    warnings.simplefilter("ignore")
    import attnviz
    from attnviz.metrics import dataset_stats

    if model_kind == "minilm":
        from attnviz.modeling import default_model_path, load_model

        model, tok = load_model(default_model_path())
    else:
        from attnviz.testing import tiny_model

        model, tok = tiny_model("bert")
    words = "the quick brown fox jumps over the lazy dog while a cat sleeps on the warm mat".split()
    texts = [" ".join(words[(i + j) % len(words)] for j in range(tokens)) for i in range(8)]
    def intervene() -> None:
        import torch

        ids = tok(texts, return_tensors="pt", padding=True)
        with attnviz.intervene(model, scale={(0, 1): 0.0}, block={(1, None): [(1, 0)]}), torch.no_grad():
            model(**ids)

    run = {"extract": lambda: attnviz.extract(model, texts, tokenizer=tok, progress=False),
           "dataset_stats": lambda: dataset_stats(model, texts, tokenizer=tok, progress=False),
           "intervene": intervene}[case]

    def hooks() -> int:
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())

    def rss() -> tuple[float, float]:
        gc.collect()
        with open("/proc/self/statm") as f:
            resident = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, resident

    impl = model.config._attn_implementation
    for _ in range(warmup):
        run()
    state = hooks()
    peak0, res0 = rss()
    for _ in range(calls - warmup):
        run()
        assert hooks() == state and model.config._attn_implementation == impl, "a call left the model changed"
    peak1, res1 = rss()
    return {"case": case, "model": model_kind, "calls": calls, "warmup": warmup, "peak_after_warmup_mib": peak0,
            "peak_after_all_mib": peak1, "peak_growth_pct": 100 * (peak1 / peak0 - 1),
            "resident_after_warmup_mib": res0, "resident_after_all_mib": res1,
            "resident_growth_pct": 100 * (res1 / res0 - 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--model", choices=("minilm", "tiny"), default="minilm")
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--case", choices=("extract", "dataset_stats", "intervene"))
    args = parser.parse_args()
    if args.case:  # one case, in this (fresh) process
        print(json.dumps(run_case(args.case, args.calls, args.warmup, args.model, args.tokens)))
        return
    for case in ("extract", "dataset_stats", "intervene"):
        r = run_json(__file__, "--case", case, "--calls", str(args.calls), "--warmup", str(args.warmup),
                     "--model", args.model, "--tokens", str(args.tokens))
        print(f"{case:>13} ({r['model']}, {r['calls']} calls): peak RSS {r['peak_after_warmup_mib']:.0f} MiB after "
              f"{r['warmup']} -> {r['peak_after_all_mib']:.0f} MiB after all ({r['peak_growth_pct']:+.2f}%, goal < 5%); "
              f"resident {r['resident_after_warmup_mib']:.0f} -> {r['resident_after_all_mib']:.0f} MiB "
              f"({r['resident_growth_pct']:+.2f}%)")


if __name__ == "__main__":
    main()
