"""Capture / Example: container protocol, helpers, exact save/load round trip, bad files."""
from __future__ import annotations

import numpy as np
import pytest

import attnviz
from attnviz.capture import Capture, Example
from attnviz.store import load


def _assert_same(a: Capture, b: Capture) -> None:
    assert a.provenance() == b.provenance()
    assert len(a) == len(b)
    for ea, eb in zip(a, b, strict=True):
        for name, value in vars(ea).items():
            other = getattr(eb, name)
            if isinstance(value, np.ndarray):
                assert other.dtype == value.dtype
                np.testing.assert_array_equal(other, value)
            else:
                assert other == value, name


@pytest.mark.parametrize("fixture", ["bert_capture", "gpt2_capture", "t5_capture"])
def test_round_trip_is_exact(fixture, request, tmp_path):
    cap = request.getfixturevalue(fixture)
    path = cap.save(tmp_path / "cap.safetensors")
    _assert_same(cap, attnviz.load(path))


def test_round_trip_float16_and_classifier(tmp_path, texts):
    from attnviz.testing import tiny_model

    model, tok = tiny_model("bert", head="sequence-classification")
    cap = attnviz.extract(model, texts, tokenizer=tok, dtype="float16")
    back = load(cap.save(tmp_path / "c.safetensors"))
    _assert_same(cap, back)
    assert back.id2label == {0: "negative", 1: "positive"}


def test_indexing_and_errors(bert_capture):
    assert bert_capture[-1] is bert_capture.examples[-1]
    with pytest.raises(IndexError, match="has 3 example"):
        bert_capture[3]
    with pytest.raises(ValueError, match="layer 7 is not in this capture"):
        bert_capture.layer_position(7)
    with pytest.raises(ValueError, match="head 9 is not in this capture"):
        bert_capture.head_position(9)
    assert "3 example(s)" in repr(bert_capture)


def test_example_attention_kinds(t5_capture, bert_capture):
    ex = t5_capture[0]
    assert ex.attention("cross") is ex.cross_attentions
    assert ex.attention("encoder") is ex.attentions
    with pytest.raises(ValueError, match="no 'cross' attention"):
        bert_capture[0].attention("cross")
    with pytest.raises(ValueError, match="unknown attention kind"):
        ex.attention("sideways")


def test_one_attention_kind_concept(t5_capture, bert_capture):
    from attnviz.capture import ATTENTION_KINDS, check_kind

    assert ATTENTION_KINDS == ("self", "decoder", "cross") and check_kind("encoder") == "self"
    with pytest.raises(ValueError, match="unknown attention kind 'sideways'"):
        check_kind("sideways")
    cap = Capture([], layers=[0, 2], heads=[0], decoder_layers=[1], num_decoder_layers=2)
    assert (cap.kind_layers("self"), cap.kind_layers("decoder"), cap.kind_layers("cross")) == ([0, 2], [1], [1])
    assert cap.layer_position(1, kind="cross") == 0
    assert bert_capture.kind_layers("decoder") == bert_capture.layers  # no decoder: the model's layers
    assert t5_capture.kind_layers("cross") == t5_capture.decoder_layers


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no capture file"):
        load(tmp_path / "nothing.safetensors")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign"])
def test_corrupted_file_is_a_clear_error(bert_capture, tmp_path, damage):
    path = bert_capture.save(tmp_path / "cap.safetensors")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a capture at all" * 10)
    else:
        from safetensors.numpy import save_file

        save_file({"x": np.zeros(3, "float32")}, str(path))
    with pytest.raises(ValueError, match="not a readable attnviz capture"):
        load(path)


def test_failed_save_leaves_nothing_and_keeps_old_file(bert_capture, tmp_path, monkeypatch):
    path = tmp_path / "cap.safetensors"
    path.write_bytes(b"previous content")
    import attnviz.store

    def explode(*args, **kwargs):
        open(args[0], "wb").write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(attnviz.store, "_write_safetensors", explode)
    with pytest.raises(OSError, match="disk full"):
        bert_capture.save(path)
    assert path.read_bytes() == b"previous content"
    assert [p.name for p in tmp_path.iterdir()] == ["cap.safetensors"]


def test_save_into_missing_folder_names_the_fix(bert_capture, tmp_path):
    with pytest.raises(FileNotFoundError, match="mkdir -p"):
        bert_capture.save(tmp_path / "missing" / "cap.safetensors")


def test_example_defaults():
    ex = Example(tokens=["a", "b"], decoder_tokens=["<s>"])
    assert ex.display_tokens == ["a", "b"] and ex.special_mask == [False, False]
    assert ex.decoder_special_mask == [False] and ex.is_encoder_decoder and not ex.is_generated


def test_saved_files_get_the_usual_permissions(bert_capture, tmp_path):
    import os

    mask = os.umask(0)
    os.umask(mask)
    path = bert_capture.save(tmp_path / "cap.safetensors")
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_capture_attention_addresses_a_map_as_the_plots_do(bert_capture):
    from attnviz.plot import token_heatmap

    cap = bert_capture
    one = cap.attention(1, layer=1, head=2)
    np.testing.assert_array_equal(one, cap[1].attentions[1, 2])
    np.testing.assert_array_equal(cap.attention(1, layer=1), cap[1].attentions[1])
    drawn = np.asarray(token_heatmap(cap, example=1, layer=1, head=2).images[0].get_array())
    np.testing.assert_allclose(drawn, one, atol=1e-6)
    with pytest.raises(ValueError, match="kept layers"):
        cap.attention(0, layer=7)
    with pytest.raises(ValueError, match="no 'cross' attention"):
        cap.attention(0, layer=0, kind="cross")


def test_kind_axes_names_each_side_of_each_kind():
    from attnviz.capture import Example

    ex = Example(tokens=["[CLS]", "a", "b"], special_mask=[True, False, False], display_tokens=["[CLS]", "A", "B"],
                 decoder_tokens=["<s>", "x", "y", "z"], decoder_special_mask=[True, False, False, False],
                 prompt_length=2)
    cross = ex.kind_axes("cross")
    assert (cross.query_tokens, cross.key_labels) == (["<s>", "x", "y", "z"], ["[CLS]", "A", "B"])
    assert (cross.query_special, cross.key_special) == ([True, False, False, False], [True, False, False])
    assert (cross.query_prompt, cross.key_prompt) == (2, None)  # the decoder side was generated
    assert (ex.kind_axes("decoder").query_prompt, ex.kind_axes("decoder").key_prompt) == (2, 2)
    enc = ex.kind_axes("encoder")
    assert enc.kind == "self" and enc.query_prompt is None and enc.key_labels == ["[CLS]", "A", "B"]
    rows = Example(tokens=["a", "b", "c"], special_mask=[True, False, False], query_positions=[0, 2],
                   prompt_length=2).kind_axes("self")
    assert (rows.query_tokens, rows.query_special, rows.query_rows) == (["a", "c"], [True, False], [0, 2])
    assert (rows.query_prompt, rows.key_prompt) == (None, 2)
    with pytest.raises(ValueError, match="no decoder, so no 'cross' attention"):
        Example(tokens=["a"]).kind_axes("cross")
    assert ex.attention_kinds == [] and ex.side_tokens("decoder")[2] == [True, False, False, False]
