"""save_figure and paper_theme: formats, fonts, rasterized heatmaps, metadata, widths, rcParams."""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.figure import Figure

import attnviz
from attnviz.plot import head_grid, paper_theme, save_figure, token_heatmap


@pytest.fixture
def grid(bert_capture):
    return head_grid(bert_capture)


def test_public_names_on_the_package():
    assert attnviz.save_figure is save_figure and attnviz.paper_theme is paper_theme


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG\r\n\x1a\n"), (".pdf", b"%PDF-"), (".svg", b"<?xml")])
def test_formats_by_extension(tmp_path, grid, suffix, magic):
    path = save_figure(grid, tmp_path / f"grid{suffix}", width="column", dpi=100)
    assert path.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [f"grid{suffix}"]  # no temporary file left


def test_pdf_embeds_truetype_fonts_and_keeps_text(tmp_path, grid, bert_capture):
    pypdf = pytest.importorskip("pypdf")
    path = save_figure(grid, tmp_path / "grid.pdf", width="page")
    reader = pypdf.PdfReader(path)
    fonts = list(reader.pages[0]["/Resources"]["/Font"].values())
    assert fonts
    for font in fonts:
        font = font.get_object()
        descendant = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
        assert "/FontFile2" in descendant["/FontDescriptor"].get_object()  # embedded TrueType
    assert "layer 1" in reader.pages[0].extract_text()  # text stayed text
    meta = reader.metadata
    assert bert_capture.model_name in meta["/Keywords"] and meta["/Subject"] == bert_capture[0].text


def test_pdf_is_small_because_heatmaps_are_images(tmp_path):
    n = 96
    rng = np.random.default_rng(0)
    att = rng.dirichlet(np.ones(n), size=(6, 12, n)).astype("float32")
    cap = attnviz.Capture([attnviz.Example(tokens=[f"t{i}" for i in range(n)], attentions=att)],
                          layers=list(range(6)), heads=list(range(12)))
    path = head_grid(cap).savefig(tmp_path / "big.pdf", width="page")
    data = path.read_bytes()
    assert len(data) < 3_000_000
    assert data.count(b"/Subtype /Image") >= 1  # the grid is one image, not a path per cell
    assert data.count(b" re") < 1000  # no rectangle per value


def test_svg_keeps_text_as_text_and_has_metadata(tmp_path, bert_capture):
    ax = token_heatmap(bert_capture, layer=1, head=2)
    text = save_figure(ax, tmp_path / "h.svg", metadata={"Creator": "me", "run": "7"}).read_text()
    assert "<text" in text and "[CLS]" in text
    assert "<image" in text  # the heatmap is a raster image
    assert bert_capture[0].text in text and "run=7" in text and "<dc:creator>" in text.replace("\n", "")


def test_png_text_chunks(tmp_path, bert_capture):
    from PIL import Image

    path = save_figure(token_heatmap(bert_capture).figure, tmp_path / "h.png", dpi=60)
    info = Image.open(path).text
    assert info["Description"] == bert_capture[0].text and info["Source"] == bert_capture.model_name


def test_width_presets_set_the_file_size_and_restore_the_figure(tmp_path, grid):
    size = grid.figure.get_size_inches().tolist()
    from PIL import Image

    for width, inches in (("column", 3.3), ("page", 6.9), (2.0, 2.0)):
        path = save_figure(grid, tmp_path / "w.png", width=width, dpi=100)
        assert Image.open(path).size[0] == pytest.approx(inches * 100, abs=1)
    path = save_figure(grid, tmp_path / "h.png", width=3.0, height=2.0, dpi=100)
    assert Image.open(path).size == (300, 200)
    assert grid.figure.get_size_inches().tolist() == size


@pytest.mark.parametrize("kwargs, message", [
    (dict(path="x.gif"), "use .png, .pdf or .svg"),
    (dict(path="x", width="a4"), ".png"),
    (dict(width="a4"), "width='a4'"),
    (dict(width=-1), "inches"),
    (dict(dpi=0), "dpi"),
    (dict(height=0), "height"),
])
def test_bad_arguments(tmp_path, grid, kwargs, message):
    path = tmp_path / kwargs.pop("path", "ok.png")
    with pytest.raises(ValueError, match=re.escape(message)):
        save_figure(grid, path, **kwargs)
    assert not path.exists()


def test_not_a_figure():
    with pytest.raises(TypeError, match="matplotlib Figure"):
        save_figure(np.zeros(3), "x.png")


def test_missing_folder_is_a_clear_error(tmp_path, grid):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_figure(grid, tmp_path / "nope" / "g.png")


def test_rcparams_unchanged_by_theme_and_export(tmp_path, grid):
    before = dict(mpl.rcParams)
    with paper_theme():
        assert mpl.rcParams["font.size"] == 7 and mpl.rcParams["pdf.fonttype"] == 42
        save_figure(grid, tmp_path / "t.pdf")
    save_figure(grid, tmp_path / "t.svg")
    assert dict(mpl.rcParams) == before


def test_plain_matplotlib_figure(tmp_path):
    fig = Figure(figsize=(4, 3))
    fig.add_subplot().plot([0, 1])
    data = save_figure(fig, tmp_path / "f.pdf", width="column").read_bytes()
    assert data.startswith(b"%PDF-") and b"attnviz" in data  # the Creator field


def test_an_unknown_format_is_refused():
    from attnviz.plot import export

    with pytest.raises(ValueError, match="not supported"):
        export.file_format(Path("figure.jpg"))


def test_format_ranges_is_public():
    from attnviz.capture import format_ranges

    assert format_ranges([7, 0, 1, 2, 5]) == "0-2, 5, 7"
