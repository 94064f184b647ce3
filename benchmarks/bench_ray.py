"""Benchmark of dataset_stats(engine="ray") on the packaged MiniLM against engine="local".

Measures, on 2,000 varied review-like texts (generated here, no download), batch size 16:

(a) Ray's start-up cost: ``ray.init`` of a local Ray, and the first tiny job (two actors
    created, each importing torch/transformers and loading the model once).
(b) Throughput (texts/s) of engine="local" (this process, one torch thread, what one
    worker does) and of engine="ray" with 1 and 2 actors (one CPU and one torch thread
    each), the ratio ray/local, and the equality of the numbers (max |difference|).
(c) Peak memory (max RSS) per Ray worker, for 400 and for 2,000 texts: it should be flat
    in the number of texts (each worker holds one chunk of attention maps at a time).
(d) CPU time per text, in this process (local) and summed over the workers (Ray): the
    steadier figure on a shared machine, and the basis of
(e) a projection (labelled as such) for 10^6 texts on N workers.

Every Ray job includes creating its actors and loading the model in them, so the
throughput figures are end to end. On a machine shared with other work the wall clock
varies between runs: compare figures from the same run. Run:

    .venv/bin/python benchmarks/bench_ray.py [--texts 2000] [--batch-size 16] [--cpus 2]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dataset_stats import reviews  # noqa: E402


def max_difference(a, b) -> float:
    import numpy as np

    return max(max(float(np.nanmax(np.abs(a.values[m] - b.values[m]))), float(np.nanmax(np.abs(a.std[m] - b.std[m]))))
               for m in a.metrics)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray (default 2)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    from attnviz.distributed import start_ray
    from attnviz.metrics import dataset_stats
    from attnviz.modeling import default_model_path, load_model

    path = default_model_path()
    model, tok = load_model(path)
    texts = reviews(args.texts, seed=1)
    bs = args.batch_size
    print(f"all-MiniLM-L6-v2, {args.texts} texts, batch size {bs}, torch {torch.__version__}, "
          f"{os.cpu_count()} CPU(s) on this machine, local Ray with {args.cpus}")

    t, c = time.perf_counter(), time.process_time()
    local = dataset_stats(model, texts, batch_size=bs, progress=False, tokenizer=tok)
    local_s, local_cpu = time.perf_counter() - t, time.process_time() - c

    t = time.perf_counter()
    ray = start_ray(num_cpus=args.cpus, include_dashboard=False)
    init_s = time.perf_counter() - t
    t = time.perf_counter()
    dataset_stats(path, texts[:2 * bs * 16], batch_size=bs, progress=False, engine="ray", num_workers=2)
    first_s = time.perf_counter() - t
    print("(a) Ray start-up")
    print(f"    ray.init (local, {args.cpus} CPUs):                 {init_s:6.1f} s")
    print(f"    a {2 * bs * 16}-text job on 2 new actors (model loads): {first_s:6.1f} s")

    runs = {}
    for workers in (1, 2):
        t = time.perf_counter()
        got = dataset_stats(path, texts, batch_size=bs, progress=False, engine="ray", num_workers=workers)
        runs[workers] = (time.perf_counter() - t, got)
    print(f"(b) throughput over {args.texts} texts (end to end, texts/s)")
    print(f"    engine='local' (1 process, 1 thread):  {args.texts / local_s:7.1f}  ({local_s:.1f} s)")
    for workers, (secs, got) in runs.items():
        print(f"    engine='ray', {workers} worker(s):            {args.texts / secs:7.1f}  ({secs:.1f} s; "
              f"ray/local {local_s / secs:.2f}x; max |diff| vs local {max_difference(local, got):.1e})")
    small = dataset_stats(path, texts[:400], batch_size=bs, progress=False, engine="ray", num_workers=2)
    print("(c) peak memory per Ray worker (max RSS, MiB)")
    for label, got in (("400 texts", small), (f"{args.texts} texts", runs[2][1])):
        peaks = got.extra["engine"]["worker_peak_mib"]
        print(f"    {label:12s}: " + ", ".join(f"{v:.0f}" for v in sorted(peaks.values())))
    print("(d) CPU time per text (steadier than the wall clock on a shared machine)")
    print(f"    engine='local':            {local_cpu / args.texts * 1000:6.1f} ms")
    for workers, (_secs, got) in runs.items():
        cpu = got.extra["engine"]["worker_cpu_s"]
        print(f"    engine='ray', {workers} worker(s): {cpu / args.texts * 1000:6.1f} ms (in the workers, summed)")
    per_text = runs[2][1].extra["engine"]["worker_cpu_s"] / args.texts
    print("(e) PROJECTION (not measured): 10^6 texts on N workers, each as fast as one worker here, "
          "= start-up + 10^6 x per-text cost / N:")
    for n in (1, 8, 64):
        print(f"    N = {n:3d}: {init_s + first_s + 1e6 * per_text / n:9.0f} s")
    ray.shutdown()


if __name__ == "__main__":
    main()
