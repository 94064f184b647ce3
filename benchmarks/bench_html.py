"""Size and browser load time of attnviz's HTML views, against bertviz for the same attention.

Run:  .venv/bin/python benchmarks/bench_html.py [--no-browser]

1. MiniLM (6 layers x 12 heads) at 128 tokens: bertviz ``model_view(..., html_action="return")``
   and ``head_view`` pages against ours; prints the size ratios.
2. A 12 layers x 12 heads x 512 tokens model view: the real MiniLM's 6 layers at 512
   tokens, stacked twice to make 12 (real attention patterns), and a random 12-layer
   BERT (near-uniform attention: the worst case for compression). Prints the page sizes
   and, in headless Chromium with the network blocked, the time until the view says it
   rendered (``data-attnviz-rendered``), also as a ratio to a blank page's load time, and
   how long the page is blocked by a scale change and a thumbnail click (``--controls``).
3. Long inputs (``--long``): the goals of issue #24, on synthetic peaked attention with a
   sink on token 0 (no real model here reads 8,192 tokens): 8,192 tokens with every layer's
   last row (6 layers x 12 heads, ``queries=``-style rows) and 2,048 tokens with one layer's
   full maps (12 heads), in model_view and explorer_view: page size, first render and every
   control's blocking time in headless Chromium (goals: <= 5 MB, < 1 s, < 0.3 s).

Run the long-input part alone:  .venv/bin/python benchmarks/bench_html.py --long-only
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

import attnviz  # noqa: E402
from attnviz.capture import Capture, Example  # noqa: E402
from attnviz.notebook import head_view, model_view, to_bertviz  # noqa: E402
from attnviz.testing import CORPUS  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
LONG_TEXT = " ".join(CORPUS * 20)


def minilm_capture(tokens: int) -> Capture:
    from attnviz.modeling import default_model_path, load_model

    model, tok = load_model(default_model_path())
    return attnviz.extract(model, [LONG_TEXT], max_length=tokens, hidden_states=False, tokenizer=tok)


def stacked(cap: Capture, times: int) -> Capture:
    """The capture's layers repeated ``times`` times (12 layers from MiniLM's 6)."""
    ex = cap[0]
    big = np.concatenate([ex.attentions] * times)
    example = Example(tokens=ex.tokens, display_tokens=ex.display_tokens, special_mask=ex.special_mask,
                      attentions=big)
    return Capture([example], layers=list(range(big.shape[0])), heads=list(range(big.shape[1])),
                   num_layers=big.shape[0], num_heads=big.shape[1], model_name="MiniLM x2 (stacked)")


def random_bert(tokens: int) -> Capture:
    import torch
    import transformers as tf

    from attnviz.modeling import default_model_path, load_model

    _, tok = load_model(default_model_path())
    cfg = tf.BertConfig(vocab_size=tok.vocab_size, hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=768, max_position_embeddings=512)
    torch.manual_seed(0)
    model = tf.BertModel(cfg).eval()
    return attnviz.extract(model, [LONG_TEXT], max_length=tokens, hidden_states=False, tokenizer=tok)


def bertviz_pages(cap: Capture) -> dict[str, int]:
    import bertviz

    kwargs = to_bertviz(cap)
    out = {}
    for name, fn in (("model_view", bertviz.model_view), ("head_view", bertviz.head_view)):
        t = time.perf_counter()
        page = fn(**kwargs, html_action="return")
        out[name] = len(page.data.encode("utf-8"))
        out[name + "_s"] = time.perf_counter() - t
    return out


@contextmanager
def offline_browser() -> Iterator:
    """A headless Chromium context (1400 x 900) that loads file: URLs only."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
        yield context
        browser.close()


def browser_load(paths: list[Path]) -> dict[str, float]:
    times = {}
    with offline_browser() as context:
        for path in paths:
            page = context.new_page()
            start = time.perf_counter()
            page.goto(path.as_uri(), timeout=120_000)
            if path.name != "blank.html":
                page.wait_for_selector("[data-attnviz-rendered]", state="attached", timeout=120_000)
            times[path.name] = time.perf_counter() - start
            page.close()
    return times


# Each control: a JS expression run in the page that makes one change and returns the ms it blocked.
# (null where the page has no such control)
TIMED = "() => {{ try {{ const t = performance.now(); {body}; return performance.now() - t; }} catch (e) {{ return null; }} }}"
CONTROLS = {
    "scale -> linear": "const s = document.querySelector('select[name=scale]'); s.value = 'linear'; s.dispatchEvent(new Event('change'))",
    "scale -> map": "const s = document.querySelector('select[name=scale]'); s.value = 'map'; s.dispatchEvent(new Event('change'))",
    "thumbnail click": "const c = document.querySelectorAll('canvas.av-thumb'); c[c.length - 1].dispatchEvent(new MouseEvent('click'))",
    "overview click": "const c = document.querySelector('canvas.av-overview'); const r = c.getBoundingClientRect(); c.dispatchEvent(new MouseEvent('click', {clientX: r.left + r.width * 0.7, clientY: r.top + r.height * 0.6}))",
    "first key in scale": "const b = [...document.querySelectorAll('label')].find(l => l.textContent.includes('first key')).querySelector('input'); b.click()",
    "head -> mean": "const s = document.querySelector('select[name=head]'); s.value = 'mean'; s.dispatchEvent(new Event('change'))",
    "view -> grid": "const s = document.querySelector('select[name=view]'); s.value = 'grid'; s.dispatchEvent(new Event('change'))",
}


def control_times(paths: list[Path]) -> dict[str, dict[str, float]]:
    """Per page: seconds to first render, then the ms each applicable control blocks the page."""
    out: dict[str, dict[str, float]] = {}
    with offline_browser() as context:
        for path in paths:
            page = context.new_page()
            start = time.perf_counter()
            page.goto(path.as_uri(), timeout=120_000)
            page.wait_for_selector("[data-attnviz-rendered]", state="attached", timeout=120_000)
            row = {"render_s": time.perf_counter() - start}
            for name, body in CONTROLS.items():
                ms = page.evaluate(TIMED.format(body=body))
                if ms is not None:
                    row[name] = ms
            out[path.name] = row
            page.close()
    return out


def synthetic_long(n: int, layers: int, rows: list[int] | None, seed: int = 0) -> Capture:
    """Peaked random attention with a sink on token 0 (causal when every row is kept)."""
    rng = np.random.default_rng(seed)
    nq = n if rows is None else len(rows)
    a = rng.random((layers, 12, nq, n), dtype=np.float32) ** 8
    if rows is None:
        a = np.tril(a)
    a[..., 0] += a.sum(-1) * 0.2
    a /= a.sum(-1, keepdims=True)
    ex = Example(tokens=[f"t{i}" for i in range(n)], special_mask=[i == 0 for i in range(n)], attentions=a,
                 query_positions=rows)
    return Capture([ex], layers=list(range(layers)), heads=list(range(12)), num_layers=layers, num_heads=12,
                   model_name="synthetic")


def long_inputs(out: Path, browser: bool) -> None:
    from attnviz.notebook import explorer_view

    cases = {"last_rows_8192": synthetic_long(8192, 6, [8191]), "full_2048": synthetic_long(2048, 1, None)}
    paths = []
    for case, cap in cases.items():
        for fn in (model_view, explorer_view):
            t = time.perf_counter()
            view = fn(cap)
            build = time.perf_counter() - t
            entry = view.payload["kinds"][0] if "kinds" in view.payload else view.payload["examples"][0]["kinds"][0]
            path = view.save(out / f"long_{case}_{fn.__name__}.html")
            paths.append(path)
            print(f"{path.name}: {view.nbytes / 1e6:.2f} MB (goal <= 5 MB), built in {build:.2f} s, "
                  f"top-k per row: {entry.get('sparse') or 'all keys'}")
    if not browser:
        return
    for name, row in control_times(paths).items():
        controls = ", ".join(f"{k} {v:.0f} ms" for k, v in row.items() if k != "render_s")
        print(f"  {name}: first render {row['render_s']:.2f} s (goal < 1 s); {controls} (goal < 300 ms each)")


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--no-browser", action="store_true", help="skip the load-time measurement")
    args.add_argument("--long-only", action="store_true", help="only the long-input goals")
    opts = args.parse_args(argv)
    warnings.simplefilter("ignore", ResourceWarning)
    out = Path(tempfile.mkdtemp(prefix="attnviz-bench-"))
    browser = not opts.no_browser and Path(CHROMIUM).exists()
    if opts.long_only:
        long_inputs(out, browser)
        return 0

    cap128 = minilm_capture(128)
    n = cap128[0].num_tokens
    theirs = bertviz_pages(cap128)
    t = time.perf_counter()
    ours_model = model_view(cap128)
    ours_model_s = time.perf_counter() - t
    ours_head = head_view(cap128)
    print(f"MiniLM, {cap128.num_layers} layers x {cap128.num_heads} heads x {n} tokens")
    for name, ours, _secs in (("model_view", ours_model, ours_model_s), ("head_view", ours_head, None)):
        ratio = theirs[name] / ours.nbytes
        print(f"  {name:10s}: bertviz {theirs[name] / 1e6:7.2f} MB, attnviz {ours.nbytes / 1e6:6.3f} MB "
              f"-> attnviz is 1/{ratio:.0f} of bertviz")
    print(f"  build time (model_view): bertviz {theirs['model_view_s']:.2f} s, attnviz {ours_model_s:.2f} s "
          f"(ratio {theirs['model_view_s'] / ours_model_s:.1f}x)")

    cap512 = minilm_capture(512)
    big = {"minilm_x2_512.html": stacked(cap512, 2), "random_bert12_512.html": random_bert(512)}
    paths = [out / "blank.html"]
    paths[0].write_text("<!DOCTYPE html><html><body>blank</body></html>")
    for name, cap in big.items():
        shape = cap[0].attentions.shape
        t = time.perf_counter()
        view = model_view(cap)
        build = time.perf_counter() - t
        estimate = attnviz.notebook.payload.estimate_page_bytes(
            attnviz.notebook.payload.select_kinds(cap))
        view.save(out / name)
        paths.append(out / name)
        head_view(cap).save(out / name.replace(".html", "_head.html"))
        paths.append(out / name.replace(".html", "_head.html"))
        print(f"{name}: {shape[0]} x {shape[1]} heads x {shape[2]} tokens: model view {view.nbytes / 1e6:.1f} MB "
              f"(estimate {estimate / 1e6:.1f} MB), built in {build:.2f} s; uint8 raw would be "
              f"{np.prod(shape) * 4 / 3 / 1e6:.1f} MB in base64")
    if opts.no_browser or not Path(CHROMIUM).exists():
        print("browser: skipped" + ("" if opts.no_browser else f" ({CHROMIUM} is missing)"))
        return 0
    times = browser_load(paths)
    blank = times.pop("blank.html")
    for name, secs in times.items():
        print(f"browser load until rendered, {name}: {secs:.2f} s ({secs / blank:.0f}x a blank page's {blank:.3f} s)")
    for name, row in control_times([p for p in paths[1:] if "_head" not in p.name]).items():
        print(f"  {name}: " + ", ".join(f"{k} {v:.0f} ms" for k, v in row.items() if k != "render_s"))
    long_inputs(out, True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
