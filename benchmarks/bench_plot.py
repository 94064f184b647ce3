"""Speed and size of the static figures, as ratios measured in one run.

(a) The "tutorial loop" (``plt.subplots(L, H)``, ``imshow`` per Axes with per-Axes
    token tick labels, saved as PNG) against ``head_grid(...).savefig`` on the same
    12 x 12 grid of 10 tokens (a synthetic Capture). Goal: head_grid >= 20x faster.
    Also the floor: the same pixels as ONE ``imshow`` (the whole mosaic) plus ``savefig`` at
    the same figure size and dpi; goal: head_grid within 3x of it.
(b) 6 x 12 heads of the real all-MiniLM-L6-v2 on a ~128-token text: head_grid to PNG
    and to PDF (goals: PNG < 1.5 s, PDF < 3 s and < 3 MB).

Run:  python benchmarks/bench_plot.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402

import attnviz  # noqa: E402
from attnviz.capture import Capture, Example  # noqa: E402

TEXT = ("Attention maps show which tokens each head looks at when the model builds a representation "
        "of a sentence. In the first layers many heads attend to the previous or the next token, while "
        "later layers spread their attention over the whole input or collapse onto the separator token, "
        "which acts as a sink when a head has nothing useful to do. Researchers plot every layer and "
        "every head as a grid to spot such patterns quickly, and they want the figures to be fast. A "
        "figure for a paper must also be small, sharp and readable at the width of one column, "
        "and it should open quickly.")


def synthetic_capture(layers: int, heads: int, tokens: int, seed: int = 0) -> Capture:
    """A Capture with random row-stochastic attention maps."""
    rng = np.random.default_rng(seed)
    att = rng.dirichlet(np.ones(tokens), size=(layers, heads, tokens)).astype(np.float32)
    words = [f"token{i}" for i in range(tokens)]
    return Capture([Example(tokens=words, attentions=att, text=" ".join(words))], model_name="synthetic",
                   num_layers=layers, num_heads=heads, layers=list(range(layers)), heads=list(range(heads)))


def tutorial_loop(cap: Capture, path: Path) -> None:
    """What the tutorials do: one Axes per head, token labels on every Axes."""
    import matplotlib.pyplot as plt

    ex = cap[0]
    n_layers, n_heads, n, _ = ex.attentions.shape
    fig, axes = plt.subplots(n_layers, n_heads, figsize=(2 * n_heads, 2 * n_layers))
    for i in range(n_layers):
        for j in range(n_heads):
            ax = axes[i, j]
            ax.imshow(ex.attentions[i, j], cmap="viridis")
            ax.set_xticks(range(n), ex.tokens, rotation=90)
            ax.set_yticks(range(n), ex.tokens)
    fig.savefig(path, format="png")
    plt.close(fig)


def timed(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def timed_pair(first, second, repeat: int) -> tuple[float, float]:
    """Best times of two functions run alternately, so both see the same load of the machine."""
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for i, fn in enumerate((first, second)):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best[0], best[1]


def bench_tutorial(tmp: Path, repeat: int) -> None:
    cap = synthetic_capture(12, 12, 10)
    loop = timed(lambda: tutorial_loop(cap, tmp / "loop.png"), repeat)
    size = tuple(float(v) for v in attnviz.plot.head_grid(cap).figure.get_size_inches())
    # the ratio to the floor is measured interleaved (and with more runs: each takes ~0.1 s)
    grid, floor = timed_pair(lambda: attnviz.plot.head_grid(cap).savefig(tmp / "grid.png", dpi=100),
                             lambda: floor_mosaic(cap, tmp / "floor.png", size, 100), max(repeat, 10))
    from attnviz.plot.export import PNG_COMPRESS_LEVEL

    pil = {"compress_level": PNG_COMPRESS_LEVEL}  # the floor with the zlib level save_figure uses
    grid2, floor2 = timed_pair(lambda: attnviz.plot.head_grid(cap).savefig(tmp / "grid.png", dpi=100),
                               lambda: floor_mosaic(cap, tmp / "floor.png", size, 100, pil_kwargs=pil),
                               max(repeat, 10))
    with_axes = timed(lambda: _grid_with_axes(cap, tmp / "grid_axes.png"), repeat)
    print(f"(a) 12 x 12 heads, 10 tokens, PNG (best of {repeat}; grid and floor interleaved, "
          f"best of {max(repeat, 10)})")
    print(f"    tutorial loop (subplots + imshow + tick labels per Axes): {loop:7.3f} s")
    print(f"    head_grid(...).savefig:                                  {grid:7.3f} s")
    print(f"    speed-up: {loop / grid:5.1f}x   (goal >= 20x)")
    print(f"    floor (one imshow of the mosaic + savefig, same size/dpi): {floor:7.3f} s; "
          f"head_grid / floor = {grid / floor:.2f}x (goal <= 3x)")
    print(f"    floor at save_figure's PNG compress level {PNG_COMPRESS_LEVEL}:               {floor2:7.3f} s; "
          f"head_grid / floor = {grid2 / floor2:.2f}x")
    print(f"    head_grid with the 144 per-cell Axes made (grid.axes):    {with_axes:7.3f} s "
          f"({loop / with_axes:.1f}x)")


def floor_mosaic(cap: Capture, path: Path, size: tuple[float, float], dpi: float, gap: int = 1,
                 **savefig: object) -> None:
    """The floor of a grid: every map in one mosaic, one imshow, saved at the grid's size and dpi."""
    from matplotlib.figure import Figure

    maps = cap[0].attentions
    n_layers, n_heads, n, _ = maps.shape
    mosaic = np.full((n_layers * (n + gap) - gap, n_heads * (n + gap) - gap), np.nan, np.float32)
    for i in range(n_layers):
        for j in range(n_heads):
            mosaic[i * (n + gap):i * (n + gap) + n, j * (n + gap):j * (n + gap) + n] = maps[i, j]
    fig = Figure(figsize=size)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.imshow(mosaic, cmap="viridis", interpolation="nearest", aspect="auto")
    fig.savefig(path, format="png", dpi=dpi, **savefig)


def _grid_with_axes(cap: Capture, path: Path) -> None:
    grid = attnviz.plot.head_grid(cap)
    _ = grid.axes
    grid.savefig(path, dpi=100)


def bench_minilm(tmp: Path, repeat: int) -> None:
    from attnviz.modeling import default_model_path, load_model

    model, tok = load_model(default_model_path())
    cap = attnviz.extract(model, [TEXT], max_length=128, tokenizer=tok)
    n = cap[0].num_tokens
    png = timed(lambda: attnviz.plot.head_grid(cap).savefig(tmp / "minilm.png", width="page", dpi=300), repeat)
    pdf = timed(lambda: attnviz.plot.head_grid(cap).savefig(tmp / "minilm.pdf", width="page"), repeat)
    size = (tmp / "minilm.pdf").stat().st_size / 1e6
    print(f"(b) all-MiniLM-L6-v2, 6 x 12 heads, {n} tokens, page width (best of {repeat})")
    print(f"    PNG at 300 dpi: {png:6.3f} s  (goal < 1.5 s)  {(tmp / 'minilm.png').stat().st_size / 1e6:.2f} MB")
    print(f"    PDF:            {pdf:6.3f} s  (goal < 3 s)    {size:.2f} MB (goal < 3 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    parser.add_argument("--skip-minilm", action="store_true", help="only the synthetic comparison")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        attnviz.plot.head_grid(synthetic_capture(2, 2, 4)).savefig(tmp / "warm.png")  # imports, font cache
        bench_tutorial(tmp, args.repeat)
        if not args.skip_minilm:
            bench_minilm(tmp, args.repeat)


if __name__ == "__main__":
    main()
