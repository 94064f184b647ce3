"""Capture files from elsewhere: every check inside load, one error class (CaptureFormatError)."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from safetensors.numpy import save_file

import attnviz
from attnviz.capture import Capture, Example
from attnviz.validation import CaptureFormatError, check_capture_header, check_finite


def _meta(**over):
    meta = {"model_name": "m", "model_type": "bert", "num_layers": 2, "num_heads": 2, "hidden_size": 4,
            "layers": [0, 1], "heads": [0, 1]}
    meta.update(over)
    return meta


def _good():
    att = np.full((2, 2, 3, 3), 1 / 3, "float32")
    hid = np.zeros((3, 3, 4), "float32")
    return _meta(), [{"tokens": ["[CLS]", "a", "[SEP]"]}], {"0.attentions": att, "0.hidden_states": hid}


def write(path, meta, records, tensors, fmt="1", raw_meta=None, raw_examples=None):
    header = {"attnviz_format": fmt,
              "meta": raw_meta if raw_meta is not None else json.dumps(meta),
              "examples": raw_examples if raw_examples is not None else json.dumps(records)}
    save_file(tensors, str(path), metadata=header)
    return path


def test_a_good_handmade_file_loads(tmp_path):
    cap = attnviz.load(write(tmp_path / "c.safetensors", *_good()))
    assert cap[0].attentions.shape == (2, 2, 3, 3) and cap.layers == [0, 1]


def test_error_class_is_a_value_error():
    assert issubclass(CaptureFormatError, ValueError)


@pytest.mark.parametrize("change, words", [
    (lambda m, r, t: m.update(layers={"0": 1}), "'layers' must be a list of integers"),
    (lambda m, r, t: m.update(num_heads="2"), "'num_heads' must be an integer"),
    (lambda m, r, t: m.update(is_decoder="yes"), "'is_decoder' must be true or false"),
    (lambda m, r, t: m.update(extra=[]), "'extra' must be an object"),
    (lambda m, r, t: m.update(id2label={"x": "pos"}), "'id2label' must be"),
    (lambda m, r, t: m.update(reduce_heads="median"), "reduce_heads"),
    (lambda m, r, t: m.update(layers=[0, 5]), "layers has index 5"),
    (lambda m, r, t: m.update(heads=[1, 1]), "lists an index twice"),
    (lambda m, r, t: r[0].update(tokens="abc"), "'tokens' must be a list of strings"),
    (lambda m, r, t: r[0].update(tokens=[1, 2, 3]), "'tokens' must be a list of strings"),
    (lambda m, r, t: r[0].pop("tokens"), "has no tokens"),
    (lambda m, r, t: r[0].update(special_mask=[True]), "special_mask has 1 entries but there are 3 tokens"),
    (lambda m, r, t: r[0].update(offsets=[[0, 1]] * 2 + [[0]]), "'offsets' must be"),
    (lambda m, r, t: r[0].update(query_positions=[7]), "query_positions"),
    (lambda m, r, t: r[0].update(decoder_display_tokens=["x"]), "decoder_display_tokens"),
    (lambda m, r, t: t.update({"0.attentions": np.ones(3, "float32")}), "attentions has shape (3,)"),
    (lambda m, r, t: t.update({"0.attentions": np.ones((2, 2, 4, 4), "float32")}), "its tokens say (2, 2, 3, 3)"),
    (lambda m, r, t: t.update({"0.attentions": np.ones((3, 2, 3, 3), "float32")}), "attentions has shape (3, 2"),
    (lambda m, r, t: t.update({"0.attentions": np.ones((2, 1, 3, 3), "float32")}), "attentions has shape (2, 1"),
    (lambda m, r, t: t.update({"0.hidden_states": np.ones((3, 5, 4), "float32")}), "hidden_states has shape"),
    (lambda m, r, t: t.update({"0.hidden_states": np.ones((3, 3, 9), "float32")}), "hidden_states has shape"),
    (lambda m, r, t: t.update({"1.attentions": np.ones((2, 2, 3, 3), "float32")}), "only 1 example record"),
    (lambda m, r, t: t.update({"weights": np.ones(2, "float32")}), "not '<example>.<field>'"),
    (lambda m, r, t: r.append({"tokens": ["b"]}), "example 1 has no attentions array"),
    (lambda m, r, t: t.update({"0.cross_attentions": np.ones((2, 2, 3, 3), "float32")}), "no decoder_tokens"),
    (lambda m, r, t: t.update({"0.attentions": np.ones((2, 2, 3, 3), "int32")}), "not a floating-point"),
    (lambda m, r, t: r[0].update(attentions=[1]), "belongs in an array"),
])
def test_bad_metadata_records_and_shapes_raise_capture_format_error(tmp_path, change, words):
    meta, records, tensors = _good()
    change(meta, records, tensors)
    path = write(tmp_path / "c.safetensors", meta, records, tensors)
    with pytest.raises(CaptureFormatError) as err:
        attnviz.load(path)
    assert words in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize("kw, words", [
    (dict(raw_meta="[1, 2]"), "metadata is a list"),
    (dict(raw_examples='{"0": {}}'), "example list is an object"),
    (dict(raw_meta="{not json"), "not a readable attnviz capture"),
    (dict(raw_examples='["x"]'), "example record 0 is a string"),
    (dict(fmt="999"), "newer than this attnviz"),
    (dict(fmt="one"), "invalid capture format version"),
    (dict(fmt="0"), "invalid capture format version"),
])
def test_bad_headers_raise_capture_format_error(tmp_path, kw, words):
    path = write(tmp_path / "c.safetensors", *_good(), **kw)
    with pytest.raises(CaptureFormatError, match=words.replace("(", r"\(")):
        attnviz.load(path)


@pytest.mark.parametrize("name", ["0.attentions", "0.hidden_states"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_are_flagged(tmp_path, name, bad):
    meta, records, tensors = _good()
    tensors[name].flat[1] = bad
    with pytest.raises(CaptureFormatError, match="NaN/Inf"):
        attnviz.load(write(tmp_path / "c.safetensors", meta, records, tensors))


def test_unknown_keys_from_a_newer_attnviz_warn_and_are_ignored(tmp_path):
    meta, records, tensors = _good()
    meta["colour_scheme"] = "new"
    records[0]["sentiment_v2"] = 0.5
    with pytest.warns(UserWarning, match="does not know") as record:
        cap = attnviz.load(write(tmp_path / "c.safetensors", meta, records, tensors))
    assert len(record) == 2 and "colour_scheme" in str(record[0].message)
    assert not hasattr(cap, "colour_scheme") and cap[0].tokens == ["[CLS]", "a", "[SEP]"]


def test_truncated_and_foreign_files(tmp_path):
    good = write(tmp_path / "c.safetensors", *_good())
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:200])
    plain = tmp_path / "plain.safetensors"
    save_file({"w": np.ones(2, "float32")}, str(plain))
    for path in (cut, plain):
        with pytest.raises(CaptureFormatError):
            attnviz.load(path)


def test_load_rejects_non_paths():
    with pytest.raises(TypeError, match="file path"):
        attnviz.load(None)
    with pytest.raises(TypeError, match="file path"):
        attnviz.load(3)


@pytest.mark.parametrize("fixture", ["bert_capture", "gpt2_capture", "t5_capture"])
def test_real_captures_pass_the_checks(fixture, request, tmp_path):
    cap = request.getfixturevalue(fixture)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(attnviz.load(cap.save(tmp_path / "c.safetensors"))) == len(cap)


def test_query_rows_and_reduced_heads_pass(tiny_bert, tmp_path):
    cap = attnviz.extract(tiny_bert[0], ["the cat sat", "a dog"], queries="last", reduce_heads="mean", tokenizer=tiny_bert[1])
    back = attnviz.load(cap.save(tmp_path / "c.safetensors"))
    assert back[0].attentions.shape[1:3] == (1, 1)


def test_check_capture_header_api_for_other_readers():
    meta, records, tensors = _good()
    shapes = {k: v.shape for k, v in tensors.items()}
    meta["id2label"] = {"0": "neg"}
    clean = check_capture_header(meta, records, shapes, source="shard-00000.safetensors")
    assert clean["id2label"] == {0: "neg"} and isinstance(records[0], dict)
    with pytest.raises(CaptureFormatError, match="shard-00000"):
        check_capture_header(meta, records, {"0.attentions": (1,)}, source="shard-00000.safetensors")
    with pytest.raises(CaptureFormatError, match="newer"):
        check_capture_header({**meta, "attnviz_format": "7"}, records, shapes, source="s")


def test_check_finite():
    check_finite("a", np.ones(3), source="s")
    check_finite("ints", np.arange(3), source="s")
    with pytest.raises(CaptureFormatError, match="1 NaN/Inf value"):
        check_finite("a", np.array([1.0, np.nan]), source="s")


def test_capture_objects_round_trip_with_empty_layer_lists(tmp_path):
    cap = Capture([Example(tokens=["a"], attentions=np.ones((1, 1, 1, 1), "float32"))])
    assert attnviz.load(cap.save(tmp_path / "c.safetensors"))[0].tokens == ["a"]
