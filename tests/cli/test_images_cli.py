"""--image / --images on report, plot, html and stats (attnviz.cli.common.add_input_args)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

import attnviz
from attnviz.cli import main
from attnviz.testing import save_tiny_model


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    photos = root / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for name in ("b.png", "a.jpg", "c.png"):
        Image.fromarray(rng.integers(0, 256, (40, 36, 3), dtype=np.uint8)).save(photos / name)
    (photos / "notes.txt").write_text("not an image")
    return {"vit": save_tiny_model("vit", root / "vit"), "llava": save_tiny_model("llava", root / "llava"),
            "bert": save_tiny_model("bert", root / "bert"), "photos": photos}


def test_report_of_images_from_flags_and_a_folder(folders, tmp_path, capsys):
    photos = folders["photos"]
    target = tmp_path / "r.json"
    assert main(["report", "--model", str(folders["vit"]), "--image", str(photos / "c.png"), "--images", str(photos),
                 "--format", "json", "--out", str(target)]) == 0
    rows = json.loads(target.read_text())["rows"]
    assert rows[0]["shape"][0] == 4  # one --image and the folder's three images (not notes.txt)
    assert 17 in rows[0]["shape"]  # [CLS] + 4 x 4 patches


def test_save_capture_keeps_the_images_in_name_order(folders, tmp_path, capsys):
    assert main(["report", "--model", str(folders["vit"]), "--images", str(folders["photos"]),
                 "--save-capture", str(tmp_path / "cap"), "--layers", "1"]) == 0
    cap = attnviz.load(tmp_path / "cap")
    assert [ex.text.rsplit("/", 1)[-1] for ex in cap] == ["a.jpg", "b.png", "c.png"]
    assert cap.layers == [1] and cap[0].modality == "image" and cap[0].patch_grid == (4, 4)


def test_plot_and_html_of_an_image(folders, tmp_path, capsys):
    png = tmp_path / "grid.png"
    assert main(["plot", "--model", str(folders["vit"]), "--images", str(folders["photos"]), "--example", "2",
                 "--grid", "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    page = tmp_path / "v.html"
    assert main(["html", "--model", str(folders["vit"]), "--image", str(folders["photos"] / "a.jpg"),
                 "--out", str(page)]) == 0
    assert "patch 3,3" in page.read_text()


def test_stats_over_a_folder_of_images(folders, tmp_path, capsys):
    assert main(["stats", "--model", str(folders["vit"]), "--images", str(folders["photos"]), "--metrics",
                 "entropy,cls", "--maps", "", "--out", str(tmp_path / "s")]) == 0
    with open(tmp_path / "s" / "head_stats.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["metric"] == "entropy"]
    assert len(rows) == 2 * 4 and all(0 < float(r["value"]) <= np.log(17) + 1e-6 for r in rows)


def test_a_vision_language_model_takes_texts_with_images(folders, tmp_path, capsys):
    photos = folders["photos"]
    assert main(["report", "--model", str(folders["llava"]), "--text", "what is it", "--text", "a cat",
                 "--image", str(photos / "a.jpg"), "--image", str(photos / "b.png"), "--queries", "last",
                 "--save-capture", str(tmp_path / "vlm")]) == 0
    cap = attnviz.load(tmp_path / "vlm")
    assert [ex.modality for ex in cap] == ["image+text"] * 2 and cap[0].text.endswith("what is it")
    assert cap[0].attentions.shape[2] == 1


@pytest.mark.parametrize("argv,message", [
    (["report", "--image", "IMG"], "--image/--images need --model"),
    (["report", "--model", "BERT", "--image", "IMG"], "is a text model"),
    (["report", "--model", "VIT", "--images", "/no/such/dir"], "--images /no/such/dir is not a folder"),
    (["report", "--model", "VIT", "--image", "/no/such.png"], "--image /no/such.png: no such file"),
    (["plot", "--model", "VIT", "--image", "IMG", "--example", "3", "--out", "x.png"],
     "--example 3 is out of range: 1 image(s) given"),
    (["report", "--model", "LLAVA", "--text", "a", "--text", "b", "--image", "IMG"],
     "2 texts and 1 images: pass one image per text"),
])
def test_image_flag_errors_are_one_clear_line(argv, message, folders, capsys):
    names = {"IMG": str(folders["photos"] / "a.jpg"), "BERT": str(folders["bert"]), "VIT": str(folders["vit"]),
             "LLAVA": str(folders["llava"])}
    assert main([names.get(a, a) for a in argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[0] and "Traceback" not in "\n".join(err)
