"""Images in (attnviz.extraction.images): vision transformers' maps equal output_attentions=True."""
import numpy as np
import pytest
import torch

import attnviz
from attnviz.extraction.images import image_layout, load_images, looks_like_images, thumbnail
from attnviz.testing import VISION_KINDS, VLM_KINDS, save_tiny_model, tiny_model, tiny_processor

RNG = np.random.default_rng(0)
IMAGES = [RNG.integers(0, 256, (40, 50, 3), dtype=np.uint8), RNG.random((32, 32, 3)).astype("float32"),
          RNG.integers(0, 256, (64, 30, 3), dtype=np.uint8)]


def _reference(family, images, model=None):
    """Every layer's maps and hidden states of an eager forward with output_attentions=True."""
    model = model or tiny_model(family, attn_implementation="eager")[0]
    pixels = tiny_processor(family)(images=load_images(images), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model(pixel_values=pixels, output_attentions=True, output_hidden_states=True)
    return (np.stack([a.numpy() for a in out.attentions], 1), np.stack([h.numpy() for h in out.hidden_states], 1),
            pixels)


@pytest.mark.parametrize("family", VISION_KINDS)
def test_maps_equal_output_attentions(family):
    model, processor = tiny_model(family)
    cap = attnviz.extract(model, IMAGES, processor=processor, batch_size=2)
    att, hid, pixels = _reference(family, IMAGES)
    assert cap.attn_implementation == "attnviz" and len(cap) == len(IMAGES)
    for i, ex in enumerate(cap):
        np.testing.assert_allclose(ex.attentions, att[i], atol=1e-6)
        np.testing.assert_allclose(ex.hidden_states, hid[i], atol=1e-5)
        labels, special, grid, positions = image_layout(model.config, pixels.shape[2], pixels.shape[3])
        assert ex.modality == "image" and ex.tokens == labels and ex.special_mask == special
        assert ex.patch_grid == grid == (4, 4) and ex.patch_positions.tolist() == positions.tolist()
        assert ex.image.dtype == np.uint8 and ex.image.shape == (32, 32, 3)
        assert ex.attentions.shape[-1] == len(ex.tokens) == sum(special) + 16


def test_special_tokens_per_family():
    prefixes = {}
    for family in VISION_KINDS:
        cap = attnviz.extract(*tiny_model(family)[:1], IMAGES[:1], processor=tiny_processor(family), layers=[0])
        prefixes[family] = [t for t, s in zip(cap[0].tokens, cap[0].special_mask, strict=True) if s]
    assert prefixes == {"vit": ["[CLS]"], "deit": ["[CLS]", "[DIST]"], "dinov2": ["[CLS]"],
                        "dinov2_with_registers": ["[CLS]", "[REG0]", "[REG1]"], "clip_vision_model": ["[CLS]"],
                        "siglip_vision_model": []}


def test_layers_heads_and_queries_keep_their_slice():
    model, processor = tiny_model("deit")
    att, _, _ = _reference("deit", IMAGES[:2])
    cap = attnviz.extract(model, IMAGES[:2], processor=processor, layers=[1], heads=[0, 3], queries=[0, 5],
                          hidden_states=False)
    assert cap.layers == [1] and cap.heads == [0, 3]
    for i, ex in enumerate(cap):
        assert ex.query_positions == [0, 5] and ex.hidden_states is None
        np.testing.assert_allclose(ex.attentions, att[i][[1]][:, [0, 3]][:, :, [0, 5]], atol=1e-6)
    mean = attnviz.extract(model, IMAGES[:1], processor=processor, reduce_heads="mean", layers=[0])
    np.testing.assert_allclose(mean[0].attentions[0, 0], att[0][0].mean(0), atol=1e-6)


def test_a_query_map_over_the_image_is_the_patch_columns_in_row_major_order():
    model, processor = tiny_model("vit")
    ex = attnviz.extract(model, IMAGES[:1], processor=processor)[0]
    grid_map = ex.attentions[1, 2, 0][ex.patch_positions].reshape(ex.patch_grid)
    assert ex.tokens[ex.patch_positions[5]] == "patch 1,1"
    assert grid_map[1, 1] == ex.attentions[1, 2, 0, ex.patch_positions[5]]
    assert ex.tokens[ex.patch_positions[-1]] == "patch 3,3"


def test_the_image_is_what_the_model_saw():
    processor = tiny_processor("vit")
    flat = np.full((50, 70, 3), 77, np.uint8)
    ex = attnviz.extract(tiny_model("vit")[0], [flat], processor=processor)[0]
    assert ex.image.shape == (32, 32, 3) and np.abs(ex.image.astype(int) - 77).max() <= 1
    big = thumbnail(torch.zeros(3, 448, 300), processor)
    assert big.shape == (224, 150, 3) and big.dtype == np.uint8


def test_paths_pil_images_and_float_arrays(tmp_path):
    from PIL import Image

    model, processor = tiny_model("vit")
    path = tmp_path / "a.png"
    Image.fromarray(IMAGES[0]).save(path)
    by_path = attnviz.extract(model, [str(path), path], processor=processor)
    by_pil = attnviz.extract(model, Image.fromarray(IMAGES[0]), processor=processor)
    np.testing.assert_array_equal(by_path[0].attentions, by_pil[0].attentions)
    np.testing.assert_array_equal(by_path[1].attentions, by_pil[0].attentions)
    assert by_path[0].text == str(path) and by_pil[0].text is None
    floats = attnviz.extract(model, [IMAGES[0] / 255.0], processor=processor)
    np.testing.assert_allclose(floats[0].attentions, by_pil[0].attentions, atol=1e-6)


def test_a_model_folder_with_its_processor(tmp_path):
    model, processor = tiny_model("vit")
    new = attnviz.extract(model, IMAGES[:1], processor=processor)
    folder = save_tiny_model("vit", tmp_path / "vit")
    from_folder = attnviz.extract(str(folder), IMAGES[:1])
    np.testing.assert_allclose(from_folder[0].attentions, new[0].attentions, atol=1e-6)


def test_a_whole_clip_model_runs_its_image_tower():
    import transformers as tf

    vision = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, image_size=32,
                  patch_size=8)
    cfg = tf.CLIPConfig(vision_config=vision, text_config=dict(hidden_size=32, num_hidden_layers=3,
                                                               num_attention_heads=4, intermediate_size=64))
    torch.manual_seed(0)
    clip = tf.CLIPModel(cfg).eval()
    processor = tiny_processor("clip_vision_model")
    cap = attnviz.extract(clip, IMAGES[:1], processor=processor)
    pixels = processor(images=load_images(IMAGES[:1]), return_tensors="pt")["pixel_values"]
    clip.set_attn_implementation("eager")
    with torch.no_grad():
        ref = clip.vision_model(pixel_values=pixels, output_attentions=True).attentions
    assert cap.num_layers == 2 and cap[0].patch_grid == (4, 4)
    np.testing.assert_allclose(cap[0].attentions, np.stack([a[0].numpy() for a in ref]), atol=1e-6)


def test_an_image_classifier_records_its_prediction():
    model, processor = tiny_model("vit", head="image-classification")
    ex = attnviz.extract(model, IMAGES[:1], processor=processor)[0]
    assert ex.logits.shape == (2,) and ex.predicted_label_name in ("circle", "square")


def test_save_load_and_capture_folders_keep_the_image_fields(tmp_path):
    model, processor = tiny_model("dinov2_with_registers")
    cap = attnviz.extract(model, IMAGES, processor=processor, layers=[0])
    for loaded in (attnviz.load(cap.save(tmp_path / "c.safetensors")), attnviz.load(cap.save(tmp_path / "folder"))):
        for a, b in zip(cap, loaded, strict=True):
            assert (b.modality, b.patch_grid, b.tokens, b.special_mask) == (a.modality, a.patch_grid, a.tokens,
                                                                            a.special_mask)
            assert isinstance(b.patch_positions, np.ndarray) and b.patch_positions.tolist() == a.patch_positions.tolist()
            assert isinstance(b.image, np.ndarray) and b.image.dtype == np.uint8
            np.testing.assert_array_equal(b.image, a.image)
            np.testing.assert_array_equal(np.asarray(b.attentions), a.attentions)
    back = attnviz.Capture.from_dict(cap.to_dict(arrays=True))
    assert back[0].image.dtype == np.uint8 and back[0].patch_grid == (4, 4)


def test_out_writes_shards_and_resumes(tmp_path):
    model, processor = tiny_model("vit")
    first = attnviz.extract(model, IMAGES, processor=processor, out=tmp_path / "cap", shard_size=2, batch_size=1)
    again = attnviz.extract(model, IMAGES, processor=processor, out=tmp_path / "cap", shard_size=2)
    assert len(first) == len(again) == 3 and first[2].patch_grid == (4, 4)
    np.testing.assert_array_equal(np.asarray(first[2].attentions), np.asarray(again[2].attentions))
    from attnviz.store import CaptureExistsError

    with pytest.raises(CaptureExistsError):
        attnviz.extract(model, IMAGES[:2], processor=processor, out=tmp_path / "cap")


def test_text_code_reads_image_captures():
    from attnviz.metrics import head_stats
    from attnviz.shapes import shape_report

    cap = attnviz.extract(*tiny_model("vit")[:1], IMAGES[:2], processor=tiny_processor("vit"))
    assert shape_report(cap) is not None
    stats = head_stats(cap)
    assert np.isfinite(np.asarray(stats.values["entropy"])).all()


def test_inputs_are_told_apart_from_texts():
    assert looks_like_images(IMAGES) and looks_like_images("cat.JPG") and not looks_like_images(["a cat"])


@pytest.mark.parametrize("bad, error, match", [
    (np.zeros((8, 8)), ValueError, r"shape \(8, 8\), not \(height, width, 3\)"),
    (np.zeros((8, 8, 2)), ValueError, "not \\(height, width, 3\\)"),
    ([np.zeros((8, 8, 3), "complex64")], TypeError, "dtype complex64"),
    (["/no/such/file.png"], FileNotFoundError, "no image file at"),
    ([], ValueError, "images is empty"),
    ([42], TypeError, "images\\[0\\] is a int"),
])
def test_bad_images_get_clear_errors(bad, error, match):
    with pytest.raises(error, match=match):
        attnviz.extract(tiny_model("vit")[0], bad, processor=tiny_processor("vit"))


def test_a_missing_processor_and_a_text_model_get_clear_errors():
    with pytest.raises(ValueError, match="no image processor was found beside the model.*pass processor="):
        attnviz.extract(tiny_model("vit")[0], IMAGES[:1])
    with pytest.raises(ValueError, match="does not take images"):
        attnviz.extract(tiny_model("bert")[0], IMAGES[:1], processor=tiny_processor("vit"))
    with pytest.raises(TypeError, match="not an image processor"):
        attnviz.extract(tiny_model("vit")[0], IMAGES[:1], processor="vit")


# --- vision-language models ----------------------------------------------------------------------------
TEXTS = ["the cat sat on the mat", "hello"]


def _vlm_reference(family, text, image):
    model, processor = tiny_model(family, head="lm", attn_implementation="eager")
    enc = processor(text=[text], images=[load_images(image)], return_tensors="pt")
    with torch.no_grad():
        out = model(**enc, output_attentions=True, output_hidden_states=True)
    return np.stack([a[0].numpy() for a in out.attentions]), np.stack([h[0].numpy() for h in out.hidden_states])


@pytest.mark.parametrize("family", VLM_KINDS)
def test_vlm_maps_equal_output_attentions(family):
    model, processor = tiny_model(family, head="lm")
    cap = attnviz.extract(model, TEXTS, images=IMAGES[:2], processor=processor, batch_size=2)
    assert cap.attn_implementation == "attnviz" and cap.is_decoder and cap.num_layers == 2
    for i, ex in enumerate(cap):
        att, hid = _vlm_reference(family, ex.text, IMAGES[i])
        np.testing.assert_allclose(ex.attentions, att, atol=1e-6)
        np.testing.assert_allclose(ex.hidden_states, hid, atol=1e-5)
        rows, cols = ex.patch_grid
        assert ex.modality == "image+text" and ex.image.shape == (32, 32, 3)
        assert [ex.tokens[p] for p in ex.patch_positions] == [f"patch {r},{c}" for r in range(rows) for c in range(cols)]
        assert "".join(ex.display_tokens).endswith(TEXTS[i].split()[-1])
    assert cap[0].patch_grid == ((4, 4) if family == "llava" else (2, 2))


def test_a_text_tokens_map_over_the_image_with_queries_last():
    model, processor = tiny_model("llava")
    full = attnviz.extract(model, TEXTS[:1], images=IMAGES[:1], processor=processor)[0]
    last = attnviz.extract(model, TEXTS[:1], images=IMAGES[:1], processor=processor, queries="last", layers=[1])[0]
    assert last.attentions.shape == (1, 4, 1, len(last.tokens)) and last.query_positions == [len(last.tokens) - 1]
    np.testing.assert_allclose(last.attentions[0, :, 0], full.attentions[1, :, -1], atol=1e-6)
    over_image = last.attentions[0, 2, 0][last.patch_positions].reshape(last.patch_grid)
    assert over_image.shape == (4, 4) and 0 < over_image.sum() <= 1 + 1e-6


def test_vlm_texts_with_their_image_token_and_a_saved_capture(tmp_path):
    model, processor = tiny_model("idefics3")
    written = attnviz.extract(model, ["<image> a cat"], images=IMAGES[:1], processor=processor)
    prepended = attnviz.extract(model, [" a cat"], images=IMAGES[:1], processor=processor)
    assert written[0].text == "<image> a cat" and prepended[0].text == "<image>\n a cat"
    loaded = attnviz.load(written.save(tmp_path / "vlm.safetensors"))
    assert loaded[0].modality == "image+text" and loaded[0].patch_positions.tolist() == [2, 3, 4, 5]
    folder = attnviz.extract(model, TEXTS, images=IMAGES[:2], processor=processor, out=tmp_path / "f", shard_size=1)
    assert [ex.patch_grid for ex in folder] == [(2, 2), (2, 2)]


def test_vlm_calls_get_clear_errors():
    model, processor = tiny_model("llava")
    with pytest.raises(ValueError, match="2 texts and 1 images: pass one image per text"):
        attnviz.extract(model, TEXTS, images=IMAGES[:1], processor=processor)
    with pytest.raises(ValueError, match="holds 2 image tokens"):
        attnviz.extract(model, ["<image> <image> two"], images=IMAGES[:1], processor=processor)
    with pytest.raises(TypeError, match="not a vision-language processor"):
        attnviz.extract(model, TEXTS[:1], images=IMAGES[:1], processor=tiny_processor("vit"))
    with pytest.raises(ValueError, match="is a vision-language model: pass texts with images="):
        attnviz.extract(model, IMAGES[:1], processor=processor)
    with pytest.raises(ValueError, match="takes no texts with its images"):
        attnviz.extract(tiny_model("vit")[0], TEXTS[:1], images=IMAGES[:1], processor=tiny_processor("vit"))


def test_the_readme_images_block_runs():
    import pathlib
    import re
    import warnings

    readme = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("\n## Images\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for block in blocks:
            namespace: dict = {}
            exec(compile(block, "README.md#images", "exec"), namespace)
            assert namespace["cls_map"].shape == namespace["image_ex"].patch_grid
            assert namespace["word_map"].shape == namespace["vlm_ex"].patch_grid
            assert not {"model", "tok", "cap", "ex"} & set(namespace)  # the README's other blocks' names


@pytest.mark.parametrize("family", ["deit", "idefics3"])
def test_the_eager_fallback_gives_the_same_maps(family, monkeypatch):
    from attnviz.extraction.batching import BatchRunner, StreamingUnavailable

    model, processor = tiny_model(family)
    call = dict(images=IMAGES[:2], processor=processor)
    run = (lambda: attnviz.extract(model, TEXTS, **call)) if family in VLM_KINDS else \
        (lambda: attnviz.extract(model, IMAGES[:2], processor=processor))
    layered = run()

    def refuse(self, *args, **kwargs):
        raise StreamingUnavailable("no attention call reached attnviz (test)")

    monkeypatch.setattr(BatchRunner, "_forward_streaming", refuse)
    with pytest.warns(UserWarning, match="fell back to output_attentions=True"):
        eager = run()
    assert eager.attn_implementation == "eager"
    for a, b in zip(layered, eager, strict=True):
        np.testing.assert_allclose(b.attentions, a.attentions, atol=1e-6)
        assert b.tokens == a.tokens and b.patch_positions.tolist() == a.patch_positions.tolist()


def test_pixel_values_out_of_range_are_refused():
    with pytest.raises(ValueError, match="pixel values from 60000 to 60000: pass uint8"):
        load_images(np.full((4, 4, 3), 60000, np.uint16))
    assert load_images(np.full((4, 4, 3), 200, np.uint16))[0].getpixel((0, 0)) == (200, 200, 200)


def test_text_only_options_are_refused_with_images():
    model, processor = tiny_model("vit")
    with pytest.raises(ValueError, match="max_length, padding_side do\\(es\\) not apply to images"):
        attnviz.extract(model, IMAGES[:1], processor=processor, max_length=8, padding_side="left")
    vlm, vlm_processor = tiny_model("llava")
    with pytest.raises(ValueError, match="tokenizer do\\(es\\) not apply to images"):
        attnviz.extract(vlm, TEXTS[:1], images=IMAGES[:1], processor=vlm_processor,
                        tokenizer=vlm_processor.tokenizer)


def test_vlm_marker_tokens_are_special_and_patches_are_not():
    model, processor = tiny_model("idefics3")
    ex = attnviz.extract(model, ["a cat"], images=IMAGES[:1], processor=processor)[0]
    marked = dict(zip(ex.display_tokens, ex.special_mask, strict=True))
    assert marked["<global-img>"] and marked["<fake_token_around_image>"]
    assert not any(ex.special_mask[p] for p in ex.patch_positions) and not marked["cat"]
