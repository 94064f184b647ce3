"""Benchmark of attnviz.metrics.dataset_stats on the packaged MiniLM: memory and throughput.

(a) Peak memory (max RSS, measured in fresh subprocesses with resource.getrusage) of
    dataset_stats over 2,000 texts versus 200 texts: goal ratio <= 1.2.
(b) Throughput of dataset_stats versus a bare eager forward loop
    ``model(**batch, output_attentions=True)`` over the same texts and batch size
    (tokenization included in both): goal >= 0.8x. The bare loop runs twice: in the
    texts' order (what a user writes) and sorted by length like dataset_stats's
    windows, so the gain from less padding is visible on its own.

Throughput is the median over interleaved rounds (the runs' order rotates), by wall
clock and by this process's CPU time, which is the steadier figure on a shared
machine; torch runs on one thread by default (--threads) for the same reason.
Texts are varied review-like sentences generated here (no download). Run:

    .venv/bin/python benchmarks/bench_dataset_stats.py [--texts 320] [--batch-size 16] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import time

from _common import run_json

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SUBJECTS = ["The movie", "This film", "The plot", "The acting", "The soundtrack", "The ending", "The sequel",
            "The director's latest work", "The lead actress", "The screenplay", "The cinematography", "This show"]
VERBS = ["was", "felt", "seemed", "turned out to be", "is", "became", "remains"]
ADJECTIVES = ["wonderful", "boring", "surprisingly good", "a complete mess", "beautiful", "far too long", "funny",
              "predictable", "heartbreaking", "clumsy", "brilliant", "forgettable", "stunning", "painfully slow"]
EXTRAS = ["I would watch it again.", "Don't waste your money!", "My kids loved it.",
          "The cast did their best, but the script let them down.", "Highly recommended.",
          "Two hours I will never get back.", "Ten out of ten, no question.", "Meh.",
          "I laughed, I cried, and then I bought the DVD.", "Why did nobody edit this?",
          "The first half drags; the second half flies by.", "See it on the big screen if you can."]


def reviews(n: int, seed: int = 0) -> list[str]:
    """``n`` varied review-like texts (1 to 4 sentences)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(ADJECTIVES)}"
                 f"{rng.choice([',', ' and', ', but', ';'])} {rng.choice(SUBJECTS).lower()} "
                 f"{rng.choice(VERBS)} {rng.choice(ADJECTIVES)}."]
        parts += rng.sample(EXTRAS, rng.randint(0, 3))
        out.append(" ".join(parts))
    return out


def child_memory(n: int, batch_size: int) -> None:
    """Run dataset_stats over n texts in this process and print its peak RSS (MiB) as JSON."""
    import torch

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "0")) or torch.get_num_threads())
    from attnviz.metrics import dataset_stats
    from attnviz.modeling import default_model_path, load_model

    model, tok = load_model(default_model_path())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stats = dataset_stats(model, (t for t in reviews(n)), batch_size=batch_size, progress=False, tokenizer=tok)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": n, "peak_mib": peak, "after_load_mib": before, "examples": stats.num_examples}))


def memory(n: int, batch_size: int) -> dict:
    return run_json(__file__, "--child-memory", str(n), "--batch-size", str(batch_size))


def bare_loop(model, tok, texts: list[str], batch_size: int) -> None:
    import torch

    with torch.no_grad():
        for s in range(0, len(texts), batch_size):
            batch = tok(texts[s:s + batch_size], padding=True, truncation=True, return_tensors="pt")
            out = model(**batch, output_attentions=True)
            assert len(out.attentions) > 0


def throughput(n: int, batch_size: int, repeats: int) -> dict:
    """Texts per second of each run (median over interleaved rounds), by wall clock and by process CPU time.

    Rounds rotate the order of the runs, so load from other processes falls on all of
    them alike; CPU time (of this process) is the steadier figure on a shared machine.
    """
    import statistics

    from attnviz.metrics import dataset_stats
    from attnviz.modeling import default_model_path, inspection_mode, load_model

    model, tok = load_model(default_model_path())
    texts = reviews(n, seed=1)
    by_length = sorted(texts, key=lambda t: len(tok(t)["input_ids"]))
    runs = {
        "bare loop (text order)": lambda: bare_loop(model, tok, texts, batch_size),
        "bare loop (sorted by length)": lambda: bare_loop(model, tok, by_length, batch_size),
        "dataset_stats": lambda: dataset_stats(model, texts, batch_size=batch_size, progress=False, tokenizer=tok),
    }
    names = list(runs)
    wall = {name: [] for name in names}
    cpu = {name: [] for name in names}
    with inspection_mode(model):  # eager attention for the bare loop (dataset_stats switches itself)
        bare_loop(model, tok, texts[:batch_size], batch_size)  # warm-up
        for r in range(repeats):
            for name in names[r % 3:] + names[:r % 3]:
                w, c = time.perf_counter(), time.process_time()
                runs[name]()
                wall[name].append(time.perf_counter() - w)
                cpu[name].append(time.process_time() - c)
    ratio = {clock: statistics.median(t["bare loop (text order)"][r] / t["dataset_stats"][r] for r in range(repeats))
             for clock, t in (("wall", wall), ("cpu", cpu))}
    ratio_sorted = {clock: statistics.median(t["bare loop (sorted by length)"][r] / t["dataset_stats"][r]
                                             for r in range(repeats)) for clock, t in (("wall", wall), ("cpu", cpu))}
    return {"wall": {k: n / statistics.median(v) for k, v in wall.items()},
            "cpu": {k: n / statistics.median(v) for k, v in cpu.items()}, "ratio": ratio, "ratio_sorted": ratio_sorted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=320, help="texts for the throughput runs (default 320)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: steadier on a shared machine; 0 = torch's default)")
    parser.add_argument("--child-memory", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory is not None:
        child_memory(args.child_memory, args.batch_size)
        return
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["BENCH_THREADS"] = str(args.threads)
    print(f"all-MiniLM-L6-v2, batch size {args.batch_size}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s)")
    small, large = memory(200, args.batch_size), memory(2000, args.batch_size)
    ratio = large["peak_mib"] / small["peak_mib"]
    print("(a) peak memory (max RSS of a fresh process: model load + dataset_stats)")
    print(f"    200 texts:   {small['peak_mib']:8.1f} MiB (after loading the model: {small['after_load_mib']:.1f})")
    print(f"    2,000 texts: {large['peak_mib']:8.1f} MiB (after loading the model: {large['after_load_mib']:.1f})")
    print(f"    ratio 2,000 / 200: {ratio:.3f}  (goal <= 1.2: {'met' if ratio <= 1.2 else 'NOT met'})")
    rates = throughput(args.texts, args.batch_size, args.repeats)
    print(f"(b) throughput over {args.texts} texts, median of {args.repeats} interleaved rounds (texts/s)")
    print(f"    {'':30s} {'wall clock':>10s} {'CPU time':>10s}")
    for name in rates["wall"]:
        print(f"    {name:30s} {rates['wall'][name]:10.1f} {rates['cpu'][name]:10.1f}")
    for clock in ("wall", "cpu"):
        r, rs = rates["ratio"][clock], rates["ratio_sorted"][clock]
        print(f"    [{clock:4s}] dataset_stats / bare loop (text order): {r:.2f}x (goal >= 0.8x: "
              f"{'met' if r >= 0.8 else 'NOT met'}); / bare loop sorted by length: {rs:.2f}x (metric overhead)")


if __name__ == "__main__":
    main()
