"""Benchmark of attnviz.metrics.knockout_map against the same number of plain forward passes.

GPT-2-small shape (12 layers x 12 heads, width 768, vocabulary 50257), random weights, sdpa;
``--texts`` texts of ``--tokens`` tokens each (word-level tiny tokenizer; ids fit the vocabulary),
window 1: knockout_map runs one unedited pass per text plus one knocked-out pass per text and
layer (texts x (layers + 1) rows, several interventions per padded batch). The baseline is
the same number of rows as plain forward passes, in the same batch size, as lean as they can be
for the same output (no key/value cache, the last position's logits only). Goal: ratio <= 1.2.
Both run in the same process, interleaved, median of ``--repeats``. Run:

    .venv/bin/python benchmarks/bench_causal.py [--texts 64] [--tokens 64] [--batch-size 32] [--device cpu]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def texts_of(tok, n: int, tokens: int, seed: int = 0) -> list[str]:
    """``n`` texts of exactly ``tokens`` tokens (random words of the tokenizer's vocabulary)."""
    import random

    rng = random.Random(seed)
    words = [w for w in tok.get_vocab() if w.isalpha() and w.islower()]
    out = []
    for _ in range(n):
        picked = rng.choices(words, k=tokens)
        while len(tok(" ".join(picked))["input_ids"]) > tokens:
            picked.pop()
        while len(tok(" ".join(picked))["input_ids"]) < tokens:
            picked.append(rng.choice(words))
            if len(tok(" ".join(picked))["input_ids"]) > tokens:
                picked.pop()
                picked.append("a" if "a" in words else words[0])
                break
        out.append(" ".join(picked))
    return out


def main() -> None:
    import torch
    import transformers as tf

    from attnviz.metrics.causal import _padded, knockout_map
    from attnviz.testing import tiny_tokenizer

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--texts", type=int, default=64)
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads on the CPU (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tok = tiny_tokenizer("gpt2")
    cfg = tf.GPT2Config(vocab_size=50257, n_positions=max(1024, args.tokens), n_embd=768, n_layer=12, n_head=12)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(0)
    model = tf.GPT2LMHeadModel(cfg).eval().to(args.device)
    texts = texts_of(tok, args.texts, args.tokens)
    encoded = [tok(t)["input_ids"] for t in texts]
    rows = [encoded[i % len(encoded)] for i in range(len(texts) * (cfg.n_layer + 1))]
    pad = tok.eos_token_id or 0

    def sync():
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    def plain():
        with torch.no_grad():
            for s in range(0, len(rows), args.batch_size):
                model(**_padded(rows[s:s + args.batch_size], pad, args.device), use_cache=False,
                      logits_to_keep=1).logits[:, -1].float().log_softmax(-1)
        sync()

    def knockout():
        knockout_map(model, texts, tokenizer=tok, window=1, batch_size=args.batch_size)
        sync()

    knockout_map(model, texts[:2], tokenizer=tok, batch_size=args.batch_size)  # warm-up
    plain()
    times = {"plain": [], "knockout": []}
    for r in range(args.repeats):
        for name, fn in ((("plain", plain), ("knockout", knockout)) if r % 2 == 0 else
                         (("knockout", knockout), ("plain", plain))):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    base, ko = statistics.median(times["plain"]), statistics.median(times["knockout"])
    print(f"device {args.device}, GPT-2-small shape (random weights), {args.texts} texts x {args.tokens} tokens, "
          f"window 1, batch {args.batch_size}: {len(rows)} rows")
    print(f"  plain forward passes ({len(rows)} rows): {base:.3f} s (median of {args.repeats})")
    print(f"  knockout_map:                         {ko:.3f} s")
    print(f"  ratio knockout / plain: {ko / base:.2f}x (goal <= 1.2x)")


if __name__ == "__main__":
    main()
