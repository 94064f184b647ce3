"""HTML views: offline, the right tokens and values in the page, unique ids, atomic save, errors."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

import attnviz
from attnviz.capture import Capture, Example
from attnviz.notebook import HeadView, ModelView, head_view, model_view
from attnviz.notebook.html import runtime_js
from attnviz.notebook.payload import decode_maps, estimate_page_bytes, select_kinds


def page_payload(html: str) -> dict:
    """The JSON data block of the (first) view in a page, parsed as the browser would."""
    match = re.search(r'<script type="application/json" id="(attnviz-[0-9a-f]+)-data">(.*?)</script>', html, re.S)
    assert match, "no data block in the page"
    return json.loads(match.group(2))


def assert_close_to(entry: dict, expected: np.ndarray) -> None:
    decoded = decode_maps(entry)
    assert decoded.shape == expected.shape
    step = expected.reshape(expected.shape[0], expected.shape[1], -1).max(axis=2) / 255
    err = np.abs(decoded - expected).reshape(expected.shape[0], expected.shape[1], -1).max(axis=2)
    assert np.all(err <= step / 2 + 1e-6)


@pytest.mark.parametrize("build", [head_view, model_view])
def test_page_is_offline_and_self_contained(bert_capture, build):
    html = str(build(bert_capture))
    assert html.startswith("<!DOCTYPE html>")
    for needle in ("http://", "https://", "cdn", "<script src", "<link", "require(", "import("):
        assert needle not in html.lower(), needle
    assert "window.attnvizViews.mount(" in html


def test_page_holds_tokens_and_values(bert_capture):
    view = head_view(bert_capture, example=2)
    ex = bert_capture[2]
    payload = page_payload(str(view))
    (entry,) = payload["kinds"]
    assert entry["q"] == ex.display_tokens and entry["k"] == ex.display_tokens
    assert entry["qSpecial"] == [int(s) for s in ex.special_mask]
    assert entry["layers"] == bert_capture.layers and entry["heads"] == bert_capture.heads
    for token in ex.display_tokens:
        assert json.dumps(token) in str(view)
    assert_close_to(entry, ex.attentions)


def test_layers_and_heads_subset_and_uncompressed(bert_capture):
    view = model_view(bert_capture, layers=[1], heads=[0, 3], compress=False)
    (entry,) = page_payload(str(view))["kinds"]
    assert entry["encoding"] == "raw" and entry["layers"] == [1] and entry["heads"] == [0, 3]
    assert_close_to(entry, bert_capture[0].attentions[[1]][:, [0, 3]])


def test_seq2seq_has_three_kinds_with_their_tokens(t5_capture):
    ex = t5_capture[1]
    entries = {e["name"]: e for e in page_payload(str(head_view(t5_capture, example=1)))["kinds"]}
    assert list(entries) == ["encoder", "decoder", "cross"]
    assert entries["cross"]["q"] == ex.decoder_display_tokens and entries["cross"]["k"] == ex.display_tokens
    assert_close_to(entries["decoder"], ex.decoder_attentions)
    assert_close_to(entries["cross"], ex.cross_attentions)
    (only,) = page_payload(str(model_view(t5_capture, kind="cross")))["kinds"]
    assert only["name"] == "cross"


def test_token_like_closing_tag_cannot_break_the_page(t5_capture):
    html = str(head_view(t5_capture))
    assert any("</s>" in t for t in t5_capture[0].display_tokens)
    assert html.count("<script") == html.count("</script>") == 2


def test_generated_capture_marks_prompt(tiny_gpt2, tiny_t5):
    cap = attnviz.extract_generation(tiny_gpt2[0], "the cat sat", max_new_tokens=3, tokenizer=tiny_gpt2[1])
    (entry,) = page_payload(str(head_view(cap)))["kinds"]
    assert entry["promptQ"] == entry["promptK"] == cap[0].prompt_length < len(entry["q"])
    s2s = attnviz.extract_generation(tiny_t5[0], "the cat sat", max_new_tokens=3, tokenizer=tiny_t5[1])
    entries = {e["name"]: e for e in page_payload(str(model_view(s2s)))["kinds"]}
    p = s2s[0].prompt_length
    assert (entries["encoder"]["promptQ"], entries["decoder"]["promptK"]) == (None, p)
    assert (entries["cross"]["promptQ"], entries["cross"]["promptK"]) == (p, None)


def test_two_views_have_distinct_ids_and_one_global(bert_capture):
    a, b = head_view(bert_capture), head_view(bert_capture)
    assert a.view_id != b.view_id
    first = a._repr_html_()
    assert f'id="{a.view_id}"' in first and f'id="{a.view_id}-data"' in first
    assert a.view_id not in b._repr_html_()
    again = a._repr_html_()  # display(v); display(v): the second copy has ids of its own
    ids = set(re.findall(r'id="(attnviz-[0-9a-f]+)"', again))
    assert len(ids) == 1 and a.view_id not in again and again.count(ids.pop()) == 3  # root, data, mount
    assert f'id="{a.view_id}"' in str(a)
    assigned = set(re.findall(r"window\.(\w+)\s*=[^=]", runtime_js()))
    assert assigned == {"attnvizViews"}
    assert isinstance(a, HeadView) and isinstance(model_view(bert_capture), ModelView)


def test_save_writes_the_document_atomically(bert_capture, tmp_path, monkeypatch):
    view = head_view(bert_capture)
    path = view.save(tmp_path / "view.html")
    assert path.read_text(encoding="utf-8") == str(view)
    assert view.nbytes == path.stat().st_size

    from pathlib import Path

    def broken(self, *args, **kwargs):
        with open(self, "w") as f:
            f.write("half")
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", broken)
    with pytest.raises(OSError, match="disk full"):
        model_view(bert_capture).save(path)
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == str(view)
    assert [p.name for p in tmp_path.iterdir()] == ["view.html"]
    with pytest.raises(FileNotFoundError, match="mkdir"):
        view.save(tmp_path / "missing" / "v.html")


def test_errors_name_the_fix(bert_capture):
    bare = Capture([Example(tokens=["a", "b"])], layers=[0], heads=[0])
    with pytest.raises(ValueError, match="no attention maps.*attnviz.extract"):
        head_view(bare)
    with pytest.raises(ValueError, match=r"layer 7 is out of range.*\[0, 1\].*layers="):
        head_view(bert_capture, layers=[7])
    with pytest.raises(ValueError, match="head 9 is out of range.*heads="):
        model_view(bert_capture, heads=[0, 9])
    with pytest.raises(IndexError, match="example 5 is out of range.*0 to 2"):
        model_view(bert_capture, example=5)
    with pytest.raises(ValueError, match="no 'cross' attention"):
        head_view(bert_capture, kind="cross")
    with pytest.raises(ValueError, match="unknown scale"):
        head_view(bert_capture, scale="log")
    with pytest.raises(ValueError, match="layer=1 is not among the included layers"):
        head_view(bert_capture, layers=[0], layer=1)
    with pytest.raises(TypeError, match="attnviz.extract"):
        model_view({"attentions": 1})
    with pytest.raises(ValueError, match="selects nothing"):
        head_view(bert_capture, heads=[])


def test_huge_page_warns_with_estimate_and_remedy(bert_capture, recwarn):
    with pytest.warns(ResourceWarning, match=r"about \d+ MB.*layers=\[\.\.\.\].*heads=\[\.\.\.\]"):
        model_view(bert_capture, warn_mb=0.001)
    recwarn.clear()
    model_view(bert_capture, warn_mb=None)
    head_view(bert_capture)
    assert not [w for w in recwarn if issubclass(w.category, ResourceWarning)]


def test_estimate_tracks_real_size():
    rng = np.random.default_rng(0)
    maps = rng.dirichlet(np.ones(200) * 0.05, size=(3, 4, 200)).astype("float32")
    cap = Capture([Example(tokens=[f"t{i}" for i in range(200)], attentions=maps)],
                  layers=[0, 1, 2], heads=[0, 1, 2, 3])
    estimate = estimate_page_bytes(select_kinds(cap))
    actual = model_view(cap).nbytes
    assert 0.6 * actual < estimate < 1.6 * actual


def test_values_are_checked(bert_capture, gpt2_capture):
    from attnviz.notebook import model_view as mv

    page = mv(bert_capture, values={"again": bert_capture}).payload
    assert page["valueNames"] == ["attention", "again"] and page["values"][0][0]["data"] == page["kinds"][0]["data"]
    with pytest.raises(ValueError, match="tokens"):
        mv(bert_capture, example=0, values={"other": gpt2_capture})
    with pytest.raises(TypeError, match="as_capture"):
        mv(bert_capture, values={"bad": 3})
    with pytest.raises(ValueError, match="captured attention"):
        mv(bert_capture, values={"attention": bert_capture})


def test_views_refuse_signed_maps_instead_of_cutting_them_at_zero():
    """grad_attention relevance is signed: the views' 0..max scale would silently show 0 for every
    negative entry, so they name the problem and the fix."""
    from attnviz.metrics import Relevance

    signed = np.array([[[[0.5, -0.25], [-1.0, 0.0]]]], dtype=np.float32)
    rel = Relevance("grad_attention", [["a", "b"]], [np.array([0.2, -0.8])], [signed])
    with pytest.raises(ValueError, match=r'negative entries \(min -1\).*part="abs"'):
        head_view(rel.as_capture())._repr_html_()
    page = head_view(rel.as_capture(part="abs"))._repr_html_()
    assert "data-attnviz-view" in page
