"""Benchmark: memory of attention during generation, old step-by-step maps vs the per-layer pass.

The model is the random-weight Llama of ``bench_long_context.py`` (8 layers x 16 heads, 4
key/value heads, hidden 256; nothing is downloaded), the prompt ``--tokens`` long (default
2,048), ``--new`` tokens generated (default 16, greedy, forced with ``min_new_tokens``). Cases,
each in a fresh subprocess, peak RSS over the start (the kernel's high-water mark VmHWM after
it was reset at the start):

* ``old``: what ``extract_generation`` did before: ``model.generate(output_attentions=True,
  return_dict_in_generate=True)`` under eager attention (every layer's maps of every step,
  the prompt step's prompt x prompt maps for all layers at once), stitched into full
  (layer, head, T, T) maps. The baseline of the ratios.
* ``plain``: ``model.generate`` alone (sdpa, no attention): the floor.
* ``one_layer``: ``extract_generation(..., layers=[0], hidden_states=False)``.
* ``last_query``: ``extract_generation(..., queries="last", hidden_states=False)`` (every layer).

Goal: both new cases <= 0.25 x the old peak.

Run: .venv/bin/python benchmarks/bench_generation.py [--tokens 2048] [--new 16]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import MiB, reset_peak, run_json, status  # noqa: E402
from bench_long_context import build_model  # noqa: E402


def prompt_of(tok, text: str, tokens: int) -> str:
    """A prompt of about ``tokens`` tokens cut out of ``text``."""
    ids = tok(text)["input_ids"]
    return tok.decode(ids[:tokens], skip_special_tokens=True)


def old_generation(model, tok, prompt: str, new: int):
    """The old path: every step's maps of every layer, then stitched into (layer, head, T, T)."""
    import numpy as np
    import torch

    inputs = tok(prompt, return_tensors="pt")
    model.set_attn_implementation("eager")
    out = model.generate(**inputs, max_new_tokens=new, min_new_tokens=new, do_sample=False,
                         output_attentions=True, return_dict_in_generate=True, pad_token_id=tok.pad_token_id)
    total = out.sequences.shape[1] - 1  # (the old path fed the last token in one more step: one row, left out)
    layers, heads = len(out.attentions[0]), out.attentions[0][0].shape[1]
    maps = np.zeros((layers, heads, total, total), dtype=np.float32)
    filled = 0
    for step in out.attentions:
        end = step[0].shape[-1]
        rows = torch.stack([a[0] for a in step]).numpy()
        maps[:, :, filled:end, :end] = rows[:, :, rows.shape[2] - (end - filled):]
        filled = end
    return out, maps


def run_case(case: str, tokens: int, new: int) -> dict:
    """One case in this (fresh) process: peak RSS over the start and the bytes of maps kept."""
    import warnings

    import torch

    import attnviz

    warnings.simplefilter("ignore")
    model, tok, text = build_model(tokens + new)
    prompt = prompt_of(tok, text, tokens)
    n_prompt = len(tok(prompt)["input_ids"])
    torch.set_grad_enabled(False)
    options = dict(max_new_tokens=new, min_new_tokens=new, hidden_states=False)
    reset_peak()
    start, begin = status("VmRSS"), time.perf_counter()
    if case == "old":
        out, maps = old_generation(model, tok, prompt, new)
        kept = maps.nbytes + sum(a.numel() * a.element_size() for step in out.attentions for a in step)
    elif case == "plain":
        model.generate(**tok(prompt, return_tensors="pt"), max_new_tokens=new, min_new_tokens=new,
                       do_sample=False, pad_token_id=tok.pad_token_id)
        kept = 0
    elif case == "one_layer":
        cap = attnviz.extract_generation(model, prompt, layers=[0], **options, tokenizer=tok)
        kept = cap[0].attentions.nbytes
        assert cap[0].attentions.shape[:2] == (1, 16), cap[0].attentions.shape
    elif case == "last_query":
        cap = attnviz.extract_generation(model, prompt, queries="last", **options, tokenizer=tok)
        kept = cap[0].attentions.nbytes
        assert cap[0].attentions.shape == (8, 16, 1, n_prompt + new), cap[0].attentions.shape
    else:
        raise ValueError(case)
    seconds = time.perf_counter() - begin
    return {"case": case, "prompt": n_prompt, "start": start, "peak": status("VmHWM"), "kept": kept,
            "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2048, help="prompt length in tokens")
    parser.add_argument("--new", type=int, default=16, help="tokens to generate")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.tokens, args.new)))
        return
    print(f"Llama architecture, random weights: 8 layers x 16 heads, 4 KV heads, hidden 256 (CPU); "
          f"prompt ~{args.tokens} tokens, {args.new} new tokens")
    results = {case: run_json(__file__, "--case", case, "--tokens", str(args.tokens), "--new", str(args.new))
               for case in ("old", "plain", "one_layer", "last_query")}
    old = results["old"]["peak"] - results["old"]["start"]
    labels = {"old": "old: generate(output_attentions=True) + stitched maps",
              "plain": "generate alone (sdpa, no attention)",
              "one_layer": "extract_generation(layers=[0])",
              "last_query": "extract_generation(queries='last')"}
    print(f"  prompt: {results['old']['prompt']} tokens")
    for case, r in results.items():
        over = r["peak"] - r["start"]
        goal = " (goal <= 0.25)" if case in ("one_layer", "last_query") else ""
        print(f"  {labels[case]:<55s} peak RSS over start {over / MiB:8.0f} MiB  ratio {over / old:.3f}{goal}  "
              f"keeps {r['kept'] / MiB:7.1f} MiB  {r['seconds']:6.1f} s")


if __name__ == "__main__":
    main()
