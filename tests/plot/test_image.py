"""Attention over the image: the drawn arrays equal the query's map over the patches."""
from __future__ import annotations

import numpy as np
import pytest

import attnviz
from attnviz.capture import Capture, Example
from attnviz.metrics import Rollout, rollout
from attnviz.plot.image import image_attention, image_grid, image_rollout, image_words, patch_map
from attnviz.testing import tiny_model

RNG = np.random.default_rng(0)
IMAGES = [RNG.integers(0, 256, (40, 50, 3), dtype=np.uint8), RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)]


@pytest.fixture(scope="module")
def deit_capture():
    model, processor = tiny_model("deit")
    return attnviz.extract(model, IMAGES, processor=processor)


def expected(ex, layer, head, position):
    return ex.attentions[layer, head, position][ex.patch_positions].reshape(ex.patch_grid)


def test_overlay_is_the_query_map_over_the_image(deit_capture):
    ex = deit_capture[1]
    ax = image_attention(deit_capture, example=1, layer=1, head=2)
    picture, overlay = ax.images
    np.testing.assert_array_equal(picture.get_array(), ex.image)
    np.testing.assert_allclose(overlay.get_array(), expected(ex, 1, 2, 0))
    assert list(overlay.get_extent()) == list(picture.get_extent()) == [0, 32, 32, 0]
    assert overlay.get_interpolation() == "nearest" and overlay.get_alpha() == 0.6
    assert ax.get_title() == "layer 1, head 2: attention of [CLS]"
    assert len(ax.figure.axes) == 2  # the colour bar
    assert overlay.norm.vmin == 0 and overlay.norm.vmax == pytest.approx(expected(ex, 1, 2, 0).max())


def test_queries_by_patch_index_and_head_reduction(deit_capture):
    ex = deit_capture[0]
    ax = image_attention(deit_capture, layer=0, head=3, query=(2, 1), alpha=0.3, cmap="magma", cbar=False)
    position = ex.patch_positions[2 * 4 + 1]
    np.testing.assert_allclose(ax.images[-1].get_array(), expected(ex, 0, 3, position))
    assert len(ax.patches) == 1 and ax.patches[0].get_xy() == (8.0, 16.0)  # the query patch, outlined
    assert ax.images[-1].cmap.name == "magma" and len(ax.figure.axes) == 1
    ax = image_attention(deit_capture, layer=0, head="mean", query=1)  # [DIST] by its index
    np.testing.assert_allclose(ax.images[-1].get_array(),
                               patch_map(ex.attentions[0, :, 1].mean(0), ex.patch_grid, ex.patch_positions),
                               rtol=1e-6)
    assert "[DIST]" in ax.get_title() and not ax.patches


def test_bad_queries_and_captures_say_how_to_fix_them(deit_capture, bert_capture):
    with pytest.raises(ValueError, match="no image patches"):
        image_attention(bert_capture, layer=0, head=0)
    with pytest.raises(ValueError, match="outside the 4 x 4 patch grid"):
        image_attention(deit_capture, layer=0, head=0, query=(4, 0))
    with pytest.raises(ValueError, match="'cls', a token index"):
        image_attention(deit_capture, layer=0, head=0, query="dist")
    with pytest.raises(ValueError, match="opacity"):
        image_attention(deit_capture, layer=0, head=0, alpha=2)
    model, processor = tiny_model("siglip_vision_model")
    siglip = attnviz.extract(model, IMAGES[:1], processor=processor, layers=[0])
    with pytest.raises(ValueError, match="no \\[CLS\\] token"):
        image_attention(siglip, layer=0, head=0)
    some = attnviz.extract(*tiny_model("deit")[:1], IMAGES[:1], processor=tiny_model("deit")[1], queries=[0, 5])
    ax = image_attention(some, layer=1, head=0, query=5)
    np.testing.assert_allclose(ax.images[-1].get_array(), patch_map(some[0].attentions[1, 0, 1], (4, 4),
                                                                    some[0].patch_positions))
    with pytest.raises(ValueError, match="queries="):
        image_attention(some, layer=1, head=0, query=(0, 0))


def test_grid_draws_every_cell_in_one_overlay(deit_capture):
    ex = deit_capture[0]
    grid = image_grid(deit_capture, heads=[1, 3], query=(0, 0), title="random weights")
    assert grid.maps.shape == (2, 2, 4, 4) and grid.layers == [0, 1] and grid.heads == [1, 3]
    mosaic = np.asarray(grid.overlay.get_array().filled(np.nan))
    for i, layer in enumerate(grid.layers):
        for j, head in enumerate(grid.heads):
            cell = mosaic[i * 5:i * 5 + 4, j * 5:j * 5 + 4]
            np.testing.assert_allclose(cell, expected(ex, layer, head, ex.patch_positions[0]))
            np.testing.assert_allclose(grid.matrix(layer, head), cell)
    assert np.isnan(mosaic[4]).all() and np.isnan(mosaic[:, 4]).all()  # one-patch gaps
    assert list(grid.picture.get_extent()) == list(grid.overlay.get_extent())
    assert [t.get_text() for t in grid.ax.get_yticklabels()] == ["layer 0", "layer 1"]
    assert [t.get_text() for t in grid.ax.get_xticklabels()] == ["head 1", "head 3"]
    assert grid.axes == [grid.ax] and grid.figure._suptitle.get_text() == "random weights"
    assert grid._repr_png_()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="not in this grid"):
        grid.matrix(0, 0)


def test_rollout_over_the_image(deit_capture, tmp_path):
    ex = deit_capture[0]
    r = rollout(deit_capture, head_fusion="max", discard_ratio=0.5)
    assert r.patch_grid == (4, 4) and r.image is ex.image
    ax = r.plot()
    np.testing.assert_allclose(ax.images[-1].get_array(), r.matrix[0][ex.patch_positions].reshape(4, 4))
    np.testing.assert_allclose(r.image_map("cls"), ax.images[-1].get_array())
    assert "max of heads, discard 0.5" in ax.get_title()
    ax = image_rollout(r, query=(3, 3))
    np.testing.assert_allclose(ax.images[-1].get_array(), r.image_map((3, 3)))
    back = Rollout.load(r.save(tmp_path / "r.json"))
    assert back == r and Rollout.from_dict(r.to_dict()) == r and back != rollout(deit_capture)
    np.testing.assert_array_equal(back.image, r.image)
    assert back.patch_grid == r.patch_grid and back.discard_ratio == 0.5 and back.image.dtype == np.uint8
    np.testing.assert_array_equal(back.patch_positions, r.patch_positions)
    with pytest.raises(ValueError, match="not of an image example"):
        image_rollout(Rollout(np.eye(2), ["a", "b"], layers=[0]))


def _vlm_capture():
    """A hand-built vision-language example: <s>, 4 image tokens (2 x 2), then 'a kitten sat'."""
    rng = np.random.default_rng(1)
    att = rng.random((1, 2, 8, 8))
    att /= att.sum(-1, keepdims=True)
    tokens = ["<s>", "<image>", "<image>", "<image>", "<image>", "a", "kit", "##ten"]
    ex = Example(tokens=tokens, attentions=att, special_mask=[True] + [False] * 7, modality="image+text",
                 patch_grid=(2, 2), patch_positions=np.arange(1, 5), image=np.zeros((16, 16, 3), np.uint8),
                 word_ids=[None, None, None, None, None, 0, 1, 1])
    return Capture([ex], layers=[3], heads=[0, 1], num_layers=4, num_heads=2)


def test_words_over_the_image():
    cap = _vlm_capture()
    att = cap[0].attentions
    fig = image_words(cap, layer=3, head=1, title="random weights")
    assert fig.words == ["a", "kitten"] and fig.positions == [[5], [6, 7]] and len(fig.axes) == 2
    np.testing.assert_allclose(fig.axes[0].images[-1].get_array(), att[0, 1, 5, 1:5].reshape(2, 2))
    np.testing.assert_allclose(fig.axes[1].images[-1].get_array(), att[0, 1, 6:8, 1:5].mean(0).reshape(2, 2))
    assert [ax.get_title() for ax in fig.axes] == ["a", "kitten"]
    tokens = image_words(cap, layer=3, words=False)
    assert tokens.words == ["a", "kit", "##ten"]
    np.testing.assert_allclose(tokens.maps[2], att[0, :, 7, 1:5].mean(0).reshape(2, 2))
    assert tokens.axes[0].images[-1].norm is tokens.axes[2].images[-1].norm or \
        tokens.axes[0].images[-1].norm.vmax == tokens.axes[2].images[-1].norm.vmax
    with pytest.raises(ValueError, match="no text token"):
        image_words(attnviz.extract(*tiny_model("vit")[:1], IMAGES[:1], processor=tiny_model("vit")[1]), layer=0)


def test_words_of_a_tiny_llava_over_its_image():
    from attnviz.plot.image import word_groups

    model, processor = tiny_model("llava")
    cap = attnviz.extract(model, ["what is in the picture?"], images=IMAGES[:1], processor=processor)
    ex = cap[0]
    fig = image_words(cap, layer=1, head=2, title="random weights")
    assert fig.words == ["what", "is", "in", "the", "picture", "?"]  # the newline after the image left out
    picture = fig.positions[4]
    assert [ex.tokens[p] for p in picture] == ["Ġp", "i", "ct", "u", "re"]
    rows = ex.attentions[1, 2][picture][:, ex.patch_positions].mean(0).reshape(ex.patch_grid)
    np.testing.assert_allclose(fig.axes[4].images[-1].get_array(), rows, rtol=1e-6)
    assert word_groups(["Ġa", "Ġb", "c"], [0, 2]) == [[0], [1]]  # not neighbours: two words
