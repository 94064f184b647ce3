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

``--device cuda``: the model is built on the GPU and the memory is
``torch.cuda.max_memory_allocated`` over the loaded model (reset before each case, so one process
per tool and shape runs its cases one after the other; every earlier result is freed first), the
time is taken after ``torch.cuda.synchronize``. attnviz keeps its maps in pinned host memory, the
peers on the GPU; the table says how much each tool keeps and where.

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

from _common import MiB, reset_peak, status

TOOLS = ("bare", "attnviz", "tlens", "nnsight")
TASKS = ("all", "one", "last")
CHECK_TOKENS = 128
TOLERANCE = 1e-5


def build(shape: str, tokens: int, device: str = "cpu"):
    """A random-weight model of ``shape`` ("gpt2" or "llama") on ``device``, its tiny tokenizer and
    ``tokens`` ids (the model takes inputs up to ``max(tokens, 1024)`` tokens)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    from attnviz.testing import tiny_tokenizer

    tok = tiny_tokenizer(shape)
    special = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    if shape == "gpt2":
        cfg = GPT2Config(vocab_size=50257, n_positions=max(tokens, 1024), n_embd=768, n_layer=12, n_head=12,
                         **special)
        with torch.device(device):
            model = GPT2LMHeadModel(cfg)
    else:
        cfg = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                          num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=max(tokens, 4096),
                          tie_word_embeddings=True, **special)
        with torch.device(device):
            model = LlamaForCausalLM(cfg)
    model.eval()
    return model, tok, make_ids(tok, tokens)


def make_ids(tok, tokens: int) -> list[int]:
    """``tokens`` random token ids of ``tok``'s vocabulary (the same for every tool)."""
    import torch

    return torch.randint(5, len(tok), (tokens,), generator=torch.Generator().manual_seed(1)).tolist()


_WRAPPERS: dict = {}


def _wrapped(model, tool: str, make):
    """The peer's wrapper around ``model``, made once per model (a process may run several cases)."""
    key = (id(model), tool)
    if key not in _WRAPPERS:
        _WRAPPERS[key] = make()
    return _WRAPPERS[key]


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
    x = torch.tensor([ids], device=model.device)
    if tool == "bare":
        model.set_attn_implementation("eager")

        def run():
            return model(x, output_attentions=True, use_cache=False).attentions

        def convert(maps):
            if task == "last":
                return np.stack([maps[l][0, :, -1:].cpu().numpy() for l in layers])
            return np.stack([maps[l][0].cpu().numpy() for l in layers])
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
        bridge = _wrapped(model, "tlens", lambda: build_bridge_from_module(model, arch, hf_config=model.config,
                                                                           tokenizer=None))
        names = [f"blocks.{l}.attn.hook_pattern" for l in layers]
        extra = {"stop_at_layer": 1} if task == "one" else {"pos_slice": -1} if task == "last" else {}

        def run():
            return bridge.run_with_cache(x, names_filter=names, return_cache_object=False, **extra)[1]

        def convert(cache):
            out = np.stack([cache[n][0].cpu().numpy() for n in names])
            return out if task != "last" or out.shape[2] == 1 else out[:, :, -1:]
        return run, convert
    if tool == "nnsight":
        try:
            from nnsight import NNsight
        except ImportError as exc:
            return f"not installed ({exc.name})"
        model.set_attn_implementation("eager")
        traced = _wrapped(model, "nnsight", lambda: NNsight(model))

        def run():
            saved = []
            with traced.trace(x, use_cache=False):
                for l in layers:
                    w = _layer_path(traced, shape, l).output[1]
                    saved.append((w[:, :, -1:] if task == "last" else w).save())
            return saved
        return run, lambda saved: np.stack([s[0].cpu().numpy() for s in saved])
    raise ValueError(tool)


def run_case(tool: str, shape: str, task: str, tokens: int, repeats: int, save: str | None) -> dict:
    """One case in this fresh process: peak RSS over the loaded model on the first call, best time."""
    import warnings

    warnings.simplefilter("ignore")
    _set_threads()
    model, tok, ids = build(shape, tokens)
    return _measure(tool, shape, task, model, tok, ids, repeats, save, _HostMemory())


def run_gpu_cases(tool: str, shape: str, cases: list[tuple[str, int]], repeats: int,
                  save_dir: str | None) -> list[dict]:
    """Every (task, tokens) case of one tool and shape in this process, on the GPU: the peak of
    ``torch.cuda.max_memory_allocated`` over the loaded model (reset before each case), best time."""
    import warnings

    warnings.simplefilter("ignore")
    model, tok, _ = build(shape, max(n for _, n in cases), device="cuda")
    results = []
    for task, tokens in cases:
        save = str(Path(save_dir, f"{tool}-{task}-{tokens}.npy")) if save_dir else None
        results.append(_measure(tool, shape, task, model, tok, make_ids(tok, tokens), repeats, save,
                                _GpuMemory()))
    return results


def _set_threads() -> None:
    """torch's thread count from ``--threads`` (passed to the cases as BENCH_PEERS_THREADS)."""
    import torch

    if os.environ.get("BENCH_PEERS_THREADS"):
        torch.set_num_threads(int(os.environ["BENCH_PEERS_THREADS"]))


class _HostMemory:
    """Peak resident memory of this process over a start (the kernel's high-water mark, reset)."""

    def start(self) -> None:
        reset_peak()  # VmHWM back to the current RSS
        self.base = status("VmRSS")

    def wait(self) -> None:
        pass

    def peak(self) -> int:
        return status("VmHWM") - self.base


class _GpuMemory:
    """Peak GPU memory allocated over a start (``torch.cuda.max_memory_allocated``, reset)."""

    def start(self) -> None:
        import gc

        import torch

        gc.collect()
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        self.base = torch.cuda.memory_allocated()

    def wait(self) -> None:
        import torch

        torch.cuda.synchronize()

    def peak(self) -> int:
        import torch

        return torch.cuda.max_memory_allocated() - self.base


def _measure(tool: str, shape: str, task: str, model, tok, ids, repeats: int, save: str | None, memory) -> dict:
    """Peak memory of the first call of ``task`` with ``tool`` (``memory`` measures it), best time of
    ``repeats`` calls, the bytes kept; the result saved to ``save`` (numpy) when given."""
    import numpy as np

    made = make_task(tool, shape, task, model, tok, ids)
    if isinstance(made, str):
        return {"skip": made}
    fn, convert = made
    memory.start()
    times = []
    begin, cpu = time.perf_counter(), time.process_time()
    result = fn()
    memory.wait()
    times.append(time.perf_counter() - begin)
    cpu = time.process_time() - cpu
    peak = memory.peak()
    array = convert(result)
    if save:
        np.save(save, np.ascontiguousarray(array, dtype=np.float32))
    kept = int(array.nbytes)
    del result, array
    cpus = [cpu]
    for _ in range(repeats - 1):
        begin, cpu = time.perf_counter(), time.process_time()
        fn()
        memory.wait()
        times.append(time.perf_counter() - begin)
        cpus.append(time.process_time() - cpu)
    return {"peak": peak, "time": min(times), "cpu": min(cpus), "kept": kept}


def _child(python: str, *args: str) -> dict:
    path = os.pathsep.join(p for p in (str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, PYTHONPATH=path, HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    done = subprocess.run([python, __file__, *args], capture_output=True, text=True, env=env)
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        return {"error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1][:120]}
    return json.loads(lines[-1])


def measure(python: str, device: str, tool: str, shape: str, cases: list[tuple[str, int]], repeats: int,
            save_dir: str | None = None) -> dict:
    """{(task, tokens): result} of one tool and shape: a fresh process per case on the CPU, one process
    for all of them on the GPU."""
    save = ["--save", save_dir] if save_dir else []
    if device == "cuda":
        spec = ",".join(f"{task}:{tokens}" for task, tokens in cases)
        got = _child(python, "--gpu-cases", tool, shape, spec, "--repeats", str(repeats), *save)
        results = got if isinstance(got, list) else [got] * len(cases)
        return dict(zip(cases, results, strict=True))
    out = {}
    for task, tokens in cases:
        path = ["--save", str(Path(save_dir, f"{tool}-{task}-{tokens}.npy"))] if save_dir else []
        out[task, tokens] = _child(python, "--case", tool, shape, task, str(tokens), "--repeats", str(repeats), *path)
    return out


def check(python: str, device: str, shape: str, tools, tasks) -> dict:
    """Every tool's result at CHECK_TOKENS tokens against bare transformers: 'ok' or why not."""
    import numpy as np

    verdict = {}
    cases = [(task, CHECK_TOKENS) for task in tasks]
    with tempfile.TemporaryDirectory() as tmp:
        measure(python, device, "bare", shape, cases, 1, tmp)
        for tool in tools:
            if tool == "bare":
                continue
            results = measure(python, device, tool, shape, cases, 1, tmp)
            for task, tokens in cases:
                got = results[task, tokens]
                if "skip" in got or "error" in got:
                    verdict[tool, task] = got.get("skip") or got["error"]
                    continue
                a = np.load(Path(tmp, f"{tool}-{task}-{tokens}.npy"))
                b = np.load(Path(tmp, f"bare-{task}-{tokens}.npy"))
                diff = float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")
                verdict[tool, task] = "ok" if diff <= TOLERANCE else \
                    f"differs (shape {a.shape} vs {b.shape}, max difference {diff:.1e})"
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
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="cuda: model on the GPU, memory = torch.cuda.max_memory_allocated")
    parser.add_argument("--quick", action="store_true", help="GPT-2-small shape, 512 tokens, one call each")
    parser.add_argument("--skip-check", action="store_true", help="skip the equality check (done by an earlier run)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="show the process's CPU time (all threads) instead of the wall time: steadier on a "
                             "machine shared with other jobs")
    parser.add_argument("--threads", type=int, help="torch threads in every case (with --cpu-time, 1 keeps "
                                                     "idle threads' spinning out of the CPU time)")
    parser.add_argument("--case", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--gpu-cases", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        tool, shape, task, tokens = args.case
        print(json.dumps(run_case(tool, shape, task, int(tokens), args.repeats, args.save)))
        return
    if args.gpu_cases:
        tool, shape, spec = args.gpu_cases
        cases = [(task, int(n)) for task, n in (c.split(":") for c in spec.split(","))]
        print(json.dumps(run_gpu_cases(tool, shape, cases, args.repeats, args.save)))
        return
    if args.quick:
        args.shapes, args.tokens, args.repeats = ["gpt2"], [512], 1
    if args.threads:
        os.environ["BENCH_PEERS_THREADS"] = str(args.threads)
    print_table(args)


def print_table(args) -> None:
    """Check every tool, measure every case, print the markdown table."""
    names = {"gpt2": "GPT-2-small", "llama": "Llama-3.2-1B"}
    labels = {"all": "every layer", "one": "layer 0", "last": "last row, every layer"}
    where = f"CPU ({os.cpu_count()} cores); peak RSS over the loaded model, first call" if args.device == "cpu" \
        else "GPU; peak torch.cuda.max_memory_allocated over the loaded model, first call"
    clock = ("CPU time" if args.cpu_time else "wall time") + (f", {args.threads} thread(s)" if args.threads else "")
    print(f"random weights, {where}; {clock} best of {args.repeats}; python for the cases: {args.python}")
    print("| shape | tokens | task | " + " | ".join(args.tools) + " |")
    print("|---|---|---|" + "---|" * len(args.tools))
    cases = [(task, tokens) for tokens in args.tokens for task in args.tasks]
    for shape in args.shapes:
        verdict = {} if args.skip_check else check(args.python, args.device, shape, args.tools, args.tasks)
        results = {}
        for tool in args.tools:
            usable = [c for c in cases if verdict.get((tool, c[0]), "ok") == "ok"]
            results[tool] = measure(args.python, args.device, tool, shape, usable, args.repeats) if usable else {}
        for task, tokens in cases:
            cells, bare = [], results.get("bare", {}).get((task, tokens))
            for tool in args.tools:
                ok = verdict.get((tool, task), "ok")
                cells.append(f"cannot: {ok}" if ok != "ok" else
                             _cell(tool, task, results[tool][task, tokens], bare, "cpu" if args.cpu_time else "time"))
            print(f"| {names[shape]} | {tokens} | {labels[task]} | " + " | ".join(cells) + " |", flush=True)


def _cell(tool: str, task: str, r: dict, bare: dict | None, clock: str = "time") -> str:
    """One table cell: peak memory and best time (``clock``: "time" wall, "cpu" CPU), with the ratios to
    bare transformers."""
    if "peak" not in r:
        return r.get("skip") or r.get("error", "?")
    ratio = "" if bare is None or "peak" not in bare or tool == "bare" else \
        f" ({r['peak'] / bare['peak']:.2f}x mem, {r[clock] / bare[clock]:.2f}x time)"
    note = " (computes every layer)" if tool in ("bare", "nnsight") and task != "all" or \
        tool == "tlens" and task == "last" else ""
    return f"{r['peak'] / MiB:.0f} MiB, {r[clock]:.2f} s{ratio}{note}"


if __name__ == "__main__":
    main()
