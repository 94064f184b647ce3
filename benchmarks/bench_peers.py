"""Benchmark: attnviz against bare transformers, TransformerLens (TransformerBridge) and nnsight.

Three tasks on one text: every layer's attention maps, one layer's (layer 0), and the last query
row of every layer. Two model shapes with random weights (nothing is downloaded): GPT-2-small
(12 layers x 12 heads, d=768, GPT-2's vocabulary of 50,257) and Llama-3.2-1B (16 layers x 32
heads, 8 key/value heads, d=2,048, MLP 8,192; a vocabulary of 32,000 instead of 128,256, which
changes only the embedding and the logits). Token ids come from the repo's tiny tokenizers.

How each tool does each task (its idiomatic way):

- bare: ``model(ids, output_attentions=True)`` under eager attention: every layer is computed
  whatever is kept (one layer and the last row are cut from it).
- attnviz: ``attnviz.extract_ids(model, tok, [ids], layers=..., queries=..., hidden_states=False)``.
- TransformerLens 4.x: ``build_bridge_from_module`` around the same HF model, then
  ``run_with_cache(ids, names_filter="blocks.L.attn.hook_pattern")``; one layer adds
  ``stop_at_layer=1``; the last row adds ``pos_slice=-1``, which cuts the cached pattern after
  every row was computed.
- nnsight: ``NNsight(model)`` on the eager model, ``with m.trace(ids):`` saving each kept layer's
  ``attn.output[1]`` (the row cut with ``[:, :, -1]`` inside the trace; every row is computed).

Every result is first checked equal (to 1e-5) to the bare transformers maps at 128 tokens.
Then each case runs in a fresh process: the peak resident memory over the loaded model (the
kernel's high-water mark, reset after loading) on the first call, and the time, best of
``--repeats`` calls in that process.

The peers live in a separate virtual environment so that they cannot change the main one::

    make bench-peers                       # makes .peers-venv (torch==2.13.0, -e ., transformer-lens, nnsight), runs --quick
    make bench-peers PEERS_ARGS=           # the full table
    ATTNVIZ_PEERS_PYTHON=/path/to/venv/bin/python .venv/bin/python benchmarks/bench_peers.py --quick

``--python`` (or ``ATTNVIZ_PEERS_PYTHON``) is the interpreter every case runs in (default: this
one; peers missing there are reported as such). ``--quick``: GPT-2-small at 512 tokens, one call
each. The full table (both shapes, 512 and 2,048 tokens, best of 3) takes hours on 2 CPU cores
and a bare Llama forward at 2,048 tokens holds 8 GiB of maps.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 2 ** 20
TOOLS = ("bare", "attnviz", "tlens", "nnsight")
TASKS = ("all", "one", "last")
CHECK_TOKENS = 128
TOLERANCE = 1e-5


def build(shape: str, tokens: int):
    """A random-weight model of ``shape`` ("gpt2" or "llama"), its tiny tokenizer and ``tokens`` ids."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    from attnviz.testing import tiny_tokenizer

    tok = tiny_tokenizer(shape)
    special = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    if shape == "gpt2":
        cfg = GPT2Config(vocab_size=50257, n_positions=max(tokens, 1024), n_embd=768, n_layer=12, n_head=12,
                         **special)
        model = GPT2LMHeadModel(cfg)
    else:
        cfg = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                          num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=max(tokens, 4096),
                          tie_word_embeddings=True, **special)
        model = LlamaForCausalLM(cfg)
    model.eval()
    ids = torch.randint(5, len(tok), (tokens,), generator=torch.Generator().manual_seed(1)).tolist()
    return model, tok, ids


def _layer_path(model, shape: str, layer: int):
    return model.transformer.h[layer].attn if shape == "gpt2" else model.model.layers[layer].self_attn


def make_task(tool: str, shape: str, task: str, model, tok, ids):
    """A no-argument function running ``task`` with ``tool`` and returning what the tool gives back
    (its peak memory is measured then), and a function turning that into one numpy array (layer,
    head, row, key) for the check; or a string saying why the tool cannot do the task."""
    import numpy as np
    import torch

    torch.set_grad_enabled(False)
    n_layers = model.config.num_hidden_layers
    layers = [0] if task == "one" else list(range(n_layers))
    x = torch.tensor([ids])
    if tool == "bare":
        model.set_attn_implementation("eager")

        def run():
            return model(x, output_attentions=True, use_cache=False).attentions

        def convert(maps):
            if task == "last":
                return np.stack([maps[l][0, :, -1:].numpy() for l in layers])
            return np.stack([maps[l][0].numpy() for l in layers])
        return run, convert
    if tool == "attnviz":
        from attnviz.extraction.extract import extract_ids

        def run():
            cap = extract_ids(model, tok, [{"input_ids": ids}], layers=layers if task == "one" else None,
                                      queries="last" if task == "last" else None, hidden_states=False)
            return cap[0].attentions
        return run, np.asarray
    if tool == "tlens":
        try:
            from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_from_module
        except ImportError as exc:
            return f"not installed ({exc.name})"
        arch = "GPT2LMHeadModel" if shape == "gpt2" else "LlamaForCausalLM"
        bridge = build_bridge_from_module(model, arch, hf_config=model.config, tokenizer=None)
        names = [f"blocks.{l}.attn.hook_pattern" for l in layers]
        extra = {"stop_at_layer": 1} if task == "one" else {"pos_slice": -1} if task == "last" else {}

        def run():
            return bridge.run_with_cache(x, names_filter=names, return_cache_object=False, **extra)[1]

        def convert(cache):
            out = np.stack([cache[n][0].numpy() for n in names])
            return out if task != "last" or out.shape[2] == 1 else out[:, :, -1:]
        return run, convert
    if tool == "nnsight":
        try:
            from nnsight import NNsight
        except ImportError as exc:
            return f"not installed ({exc.name})"
        model.set_attn_implementation("eager")
        traced = NNsight(model)

        def run():
            saved = []
            with traced.trace(x, use_cache=False):
                for l in layers:
                    w = _layer_path(traced, shape, l).output[1]
                    saved.append((w[:, :, -1:] if task == "last" else w).save())
            return saved
        return run, lambda saved: np.stack([s[0].numpy() for s in saved])
    raise ValueError(tool)


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM back to the current RSS (Linux >= 4.0)


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} missing from /proc/self/status")


def run_case(tool: str, shape: str, task: str, tokens: int, repeats: int, save: str | None) -> dict:
    """One case in this fresh process: peak RSS over the loaded model on the first call, best time."""
    import warnings

    import numpy as np

    warnings.simplefilter("ignore")
    model, tok, ids = build(shape, tokens)
    made = make_task(tool, shape, task, model, tok, ids)
    if isinstance(made, str):
        return {"skip": made}
    fn, convert = made
    _reset_peak()
    start = _status("VmRSS")
    times = []
    begin, cpu = time.perf_counter(), time.process_time()
    result = fn()
    times.append(time.perf_counter() - begin)
    cpu = time.process_time() - cpu
    peak = _status("VmHWM") - start
    array = convert(result)
    if save:
        np.save(save, np.ascontiguousarray(array, dtype=np.float32))
    kept = int(array.nbytes)
    del result, array
    for _ in range(repeats - 1):
        begin = time.perf_counter()
        fn()
        times.append(time.perf_counter() - begin)
    return {"peak": peak, "time": min(times), "cpu": cpu, "kept": kept}


def _child(python: str, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    done = subprocess.run([python, __file__, *args], capture_output=True, text=True, env=env)
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        return {"error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1][:120]}
    return json.loads(lines[-1])


def check(python: str, shape: str, tools, tasks) -> dict:
    """Every tool's result at CHECK_TOKENS tokens against bare transformers: 'ok' or why not."""
    import numpy as np

    verdict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for task in tasks:
            ref = Path(tmp, f"bare-{task}.npy")
            _child(python, "--case", "bare", shape, task, str(CHECK_TOKENS), "--repeats", "1", "--save", str(ref))
            for tool in tools:
                if tool == "bare":
                    continue
                path = Path(tmp, f"{tool}-{task}.npy")
                got = _child(python, "--case", tool, shape, task, str(CHECK_TOKENS), "--repeats", "1",
                             "--save", str(path))
                if "skip" in got or "error" in got:
                    verdict[tool, task] = got.get("skip") or got["error"]
                    continue
                a, b = np.load(path), np.load(ref)
                same = a.shape == b.shape and float(np.abs(a - b).max()) <= TOLERANCE
                verdict[tool, task] = "ok" if same else f"differs (shape {a.shape} vs {b.shape})"
    return verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=os.environ.get("ATTNVIZ_PEERS_PYTHON", sys.executable),
                        help="interpreter with the peers installed (env ATTNVIZ_PEERS_PYTHON)")
    parser.add_argument("--shapes", nargs="*", default=["gpt2", "llama"], choices=["gpt2", "llama"])
    parser.add_argument("--tokens", type=int, nargs="*", default=[512, 2048])
    parser.add_argument("--tools", nargs="*", default=list(TOOLS), choices=TOOLS)
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=TASKS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="GPT-2-small shape, 512 tokens, one call each")
    parser.add_argument("--skip-check", action="store_true", help="skip the equality check (done by an earlier run)")
    parser.add_argument("--case", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        tool, shape, task, tokens = args.case
        print(json.dumps(run_case(tool, shape, task, int(tokens), args.repeats, args.save)))
        return
    if args.quick:
        args.shapes, args.tokens, args.repeats = ["gpt2"], [512], 1
    names = {"gpt2": "GPT-2-small", "llama": "Llama-3.2-1B"}
    labels = {"all": "every layer", "one": "layer 0", "last": "last row, every layer"}
    print(f"random weights, CPU ({os.cpu_count()} cores); peak RSS over the loaded model, first call; "
          f"time best of {args.repeats}; python for the cases: {args.python}")
    print("| shape | tokens | task | " + " | ".join(args.tools) + " |")
    print("|---|---|---|" + "---|" * len(args.tools))
    for shape in args.shapes:
        verdict = {} if args.skip_check else check(args.python, shape, args.tools, args.tasks)
        for tokens in args.tokens:
            for task in args.tasks:
                cells, bare = [], None
                for tool in args.tools:
                    ok = verdict.get((tool, task), "ok")
                    if ok != "ok":
                        cells.append(f"cannot: {ok}")
                        continue
                    r = _child(args.python, "--case", tool, shape, task, str(tokens), "--repeats", str(args.repeats))
                    if "peak" not in r:
                        cells.append(r.get("skip") or r.get("error", "?"))
                        continue
                    bare = r if tool == "bare" else bare
                    ratio = "" if bare is None or tool == "bare" else \
                        f" ({r['peak'] / bare['peak']:.2f}x mem, {r['time'] / bare['time']:.2f}x time)"
                    note = " (computes every layer)" if tool in ("bare", "nnsight") and task != "all" or \
                        tool == "tlens" and task == "last" else ""
                    cells.append(f"{r['peak'] / MiB:.0f} MiB, {r['time']:.2f} s{ratio}{note}")
                print(f"| {names[shape]} | {tokens} | {labels[task]} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
