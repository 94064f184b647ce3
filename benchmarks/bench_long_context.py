"""Benchmark: attention of a Llama-architecture model at long context, layer by layer.

The model is built from a config with random weights (nothing is downloaded): 8 layers x 16
heads, 4 key/value heads (grouped-query attention), hidden size 256. Three measurements:

1. Memory, at 2,048 and 4,096 tokens: the peak RSS over the start of
   ``extract(layers=[0], hidden_states=False)`` against a bare ``output_attentions=True``
   forward under eager attention (what a tutorial user writes). Every case runs in a fresh
   subprocess; the peak is the kernel's high-water mark (VmHWM) after it was reset at the
   start. Goal: ratio <= 0.25.
2. 16,384 tokens, ``queries="last"``, every layer: completes with peak RSS < 3 GB (a bare
   forward would need 8 x 16 x 16,384^2 x 4 B = 137 GB).
3. Time at 2,048 tokens, one process, best of ``--rounds``: one layer kept <= 0.35x the bare
   eager forward, every layer kept <= 1.10x.

With ``--device cuda`` the memory figures are ``torch.cuda.max_memory_allocated`` over the
loaded model (reset at the start) instead of RSS, the model and inputs on the GPU.

Run: .venv/bin/python benchmarks/bench_long_context.py [--lengths 2048 4096] [--long 16384] [--rounds 2]
     [--device cuda]
"""
from __future__ import annotations

import argparse
import json
import time

from _common import GiB, MiB, reset_peak, run_json, status


def build_model(tokens: int):
    """A random-weight Llama (8 x 16 heads, 4 KV heads, hidden 256) and a text of ``tokens`` tokens."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from attnviz.testing import CORPUS, tiny_tokenizer

    tok = tiny_tokenizer("llama")
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=256, intermediate_size=688, num_hidden_layers=8,
                      num_attention_heads=16, num_key_value_heads=4, max_position_embeddings=max(tokens, 4096),
                      pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    words = " ".join(CORPUS)
    text = words
    while len(tok(text)["input_ids"]) < tokens:
        text = text + " " + words
    return model, tok, text


def run_case(case: str, tokens: int, device: str = "cpu") -> dict:
    """One memory case in this (fresh) process: returns the peak over the start, in bytes (RSS on the
    CPU, ``torch.cuda.max_memory_allocated`` on CUDA)."""
    import warnings

    import torch

    import attnviz

    warnings.simplefilter("ignore")
    model, tok, text = build_model(tokens)
    model.to(device)
    ids = tok(text, truncation=True, max_length=tokens, return_tensors="pt").to(device)
    torch.set_grad_enabled(False)
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
    else:
        reset_peak()
        start = status("VmRSS")
    if case == "bare":
        model.set_attn_implementation("eager")
        out = model(**ids, output_attentions=True)
        kept = sum(a.numel() * a.element_size() for a in out.attentions)
    elif case == "sdpa_forward":
        model(**ids)
        kept = 0
    elif case == "one_layer":
        cap = attnviz.extract(model, text, max_length=tokens, layers=[0], hidden_states=False, tokenizer=tok)
        kept = cap[0].attentions.nbytes
    elif case == "last_query":
        cap = attnviz.extract(model, text, max_length=tokens, queries="last", hidden_states=False, tokenizer=tok)
        kept = cap[0].attentions.nbytes
        assert cap[0].attentions.shape == (8, 16, 1, tokens), cap[0].attentions.shape
    else:
        raise ValueError(case)
    peak = torch.cuda.max_memory_allocated() if cuda else status("VmHWM")
    return {"case": case, "tokens": tokens, "start": start, "peak": peak, "kept": kept, "device": device}


def run_timing(tokens: int, rounds: int, device: str = "cpu") -> dict:
    """Bare eager forward vs extract with one layer and with every layer, same input, one process."""
    import warnings

    import torch

    import attnviz

    warnings.simplefilter("ignore")
    model, tok, text = build_model(tokens)
    model.to(device)
    ids = tok(text, truncation=True, max_length=tokens, return_tensors="pt").to(device)
    torch.set_grad_enabled(False)
    wait = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def bare():
        model.set_attn_implementation("eager")
        model(**ids, output_attentions=True)
        model.set_attn_implementation("sdpa")

    def sdpa():
        model(**ids)

    cases = {
        "bare": bare,
        "sdpa": sdpa,
        "one_layer": lambda: attnviz.extract(model, text, max_length=tokens, layers=[0], hidden_states=False, tokenizer=tok),
        "all_layers": lambda: attnviz.extract(model, text, max_length=tokens, hidden_states=False, tokenizer=tok),
    }
    best = {name: float("inf") for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            begin = time.perf_counter()
            fn()
            wait()
            best[name] = min(best[name], time.perf_counter() - begin)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="*", default=[2048, 4096])
    parser.add_argument("--long", type=int, default=16384, help="0 to skip the queries='last' case")
    parser.add_argument("--time-tokens", type=int, default=2048, help="0 to skip the timing")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (GPU memory: torch.cuda.max_memory_allocated)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--tokens", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case == "timing":
        print(json.dumps(run_timing(args.tokens, args.rounds, args.device)))
        return
    if args.case:
        print(json.dumps(run_case(args.case, args.tokens, args.device)))
        return
    dev = ("--device", args.device)
    memory = "GPU max_memory_allocated" if args.device.startswith("cuda") else "RSS"
    print(f"Llama architecture, random weights: 8 layers x 16 heads, 4 KV heads, hidden 256 ({args.device}); "
          f"memory: {memory}")
    for tokens in args.lengths:
        bare = run_json(__file__, "--case", "bare", "--tokens", str(tokens), *dev)
        one = run_json(__file__, "--case", "one_layer", "--tokens", str(tokens), *dev)
        b, o = bare["peak"] - bare["start"], one["peak"] - one["start"]
        print(f"  {tokens:6d} tokens, peak {memory} over start: bare output_attentions forward {b / MiB:8.0f} MiB, "
              f"extract(layers=[0]) {o / MiB:6.0f} MiB (keeps {one['kept'] / MiB:.0f} MiB)  "
              f"ratio {o / b:.3f} (goal <= 0.25)")
    if args.long:
        plain = run_json(__file__, "--case", "sdpa_forward", "--tokens", str(args.long), *dev)
        print(f"  {args.long:6d} tokens, a plain sdpa forward (no weights): peak {memory} over start "
              f"{(plain['peak'] - plain['start']) / MiB:.0f} MiB")
        last = run_json(__file__, "--case", "last_query", "--tokens", str(args.long), *dev)
        full = 8 * 16 * args.long ** 2 * 4
        print(f"  {args.long:6d} tokens, queries='last', every layer: peak {memory} {last['peak'] / GiB:.2f} GiB "
              f"(over start {(last['peak'] - last['start']) / MiB:.0f} MiB; goal < 3 GiB; "
              f"a bare forward's maps alone: {full / GiB:.0f} GiB)")
    if args.time_tokens:
        t = run_json(__file__, "--case", "timing", "--tokens", str(args.time_tokens), "--rounds", str(args.rounds), *dev)
        print(f"  time at {args.time_tokens} tokens (best of {args.rounds}): bare eager forward {t['bare']:.2f} s, "
              f"sdpa forward without weights {t['sdpa']:.2f} s")
        print(f"    extract(layers=[0])  {t['one_layer']:.2f} s  ratio {t['one_layer'] / t['bare']:.3f} (goal <= 0.35)")
        print(f"    extract(every layer) {t['all_layers']:.2f} s  ratio {t['all_layers'] / t['bare']:.3f} "
              f"(goal <= 1.10)")


if __name__ == "__main__":
    main()
