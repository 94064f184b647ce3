"""Capture folders (manifest + shards), extract(out=), resuming, and lazy captures that read only what they draw."""
from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

import attnviz
from attnviz.store import (
    CaptureExistsError,
    CaptureFileChangedError,
    CaptureWriter,
    LazyArray,
    count_reads,
    read_manifest,
)
from attnviz.validation import CaptureFormatError

TEXTS = ["the cat sat on the mat", "a dog", "hello there, world", "one two three four five six", "x y"]


def _same_arrays(a, b, exact: bool = True) -> None:
    assert len(a) == len(b)
    for ea, eb in zip(a, b, strict=True):
        assert ea.tokens == eb.tokens and ea.text == eb.text
        for name in ("attentions", "hidden_states", "decoder_attentions", "cross_attentions"):
            x, y = getattr(ea, name), getattr(eb, name)
            assert (x is None) == (y is None), name
            if x is not None:
                if exact:
                    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
                else:  # other batches (other padding) give float noise
                    np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-5)


@pytest.fixture(scope="module")
def bert_pair(tiny_bert, tmp_path_factory):
    """(the folder loaded into memory, lazy capture written with extract(out=)); tests compare the two."""
    folder = tmp_path_factory.mktemp("store") / "cap"
    lazy = attnviz.extract(tiny_bert[0], TEXTS, batch_size=2, out=folder, shard_size=2, tokenizer=tiny_bert[1])
    return attnviz.load(folder, lazy=False), lazy


def test_extract_out_writes_shards_and_manifest(bert_pair, tiny_bert):
    eager, lazy = bert_pair
    folder = lazy[0].attentions.path.parent
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "shard-00000.safetensors",
                                                       "shard-00001.safetensors", "shard-00002.safetensors"]
    manifest = read_manifest(folder)
    assert manifest["complete"] and manifest["num_examples"] == 5 and manifest["shard_size"] == 2
    assert [(s["start"], s["stop"]) for s in manifest["shards"]] == [(0, 2), (2, 4), (4, 5)]
    assert manifest["meta"]["layers"] == eager.layers and manifest["attnviz_version"] == attnviz.__version__
    assert len(manifest["texts_sha256"]) == 64
    # each shard is an ordinary single-file capture
    assert [ex.text for ex in attnviz.load(folder / "shard-00001.safetensors")] == TEXTS[2:4]
    assert isinstance(lazy[0].attentions, LazyArray)
    _same_arrays(eager, lazy)
    _same_arrays(attnviz.extract(tiny_bert[0], TEXTS, batch_size=2, tokenizer=tiny_bert[1]), lazy, exact=False)
    assert lazy.provenance()["layers"] == eager.layers and lazy.num_heads == eager.num_heads


def test_folder_loads_eagerly_too(bert_pair):
    eager, lazy = bert_pair
    folder = lazy[0].attentions.path.parent
    back = attnviz.load(folder, lazy=False)
    assert isinstance(back[0].attentions, np.ndarray)
    _same_arrays(lazy, back)


def test_single_file_captures_load_lazily(bert_capture, tmp_path):
    path = bert_capture.save(tmp_path / "c.safetensors")
    lazy = attnviz.load(path, lazy=True)
    assert isinstance(lazy[1].attentions, LazyArray) and isinstance(attnviz.load(path)[1].attentions, np.ndarray)
    _same_arrays(bert_capture, lazy)


def test_save_to_a_folder_and_refuse_to_overwrite(t5_capture, tmp_path):
    folder = t5_capture.save(tmp_path / "t5cap", shard_size=2)
    assert (folder / "manifest.json").is_file()
    _same_arrays(t5_capture, attnviz.load(folder))
    with pytest.raises(CaptureExistsError, match="delete"):
        t5_capture.save(folder)
    (tmp_path / "empty").mkdir()
    assert (t5_capture.save(tmp_path / "empty") / "manifest.json").is_file()


def test_indexing_reads_only_the_slice(bert_pair):
    eager, lazy = bert_pair
    a = lazy[2].attentions
    with count_reads() as reads:
        head = a[1, 3]
        layer = a[-1]
        rows = a[0, :, 1:3]
    np.testing.assert_array_equal(head, eager[2].attentions[1, 3])
    np.testing.assert_array_equal(layer, eager[2].attentions[-1])
    np.testing.assert_array_equal(rows, eager[2].attentions[0, :, 1:3])
    assert reads.reads == 3
    assert reads.nbytes == head.nbytes + layer.nbytes + a[0].nbytes * 0 + rows.nbytes
    assert a.shape == eager[2].attentions.shape and a.ndim == 4 and a.dtype == np.float32


def test_head_grid_of_one_layer_reads_only_that_layer(bert_pair):
    eager, lazy = bert_pair
    with count_reads() as reads:
        grid = attnviz.plot.head_grid(lazy, example=3, layers=[1])
    assert reads.names == ["shard-00001.safetensors:1.attentions"]  # example 3 is the 2nd of shard 1
    assert reads.nbytes == eager[3].attentions[1].nbytes
    np.testing.assert_array_equal(grid.matrix(1, 2), eager[3].attentions[1, 2])


def test_token_heatmap_reads_one_head(bert_pair):
    eager, lazy = bert_pair
    with count_reads() as reads:
        ax = attnviz.plot.token_heatmap(lazy, example=0, layer=1, head=2)
    assert reads.nbytes == eager[0].attentions[1, 2].nbytes
    np.testing.assert_allclose(ax.images[0].get_array(), eager[0].attentions[1, 2])
    with count_reads() as reads:
        attnviz.plot.token_heatmap(lazy, example=0, layer=0, head="mean")
    assert reads.nbytes == eager[0].attentions[0].nbytes


def _page(view) -> str:
    return re.sub(r"attnviz-[0-9a-f]{12}", "ID", str(view))  # each view gets a random element id


def test_views_reports_stats_and_compare_work_on_lazy_captures(bert_pair):
    eager, lazy = bert_pair
    from attnviz import notebook
    from attnviz.metrics import head_stats

    with count_reads() as reads:
        view = notebook.model_view(lazy, example=1, layers=[0])
    assert set(reads.names) == {"shard-00000.safetensors:1.attentions"} and reads.nbytes == eager[1].attentions[0].nbytes
    assert _page(view) == _page(notebook.model_view(eager, example=1, layers=[0]))
    assert _page(notebook.head_view(lazy, example=2)) == _page(notebook.head_view(eager, example=2))
    assert attnviz.shape_report(lazy).to_dict()["rows"] == attnviz.shape_report(eager).to_dict()["rows"]
    a, b = head_stats(lazy, metrics="entropy"), head_stats(eager, metrics="entropy")
    np.testing.assert_allclose(a.values["entropy"], b.values["entropy"])
    np.testing.assert_allclose(attnviz.compare(lazy, eager).change, 0.0, atol=1e-6)


def test_resume_skips_finished_shards(tiny_bert, tmp_path, monkeypatch):
    folder = tmp_path / "cap"
    real = CaptureWriter.add_shard

    def crash_on_second(self, examples, index):
        if index == 1:
            raise RuntimeError("simulated crash")
        return real(self, examples, index)

    monkeypatch.setattr(CaptureWriter, "add_shard", crash_on_second)
    with pytest.raises(RuntimeError, match="simulated crash"):
        attnviz.extract(tiny_bert[0], TEXTS, out=folder, shard_size=2, tokenizer=tiny_bert[1])
    monkeypatch.setattr(CaptureWriter, "add_shard", real)
    manifest = read_manifest(folder)
    assert not manifest["complete"] and [s["file"] for s in manifest["shards"]] == ["shard-00000.safetensors"]
    with pytest.warns(UserWarning, match="holds 2 of 5 examples"):
        assert len(attnviz.load(folder)) == 2  # the finished shard is usable
    first = (folder / "shard-00000.safetensors").stat().st_mtime_ns
    written = []
    monkeypatch.setattr(CaptureWriter, "add_shard",
                        lambda self, exs, index: written.append(index) or real(self, exs, index))
    cap = attnviz.extract(tiny_bert[0], TEXTS, out=folder, shard_size=2, tokenizer=tiny_bert[1])
    assert written == [1, 2] and (folder / "shard-00000.safetensors").stat().st_mtime_ns == first
    _same_arrays(attnviz.extract(tiny_bert[0], TEXTS, tokenizer=tiny_bert[1]), cap, exact=False)
    # a complete folder of the same texts and settings is simply opened again
    written.clear()
    assert len(attnviz.extract(tiny_bert[0], TEXTS, out=folder, tokenizer=tiny_bert[1])) == 5 and written == []


def test_other_texts_or_settings_are_refused(tiny_bert, tmp_path):
    folder = tmp_path / "cap"
    attnviz.extract(tiny_bert[0], TEXTS[:2], out=folder, tokenizer=tiny_bert[1])
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    with pytest.raises(CaptureExistsError, match="capture of other texts.*another folder, or delete"):
        attnviz.extract(tiny_bert[0], TEXTS[:3], out=folder, tokenizer=tiny_bert[1])
    with pytest.raises(CaptureExistsError, match="other settings.*layers"):
        attnviz.extract(tiny_bert[0], TEXTS[:2], out=folder, layers=[1], tokenizer=tiny_bert[1])
    with pytest.raises(CaptureExistsError, match="other settings.*dtype"):
        attnviz.extract(tiny_bert[0], TEXTS[:2], out=folder, dtype="float16", tokenizer=tiny_bert[1])
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before  # nothing was touched
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(CaptureExistsError, match="not an attnviz capture folder"):
        attnviz.extract(tiny_bert[0], TEXTS[:2], out=other, tokenizer=tiny_bert[1])
    with pytest.raises(CaptureExistsError, match="is a file"):
        attnviz.extract(tiny_bert[0], TEXTS[:2], out=other / "notes.txt", tokenizer=tiny_bert[1])


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_a_file_changed_after_opening_is_a_clear_error(bert_capture, tmp_path, damage):
    path = bert_capture.save(tmp_path / "c.safetensors")
    lazy = attnviz.load(path, lazy=True)
    lazy[0].attentions[0, 0]  # reads fine
    if damage == "delete":
        os.remove(path)
    else:
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
    with pytest.raises(CaptureFileChangedError, match=f"{path.name} was {damage}.*(load it again|extract again)"):
        lazy[0].attentions[1, 0]


def test_a_damaged_manifest_or_missing_shard_names_the_fix(bert_pair, tmp_path):
    _, lazy = bert_pair
    folder = tmp_path / "copy"
    lazy.save(folder, shard_size=2)
    os.remove(folder / "shard-00001.safetensors")
    with pytest.raises(FileNotFoundError, match="shard-00001.safetensors is listed.*extract again"):
        attnviz.load(folder)
    (folder / "manifest.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(CaptureFormatError, match="manifest 'format' is 'something else'.*not an attnviz capture "
                                                 "folder.*extract again"):
        attnviz.load(folder)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(CaptureFormatError, match="not a readable attnviz capture manifest"):
        attnviz.load(folder)


def test_writer_add_streams_examples(tmp_path):
    exs = [attnviz.Example(tokens=[t], text=t, attentions=np.full((1, 1, 1, 1), i, "float32"))
           for i, t in enumerate("abcde")]
    meta = attnviz.Capture([], layers=[0], heads=[0], num_layers=1, num_heads=1).provenance()
    with CaptureWriter(tmp_path / "w", texts=list("abcde"), meta=meta, shard_size=2) as w:
        for ex in exs:
            w.add(ex)
    back = attnviz.load(tmp_path / "w")
    assert [float(ex.attentions[0, 0, 0, 0]) for ex in back] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="shard_size"):
        CaptureWriter(tmp_path / "x", texts=["a"], shard_size=0)


def test_saved_files_are_plain_safetensors(bert_capture, tmp_path):
    from safetensors.numpy import load_file

    path = bert_capture.save(tmp_path / "c.safetensors")
    arrays = load_file(str(path))
    np.testing.assert_array_equal(arrays["1.attentions"], bert_capture[1].attentions)
    header = int.from_bytes(path.read_bytes()[:8], "little")
    assert header % 8 == 0


def test_saving_a_lazy_capture_reads_one_array_at_a_time(bert_pair, tmp_path):
    eager, lazy = bert_pair
    with count_reads() as reads:
        path = lazy.save(tmp_path / "all.safetensors")
    assert reads.reads == sum(2 for _ in lazy)  # attentions and hidden states of each example, once
    _same_arrays(eager, attnviz.load(path))


# --- issue 25: a folder holds only what its writer wrote ------------------------------------------
@pytest.fixture
def folder_copy(bert_pair, tmp_path):
    """A fresh 3-shard folder of the five texts (2 + 2 + 1), its manifest as a dict, and a writer for it."""
    _, lazy = bert_pair
    folder = lazy.save(tmp_path / "cap", shard_size=2)
    manifest = json.loads((folder / "manifest.json").read_text())

    def write(m):
        (folder / "manifest.json").write_text(json.dumps(m))

    return folder, manifest, write


def _refused(folder, *words):
    with pytest.raises(CaptureFormatError) as info:
        attnviz.load(folder)
    message = str(info.value)
    assert str(folder) in message, message
    for w in words:
        assert re.search(w, message), (w, message)
    assert re.search("extract (it )?again|delete|restore|copy the file|upgrade", message), message
    return message


@pytest.mark.parametrize("name, words", [
    ("/elsewhere/x.safetensors", [r"shards\[0\]", "not a plain shard file name"]),
    ("../outside.safetensors", [r"shards\[0\]", "not a plain shard file name"]),
    ("sub/shard-00000.safetensors", [r"shards\[0\]", "not a plain shard file name"]),
    (5, [r"shards\[0\]", "file must be a string, not an integer"]),
])
def test_shard_names_must_be_plain_names_inside_the_folder(folder_copy, tmp_path, name, words):
    folder, manifest, write = folder_copy
    outside = tmp_path / "outside.safetensors"
    (folder / "shard-00000.safetensors").rename(outside)  # a real capture file, outside the folder
    manifest["shards"][0]["file"] = str(outside) if name == "/elsewhere/x.safetensors" else name
    write(manifest)
    _refused(folder, *words)


def test_a_symlink_out_of_the_folder_is_refused_one_inside_is_fine(folder_copy, tmp_path):
    folder, manifest, write = folder_copy
    shard = folder / "shard-00001.safetensors"
    outside = tmp_path / "elsewhere.safetensors"
    shard.rename(outside)
    shard.symlink_to(outside)
    _refused(folder, r"shards\[1\] 'shard-00001.safetensors' is a symlink to .*elsewhere.safetensors, outside "
                     "the folder", "copy the file into")
    shard.unlink()
    (folder / "real.safetensors").write_bytes(outside.read_bytes())
    shard.symlink_to("real.safetensors")  # inside the folder: read
    assert len(attnviz.load(folder)) == 5
    (folder / "manifest.json").rename(tmp_path / "manifest.json")
    (folder / "manifest.json").symlink_to(tmp_path / "manifest.json")
    _refused(folder, "symlink to .*outside the folder")


@pytest.mark.parametrize("change, words", [
    (lambda m: m["shards"].append(dict(m["shards"][0])), ["lists 4 shards, but 5 example"]),
    (lambda m: m["shards"].__setitem__(1, dict(m["shards"][0])), [r"shards\[1\].*same file", "listed once"]),
    (lambda m: m.__setitem__("shards", "x"), ["'shards' must be a list of shard entries, not a string"]),
    (lambda m: m["meta"].__setitem__("num_layers", "2"), ["'num_layers' must be an integer, not a string"]),
    (lambda m: m["shards"][1].__setitem__("start", 3), [r"shards\[1\].*examples 3..4 are not a shard"]),
    (lambda m: m["shards"][1].update(start=1, stop=3), [r"shards\[1\].*not a shard"]),
    (lambda m: m["shards"].pop(1), ["says complete but has no shard for examples 2..4"]),
    (lambda m: m.__setitem__("num_examples", "5"), ["'num_examples' must be an integer"]),
    (lambda m: m["shards"][2].__setitem__("bytes", 9), [r"shards\[2\].*has \d+ bytes, but its writer wrote 9",
                                                        "truncated or replaced"]),
])
def test_crafted_manifests_raise_capture_format_error_naming_folder_entry_and_fix(folder_copy, change, words):
    folder, manifest, write = folder_copy
    change(manifest)
    write(manifest)
    _refused(folder, *words)


def test_a_reordered_manifest_loads_in_example_order(folder_copy, bert_pair):
    folder, manifest, write = folder_copy
    manifest["shards"].reverse()
    write(manifest)
    _same_arrays(bert_pair[0], attnviz.load(folder))


def test_a_shard_from_another_capture_is_refused(folder_copy, tiny_bert, tmp_path):
    folder, manifest, write = folder_copy
    # same model, same settings, other texts, same size: its texts give it away
    other = attnviz.extract(tiny_bert[0], ["a b", "c d"], tokenizer=tiny_bert[1]).save(tmp_path / "o.safetensors")
    (folder / "shard-00001.safetensors").write_bytes(other.read_bytes())
    del manifest["shards"][1]["bytes"]
    write(manifest)
    _refused(folder, r"shards\[1\] shard-00001.safetensors holds other texts", "another capture")
    # other settings (one layer), same texts
    one = attnviz.extract(tiny_bert[0], TEXTS[2:4], tokenizer=tiny_bert[1], layers=[1]).save(tmp_path / "l.safetensors")
    (folder / "shard-00001.safetensors").write_bytes(one.read_bytes())
    _refused(folder, "does not belong to this capture folder.*layers")
    # other weights, same texts and settings
    other_model = attnviz.testing.tiny_model("bert", seed=7)[0]
    w = attnviz.extract(other_model, TEXTS[2:4], tokenizer=tiny_bert[1]).save(tmp_path / "w.safetensors")
    (folder / "shard-00001.safetensors").write_bytes(w.read_bytes())
    _refused(folder, "model_fingerprint")
    with pytest.raises(CaptureFormatError, match="another capture"):  # resuming refuses it too
        attnviz.extract(tiny_bert[0], TEXTS, tokenizer=tiny_bert[1], out=folder, shard_size=2)


def test_resuming_with_other_weights_at_the_same_path_is_refused(tmp_path):
    import torch

    from attnviz.modeling import load_model
    from attnviz.testing import save_tiny_model

    path = save_tiny_model("bert", tmp_path / "ckpt")
    folder = tmp_path / "cap"
    attnviz.extract(path, TEXTS[:3], out=folder, shard_size=2)
    first = attnviz.load(folder, lazy=False)
    model, tok = load_model(path)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)  # "trained further", saved in place
    model.save_pretrained(path)
    shard = folder / "shard-00000.safetensors"
    shard.unlink()  # so that resuming would have work to do
    with pytest.raises(CaptureExistsError, match="other weights.*model fingerprint.*overwritten at the same path"):
        attnviz.extract(path, TEXTS[:3], out=folder, shard_size=2)
    assert not shard.exists()
    after = attnviz.extract(path, TEXTS[:3])
    assert first.model_name == after.model_name and first.model_fingerprint != after.model_fingerprint
    comp = attnviz.compare(attnviz.extract(path, TEXTS[:3]), after)
    assert comp.same_weights is True and "same weights" in comp.summary()
    assert attnviz.compare(first, after).same_weights is False
    assert "different weights" in attnviz.compare(first, after).summary()


def test_the_fingerprint_is_saved_loaded_and_round_trips(bert_capture, tmp_path):
    from attnviz.modeling import model_fingerprint

    assert len(bert_capture.model_fingerprint) == 64
    back = attnviz.load(bert_capture.save(tmp_path / "c.safetensors"))
    assert back.model_fingerprint == bert_capture.model_fingerprint
    assert attnviz.Capture.from_dict(bert_capture.to_dict()).model_fingerprint == bert_capture.model_fingerprint
    folder = attnviz.load(bert_capture.save(tmp_path / "f"))
    assert folder.model_fingerprint == bert_capture.model_fingerprint
    assert read_manifest(tmp_path / "f")["meta"]["model_fingerprint"] == bert_capture.model_fingerprint
    model = attnviz.testing.tiny_model("bert")[0]
    assert model_fingerprint(model) == bert_capture.model_fingerprint  # same seed, same weights


def test_the_fingerprint_hashes_each_parameter_in_turn_as_documented():
    """The digest is the documented per-parameter one (name|shape|dtype|, then its float32 sample),
    whatever order the samples are copied to the host in: folders written earlier keep matching.
    Half-precision and meta parameters included."""
    import hashlib

    import torch

    from attnviz.modeling import FINGERPRINT_SAMPLES, model_fingerprint

    model = attnviz.testing.tiny_model("llama")[0]
    model.layers[0].mlp.to(torch.bfloat16)
    with torch.device("meta"):
        model.register_module("unloaded", torch.nn.Linear(3, 2))
    digest = hashlib.sha256()
    for name, param in model.named_parameters():
        digest.update(f"{name}|{tuple(param.shape)}|{param.dtype}|".encode())
        if param.device.type == "meta":
            continue
        flat = param.detach().reshape(-1)
        step = max(1, flat.numel() // FINGERPRINT_SAMPLES)
        sample = torch.cat([flat[::step][:FINGERPRINT_SAMPLES], flat[-1:]]).to(torch.float32)
        digest.update(sample.numpy().astype("<f4").tobytes())
    assert model_fingerprint(model) == digest.hexdigest()
