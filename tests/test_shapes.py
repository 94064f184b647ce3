"""shape_report on Captures and raw ModelOutputs."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import attnviz
from attnviz.testing import tiny_model


def test_capture_report_rows_axes_and_stats(bert_capture):
    report = attnviz.shape_report(bert_capture)
    names = [r.name for r in report.rows]
    assert names == ["attentions[0]", "attentions[1]", "hidden_states[0]", "hidden_states[1]", "hidden_states[2]"]
    att = report.rows[0]
    lengths = [len(ex.tokens) for ex in bert_capture]
    assert att.axes == ("example", "head", "query", "key")
    assert att.shape == (3, 4, (min(lengths), max(lengths)), (min(lengths), max(lengths)))
    assert att.stats["row_sum_max_error"] < 1e-5 and att.stats["nan_inf"] == 0
    assert 0 < att.stats["mean_entropy"] <= np.log(max(lengths))
    hid = report.rows[2]
    flat = np.concatenate([ex.hidden_states[0] for ex in bert_capture])
    assert hid.stats["mean"] == pytest.approx(flat.mean(), abs=1e-6)
    assert hid.stats["mean_l2_norm"] == pytest.approx(np.linalg.norm(flat, axis=-1).mean(), rel=1e-5)
    assert hid.nbytes == sum(ex.hidden_states[0].nbytes for ex in bert_capture)


def test_uniform_attention_entropy_is_log_n():
    n = 5
    ex = attnviz.Example(tokens=list("abcde"), attentions=np.full((1, 2, n, n), 1 / n, "float32"))
    cap = attnviz.Capture([ex], layers=[0], heads=[0, 1], num_layers=1, num_heads=2)
    row = attnviz.shape_report(cap).rows[0]
    assert row.stats["mean_entropy"] == pytest.approx(np.log(n), rel=1e-6)
    assert row.stats["max_weight"] == pytest.approx(0.2)


def test_nan_is_counted():
    att = np.full((1, 1, 2, 2), 0.5, "float32")
    att[0, 0, 0, 0] = np.nan
    cap = attnviz.Capture([attnviz.Example(tokens=["a", "b"], attentions=att)], layers=[0], heads=[0])
    assert attnviz.shape_report(cap).rows[0].stats["nan_inf"] == 1


def test_encoder_decoder_rows(t5_capture):
    names = [r.name for r in attnviz.shape_report(t5_capture).rows]
    assert "decoder_attentions[1]" in names and "cross_attentions[0]" in names
    assert "decoder_hidden_states[2]" in names


def test_model_output_report():
    model, tok = tiny_model("bert", attn_implementation="eager")
    batch = tok(["the cat", "a quick brown fox"], padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, output_attentions=True, output_hidden_states=True)
    report = attnviz.shape_report(out)
    row = report.rows[0]
    assert row.axes == ("batch", "head", "query", "key")
    assert row.shape == (2, 4, batch["input_ids"].shape[1], batch["input_ids"].shape[1])
    assert row.dtype == "float32" and row.device == "cpu"
    assert row.nbytes == out.attentions[0].nelement() * 4
    assert report.rows[-1].name == "hidden_states[2]"


def test_sdpa_output_with_empty_attentions_is_flagged():
    model, tok = tiny_model("bert")
    with torch.no_grad():
        out = model(**tok(["the cat"], return_tensors="pt"), output_attentions=True, output_hidden_states=True)
    with pytest.warns(UserWarning, match="attentions is empty"):
        report = attnviz.shape_report(out)
    assert any("attn_implementation='eager'" in n for n in report.notes)
    assert all(r.kind == "hidden" for r in report.rows)


def test_text_markdown_json_frame(bert_capture):
    report = attnviz.shape_report(bert_capture)
    text = str(report)
    assert "attentions[0]" in text and "example=3 × head=4" in text
    md = report.to_markdown().splitlines()
    assert md[0].startswith("| tensor |") and len(md) == 2 + len(report.rows)
    data = json.loads(report.to_json())
    assert data["rows"][0]["shape"][2] == list(report.rows[0].shape[2])
    pytest.importorskip("pandas")
    frame = report.to_frame()
    assert list(frame["tensor"]) == [r.name for r in report.rows]


def test_wrong_input_type():
    with pytest.raises(TypeError, match="output_attentions=True"):
        attnviz.shape_report([1, 2, 3])
