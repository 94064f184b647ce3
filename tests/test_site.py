"""The documentation site (MkDocs + Material + mkdocstrings): it builds offline with warnings as errors, and in
headless Chromium with the network closed every page loads, the live views render and answer a click, and no
request leaves the machine. Screenshots go to /tmp/docs_shots/ for a person to look at."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path("/tmp/docs_shots")
#: What to click in each live view (an element that changes what the view draws).
CLICKS = {"head": ".av-head-btn >> nth=1", "model": 'canvas.av-thumb[data-layer="1"][data-head="2"]',
          "explorer": 'canvas.av-thumb[data-layer="1"][data-head="2"]', "neuron": ".av-tok >> nth=3"}
#: Before the click: the explorer opens on one head; its grid of every layer x head has the thumbnails.
BEFORE = {"explorer": ("select[name=view]", "grid")}
SNAPSHOT = """() => [Array.from(document.querySelectorAll('.attnviz-view')).map(v =>
    Array.from(v.attributes).map(a => a.name + '=' + a.value).join(',')).join(';'),
    Array.from(document.querySelectorAll('canvas')).map(c => c.toDataURL()).join('|'),
    document.body.innerHTML].join('#')"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built once: `mkdocs build --strict` into a temporary folder (what `make docs` runs)."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    out = tmp_path_factory.mktemp("site") / "site"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MPLBACKEND": "Agg",
           "NO_MKDOCS_2_WARNING": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return out


def test_the_site_builds_strict_with_every_part(site):
    import attnviz

    pages = {p.relative_to(site).as_posix() for p in site.rglob("*.html")}
    assert {"index.html", "views.html", "gallery.html", "api/index.html"} <= pages
    assert {f"live/{v}.html" for v in CLICKS} <= pages
    assert len([p for p in pages if p.startswith("guides/")]) >= 8
    gallery = (site / "gallery.html").read_text(encoding="utf-8")
    assert gallery.count("<img") >= 15 and gallery.count("<details") >= 8  # each figure, and the code that draws it
    assert "<code>grid</code> in gallery/make_gallery.py" in gallery
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in attnviz.__all__:
        obj = getattr(attnviz, name)
        if callable(obj) and not isinstance(obj, type(attnviz)) and getattr(obj, "__module__", "").startswith("attnviz"):
            assert f"attnviz.{name}</code>" in api, f"attnviz.{name} is missing from the API reference"
    assert 'id="attnviz.capture.Capture"' in (site / "api" / "capture.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (make browser)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu",
                                                              "--disable-background-networking"])
        yield b
        b.close()


@pytest.mark.browser
def test_every_page_loads_offline_and_the_live_views_answer_clicks(site, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    left: list[str] = []
    errors: list[str] = []

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:  # the network is closed: count what tried to leave
            left.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    pages = sorted(p for p in site.rglob("*.html") if p.parent.name != "live" and p.name != "404.html")
    for path in pages:
        response = page.goto(path.as_uri(), wait_until="load")
        assert response is None or response.ok, path
        assert page.locator("article").count() == 1, f"{path} has no content"
    page.goto((site / "views.html").as_uri(), wait_until="load")
    frames = {}
    for name in CLICKS:
        handle = page.locator(f'iframe[data-view="{name}"]').element_handle()
        frame = handle.content_frame()
        frame.wait_for_selector("[data-attnviz-rendered]", state="attached", timeout=20_000)
        frames[name] = frame
    for name, frame in frames.items():
        if name in BEFORE:
            frame.select_option(*BEFORE[name])
        before = frame.evaluate(SNAPSHOT)
        frame.click(CLICKS[name])
        assert frame.evaluate(SNAPSHOT) != before, f"the {name} view did not answer a click"
    SHOTS.mkdir(parents=True, exist_ok=True)
    for shot in ("index", "views", "gallery", "api/capture", "guides/captures"):
        page.goto((site / f"{shot}.html").as_uri(), wait_until="load")
        page.screenshot(path=str(SHOTS / f"{shot.replace('/', '_')}.png"), full_page=shot != "views")
    context.close()
    assert left == [], f"requests tried to leave the machine: {left[:5]}"
    assert errors == [], errors[:5]
