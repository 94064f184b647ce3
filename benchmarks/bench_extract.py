"""Benchmark: attnviz.extract against a bare forward loop, on the real MiniLM.

256 texts of 128 tokens, batch size 16. The baseline is the loop a tutorial user
writes: ``model(**batch, output_attentions=True, output_hidden_states=True)`` under
``torch.no_grad()`` with eager attention. Each side runs in a fresh subprocess so
that its peak memory (max RSS) is its own; the rounds alternate to share the noise
of this machine. Goals: time ratio extract / loop <= 1.05, and extract's peak RSS <= the
loop's peak + 1.1 x the capture's own size (the maps and states it keeps).

Run: .venv/bin/python benchmarks/bench_extract.py [--texts 256] [--tokens 128] [--rounds 2]
"""
from __future__ import annotations

import argparse
import json
import time

from _common import run_json

WORDS = ("the movie was surprisingly good and the actors played their parts with real warmth "
         "although the plot dragged in the middle and the ending felt rushed to me").split()


def make_texts(n: int, tokens: int) -> list[str]:
    return [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(tokens + 10)) for i in range(n)]


def run_side(side: str, n: int, tokens: int, batch_size: int) -> dict:
    import resource
    import warnings

    import torch

    from attnviz.modeling import default_model_path, load_model

    torch.set_num_threads(torch.get_num_threads())
    model, tok = load_model(default_model_path())
    texts = make_texts(n, tokens)
    if side == "extract":
        import attnviz

        warnings.simplefilter("ignore")
        start = time.perf_counter()
        cap = attnviz.extract(model, texts, batch_size=batch_size, max_length=tokens, progress=False, tokenizer=tok)
        seconds = time.perf_counter() - start
        kept = sum(ex.attentions.nbytes + ex.hidden_states.nbytes for ex in cap)
        assert cap[0].attentions.shape[-1] == tokens
    else:
        model.set_attn_implementation("eager")
        model.eval()
        start = time.perf_counter()
        with torch.no_grad():
            for s in range(0, n, batch_size):
                batch = tok(texts[s:s + batch_size], padding=True, truncation=True, max_length=tokens,
                            return_tensors="pt")
                out = model(**batch, output_attentions=True, output_hidden_states=True)
                assert out.attentions[0].shape[-1] == tokens
        seconds = time.perf_counter() - start
        kept = 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"side": side, "seconds": seconds, "peak_bytes": peak, "kept_bytes": kept}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--side", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(run_side(args.side, args.texts, args.tokens, args.batch_size)))
        return
    results: dict[str, list[dict]] = {"loop": [], "extract": []}
    for _ in range(args.rounds):
        for side in ("loop", "extract"):
            results[side].append(run_json(__file__, "--side", side, "--texts", str(args.texts),
                                          "--tokens", str(args.tokens), "--batch-size", str(args.batch_size)))
    loop_t = min(r["seconds"] for r in results["loop"])
    ext_t = min(r["seconds"] for r in results["extract"])
    mib = 1024 ** 2
    print(f"extract() vs bare loop: {args.texts} texts x {args.tokens} tokens, batch {args.batch_size}, "
          f"MiniLM (best of {args.rounds})")
    print(f"  bare loop : {loop_t:7.2f} s   peak RSS {max(r['peak_bytes'] for r in results['loop']) / mib:7.0f} MiB")
    print(f"  extract() : {ext_t:7.2f} s   peak RSS {max(r['peak_bytes'] for r in results['extract']) / mib:7.0f} MiB"
          f"   (capture holds {results['extract'][0]['kept_bytes'] / mib:.0f} MiB of maps and states)")
    print(f"  time ratio extract/loop = {ext_t / loop_t:.3f}  (goal <= 1.05)")
    loop_peak = max(r["peak_bytes"] for r in results["loop"])
    ext_peak = max(r["peak_bytes"] for r in results["extract"])
    kept = results["extract"][0]["kept_bytes"]
    print(f"  memory: extract peak - loop peak = {(ext_peak - loop_peak) / mib:.0f} MiB = "
          f"{(ext_peak - loop_peak) / kept:.2f} x the capture's size  (goal <= 1.10)")


if __name__ == "__main__":
    main()
