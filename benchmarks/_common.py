"""What several benchmarks measure the same way: wall and CPU time of a call, interleaved rounds and
their medians, a process's resident memory (now and peak, Linux), and a case run in a fresh process.

The scripts import it beside themselves (``python benchmarks/bench_X.py`` puts benchmarks/ first on
sys.path); nothing here imports torch or attnviz, so ``--help`` stays instant.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

MiB = 1024 ** 2
GiB = 1024 ** 3


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call of ``fn``."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def interleaved_medians(order: Sequence[tuple[str, Callable[[], object]]], repeats: int
                        ) -> dict[str, tuple[float, float]]:
    """Each named call timed ``repeats`` times, round r starting at the r-th call (so that no call always
    runs first or after the same one): the medians of its (wall, CPU) seconds, by name."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in order}
    for r in range(repeats):
        for name, fn in list(order[r % len(order):]) + list(order[:r % len(order)]):
            runs[name].append(timed(fn))
    return {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in runs.items()}


def reset_peak() -> None:
    """Reset this process's peak resident memory (VmHWM) to its current one (Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


def status(field: str) -> int:
    """A memory field of /proc/self/status (``VmRSS``: resident now, ``VmHWM``: its peak), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} missing from /proc/self/status")


def run_json(script: str, *args: str) -> dict:
    """Run ``python script args`` in a fresh process and return the JSON object of its last output line."""
    out = subprocess.run([sys.executable, script, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def classifier(model: str | None, threads: int) -> tuple:
    """(model, tokenizer, path) of a sequence classifier in eval mode, torch on ``threads`` threads and seeded
    (0) first: the folder ``model``, or the packaged all-MiniLM-L6-v2 with a fresh 2-label head."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from attnviz.modeling import default_model_path

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    path = model or str(default_model_path())
    loaded = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    tok = AutoTokenizer.from_pretrained(path)
    loaded.eval()
    return loaded, tok, path
