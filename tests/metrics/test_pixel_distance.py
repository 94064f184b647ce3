"""Mean attention distance in pixels (Dosovitskiy et al. 2021, ViT figure 7) through head_stats."""
from __future__ import annotations

import numpy as np
import pytest

import attnviz
from attnviz.capture import Capture, Example
from attnviz.metrics import DEFAULT_METRICS, head_stats
from attnviz.plot.image import distance_by_layer
from attnviz.testing import tiny_model


def image_capture(att: np.ndarray, grid=(2, 2), specials=1, side=16) -> Capture:
    n = att.shape[-1]
    tokens = ["[CLS]"] * specials + [f"patch {i}" for i in range(n - specials)]
    ex = Example(tokens=tokens, attentions=att.astype(np.float32), special_mask=[True] * specials
                 + [False] * (n - specials), modality="image", patch_grid=grid,
                 patch_positions=np.arange(specials, n), image=np.zeros((side, side, 3), np.uint8))
    return Capture([ex], layers=list(range(att.shape[0])), heads=list(range(att.shape[1])),
                   num_layers=att.shape[0], num_heads=att.shape[1])


def loop_distance(ex: Example) -> np.ndarray:
    """The definition, query by query: patch keys renormalised, pixel distance of the patch centres."""
    rows, cols = ex.patch_grid
    ph, pw = ex.image.shape[0] / rows, ex.image.shape[1] / cols
    centre = {int(p): ((i // cols + 0.5) * ph, (i % cols + 0.5) * pw) for i, p in enumerate(ex.patch_positions)}
    out = np.zeros(ex.attentions.shape[:2])
    for layer in range(out.shape[0]):
        for head in range(out.shape[1]):
            per_query = []
            for q in centre:
                w = np.array([ex.attentions[layer, head, q, k] for k in centre], np.float64)
                d = np.array([np.hypot(centre[q][0] - centre[k][0], centre[q][1] - centre[k][1]) for k in centre])
                per_query.append((w * d).sum() / w.sum())
            out[layer, head] = np.mean(per_query)
    return out


def test_hand_computed_heads():
    uniform = np.full((5, 5), 0.2)
    own = np.eye(5)
    att = np.stack([uniform, own])[None]                 # layer 0: a uniform head and a self head
    stats = head_stats(image_capture(att), metrics=["pixel_distance"])
    # 2 x 2 patches of 8 px: each query sees distances 0, 8, 8, 8 sqrt 2 (the [CLS] weight renormalised away)
    np.testing.assert_allclose(stats.values["pixel_distance"][0], [(16 + 8 * np.sqrt(2)) / 4, 0.0], rtol=1e-6)


def test_agrees_with_the_loop_on_a_model_with_registers():
    model, processor = tiny_model("dinov2_with_registers")
    rng = np.random.default_rng(0)
    cap = attnviz.extract(model, [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(3)],
                          processor=processor)
    stats = head_stats(cap)
    assert "pixel_distance" in stats.values and "pixel_distance" not in DEFAULT_METRICS
    expected = np.mean([loop_distance(ex) for ex in cap], axis=0)
    np.testing.assert_allclose(stats.values["pixel_distance"], expected, rtol=1e-5)
    ax = distance_by_layer(stats)
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 1], expected.ravel(), rtol=1e-5)
    assert ax.get_ylabel() == "mean attention distance (pixels)" and ax.get_xticks().tolist() == [0, 1]


def test_text_captures_leave_it_out(bert_capture):
    assert "pixel_distance" not in head_stats(bert_capture).values
    stats = head_stats(bert_capture, metrics=["pixel_distance", "cls"])
    assert stats.counts["pixel_distance"] == 0 and np.isnan(stats.values["pixel_distance"]).all()
    assert stats.counts["cls"] == len(bert_capture)
    with pytest.raises(ValueError, match="head_stats\\(capture, metrics="):
        distance_by_layer(head_stats(bert_capture, metrics=["cls"]))


def test_stats_over_a_folder_of_images_has_the_pixel_distance(tmp_path, capsys):
    import csv

    from PIL import Image

    from attnviz.cli import main
    from attnviz.testing import save_tiny_model

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(photos / name)
    model = save_tiny_model("vit", tmp_path / "vit")
    assert main(["stats", "--model", str(model), "--images", str(photos), "--maps", "", "--out",
                 str(tmp_path / "s")]) == 0
    with open(tmp_path / "s" / "head_stats.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["metric"] == "pixel_distance"]
    assert len(rows) == 2 * 4 and all(4 < float(r["value"]) < 32 for r in rows)  # 8 px patches, 32 px images
