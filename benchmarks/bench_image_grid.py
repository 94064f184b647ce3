"""Benchmark: ``attnviz.plot.image_grid`` against the matplotlib loop a tutorial writes.

A ViT-base-shaped map (12 layers x 12 heads, 197 tokens: [CLS] + 14 x 14 patches of a 224 px image,
random maps, no model needed): the [CLS] row of every head over the image, built and written to a
PNG at 100 dpi. The baseline is ``plt.subplots(12, 12)`` with two ``imshow`` calls per cell (the
image, then the map with alpha), axes off, the same figure size. Prints both times (best of
``--rounds``) and their ratio; no goal is asserted (the machine is shared).

Run: .venv/bin/python benchmarks/bench_image_grid.py [--rounds 3]
"""
from __future__ import annotations

import argparse
import io
import json
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import attnviz  # noqa: E402
from attnviz.capture import Capture, Example  # noqa: E402


def vit_base_capture() -> Capture:
    rng = np.random.default_rng(0)
    att = rng.random((12, 12, 197, 197)).astype(np.float32)
    att /= att.sum(-1, keepdims=True)
    ex = Example(tokens=["[CLS]"] + [f"patch {i // 14},{i % 14}" for i in range(196)], attentions=att,
                 special_mask=[True] + [False] * 196, modality="image", patch_grid=(14, 14),
                 patch_positions=np.arange(1, 197), image=rng.integers(0, 256, (224, 224, 3), dtype=np.uint8))
    return Capture([ex], layers=list(range(12)), heads=list(range(12)), num_layers=12, num_heads=12)


def ours(cap: Capture) -> tuple[float, tuple[float, float]]:
    start = time.perf_counter()
    grid = attnviz.plot.image_grid(cap)
    grid.figure.savefig(io.BytesIO(), format="png", dpi=100)
    return time.perf_counter() - start, tuple(grid.figure.get_size_inches())


def baseline(cap: Capture, size: tuple[float, float]) -> float:
    ex = cap[0]
    start = time.perf_counter()
    fig, axes = plt.subplots(12, 12, figsize=size)
    for i in range(12):
        for j in range(12):
            axes[i, j].imshow(ex.image)
            axes[i, j].imshow(ex.attentions[i, j, 0, 1:].reshape(14, 14), extent=(0, 224, 224, 0), alpha=0.6)
            axes[i, j].axis("off")
    fig.savefig(io.BytesIO(), format="png", dpi=100)
    plt.close(fig)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cap = vit_base_capture()
    ours(cap)  # warm-up: imports, fonts
    runs = [ours(cap) for _ in range(args.rounds)]
    size = runs[0][1]
    base = min(baseline(cap, size) for _ in range(args.rounds))
    best = min(t for t, _ in runs)
    print(json.dumps({"image_grid_s": round(best, 3), "subplots_loop_s": round(base, 3),
                      "ratio": round(best / base, 3), "figure_inches": [round(v, 1) for v in size]}))


if __name__ == "__main__":
    main()
