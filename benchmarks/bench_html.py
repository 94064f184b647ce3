"""Size and browser load time of attnviz's HTML views, against bertviz for the same attention.

Run:  .venv/bin/python benchmarks/bench_html.py [--no-browser]

1. MiniLM (6 layers x 12 heads) at 128 tokens: bertviz ``model_view(..., html_action="return")``
   and ``head_view`` pages against ours; prints the size ratios.
2. A 12 layers x 12 heads x 512 tokens model view: the real MiniLM's 6 layers at 512
   tokens, stacked twice to make 12 (real attention patterns), and a random 12-layer
   BERT (near-uniform attention: the worst case for compression). Prints the page sizes
   and, in headless Chromium with the network blocked, the time until the view says it
   rendered (``data-attnviz-rendered``), also as a ratio to a blank page's load time.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
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


def browser_load(paths: list[Path]) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    times = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
        for path in paths:
            page = context.new_page()
            start = time.perf_counter()
            page.goto(path.as_uri(), timeout=120_000)
            if path.name != "blank.html":
                page.wait_for_selector("[data-attnviz-rendered]", state="attached", timeout=120_000)
            times[path.name] = time.perf_counter() - start
            page.close()
        browser.close()
    return times


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--no-browser", action="store_true", help="skip the load-time measurement")
    opts = args.parse_args(argv)
    warnings.simplefilter("ignore", ResourceWarning)
    out = Path(tempfile.mkdtemp(prefix="attnviz-bench-"))

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
