"""Benchmark: extract into memory vs extract(out=FOLDER), and a lazy one-layer head_grid vs an eager load.

The real MiniLM (6 layers x 12 heads), 96 texts of 128 tokens, batch size 16, hidden
states kept. Each case runs in a fresh subprocess so that its peak memory (max RSS) is
its own:

* ``memory``: ``extract(...)``, every map held in memory.
* ``disk``: ``extract(..., out=FOLDER, shard_size=S)``: shards written as they finish and
  dropped; the lazy Capture it returns holds no map.
* ``eager``: ``attnviz.load(FOLDER, lazy=False)`` then ``head_grid`` of one layer of one example.
* ``lazy``: ``attnviz.load(FOLDER)`` (lazy) then the same ``head_grid``; bytes read counted
  with :func:`attnviz.store.count_reads`.

Goals: the disk case's peak RSS well under the in-memory one (its maps held at once are
one shard, not the capture); the lazy grid reads one layer of one example
(1/(layers x examples) of the maps) and is faster than loading the capture.

Run: .venv/bin/python benchmarks/bench_store.py [--texts 96] [--tokens 128] [--shard-size 16]
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time

from _common import run_json
from bench_extract import make_texts


def run_case(case: str, n: int, tokens: int, batch_size: int, shard_size: int, folder: str) -> dict:
    import resource
    import warnings

    warnings.simplefilter("ignore")
    import attnviz

    result: dict = {"case": case}
    if case in ("memory", "disk"):
        from attnviz.modeling import default_model_path, load_model

        model, tok = load_model(default_model_path())
        texts = make_texts(n, tokens)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        start = time.perf_counter()
        options = {"out": folder, "shard_size": shard_size} if case == "disk" else {}
        cap = attnviz.extract(model, texts, batch_size=batch_size, max_length=tokens, progress=False, **options, tokenizer=tok)
        result["seconds"] = time.perf_counter() - start
        result["start_bytes"] = base
        result["maps_bytes"] = sum(ex.attentions.nbytes + ex.hidden_states.nbytes for ex in cap)
        assert cap[0].attentions.shape[-1] == tokens
    else:
        import matplotlib

        matplotlib.use("Agg")
        import attnviz.plot  # imported before the clock starts, in both cases
        from attnviz.store import count_reads
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        start = time.perf_counter()
        with count_reads() as reads:
            cap = attnviz.load(folder, lazy=(case == "lazy"))
            grid = attnviz.plot.head_grid(cap, example=n // 2, layers=[3])
        result["seconds"] = time.perf_counter() - start
        result["start_bytes"] = base
        result["read_bytes"] = reads.nbytes if case == "lazy" else sum(
            ex.attentions.nbytes + ex.hidden_states.nbytes for ex in cap)
        result["layer_bytes"] = int(cap[n // 2].attentions[3].nbytes)
        assert grid.matrix(3, 0).shape[-1] == tokens
    result["peak_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=96)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--shard-size", type=int, default=16)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.texts, args.tokens, args.batch_size, args.shard_size,
                                  args.folder)))
        return
    work = tempfile.mkdtemp(prefix="bench_store.")
    folder = f"{work}/cap"
    results = {}
    try:
        for case in ("memory", "disk", "eager", "lazy"):
            results[case] = run_json(__file__, "--case", case, "--texts", str(args.texts), "--tokens",
                                     str(args.tokens), "--batch-size", str(args.batch_size), "--shard-size",
                                     str(args.shard_size), "--folder", folder)
        on_disk = sum(p.stat().st_size for p in __import__("pathlib").Path(folder).iterdir())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mib = 1024 ** 2
    mem, disk, eager, lazy = (results[c] for c in ("memory", "disk", "eager", "lazy"))
    print(f"capture store: MiniLM, {args.texts} texts x {args.tokens} tokens, batch {args.batch_size}, "
          f"shard size {args.shard_size}; maps + hidden states {mem['maps_bytes'] / mib:.0f} MiB, "
          f"folder {on_disk / mib:.0f} MiB")
    for name, r in (("extract in memory", mem), ("extract(out=DIR)", disk)):
        print(f"  {name:18s}: {r['seconds']:6.2f} s   peak RSS {r['peak_bytes'] / mib:6.0f} MiB "
              f"(after loading the model {r['start_bytes'] / mib:.0f} MiB, +{(r['peak_bytes'] - r['start_bytes']) / mib:.0f})")
    print(f"  peak RSS ratio out=DIR / in memory = {disk['peak_bytes'] / mem['peak_bytes']:.2f}; growth over the "
          f"model ratio = {(disk['peak_bytes'] - disk['start_bytes']) / (mem['peak_bytes'] - mem['start_bytes']):.2f}; "
          f"time ratio = {disk['seconds'] / mem['seconds']:.2f}")
    for name, r in (("eager load + grid", eager), ("lazy load + grid", lazy)):
        print(f"  {name:18s}: {r['seconds']:6.3f} s   read {r['read_bytes'] / mib:8.2f} MiB   "
              f"peak RSS {r['peak_bytes'] / mib:6.0f} MiB")
    print(f"  one-layer head_grid: lazy reads {lazy['read_bytes'] / mib:.2f} MiB (one layer = "
          f"{lazy['layer_bytes'] / mib:.2f} MiB), {eager['read_bytes'] / lazy['read_bytes']:.0f}x less than an eager "
          f"load; time ratio lazy/eager = {lazy['seconds'] / eager['seconds']:.3f}")


if __name__ == "__main__":
    main()
