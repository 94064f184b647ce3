"""Result objects speak one language (to_dict, to_json, save, load, to_frame, plot) and the
entry points that take a model agree on where the tokenizer goes."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import attnviz
from attnviz.capture import Capture
from attnviz.comparison import Comparison
from attnviz.metrics import (
    HeadImportance,
    HeadStats,
    Rollout,
    dataset_stats,
    head_stats,
    logit_lens,
    rollout,
)
from attnviz.shapes import ShapeReport
from attnviz.testing import save_tiny_model
from attnviz.training_result import FinetuneResult

METHODS = ("to_dict", "to_json", "save", "load", "to_frame", "plot")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    from attnviz.testing import tiny_model

    cap = attnviz.extract(*tiny_model("bert"), ["the cat sat", "a dog"])
    other = attnviz.extract(*tiny_model("bert", seed=1), ["the cat sat", "a dog"])
    run = tmp_path_factory.mktemp("run")
    return {
        "Capture": cap,
        "HeadStats": head_stats(cap, metrics=["cls", "induction"]),
        "Comparison": attnviz.compare(cap, other),
        "FinetuneResult": FinetuneResult(run, method="loop", best_epoch=1,
                                         metrics=[{"epoch": 1, "accuracy": 0.5, "train_loss": 0.7}]),
        "ShapeReport": attnviz.shape_report(cap),
        "Rollout": rollout(cap),
        "HeadImportance": HeadImportance(np.array([[0.2, 0.5]]), np.array([[2.0, 5.0]]), model_name="m"),
    }


@pytest.mark.parametrize("name", ["Capture", "HeadStats", "Comparison", "FinetuneResult", "ShapeReport",
                                  "Rollout", "HeadImportance"])
def test_every_result_has_the_same_methods_and_json_round_trips(results, name, tmp_path):
    obj = results[name]
    for method in METHODS:
        assert callable(getattr(obj, method, None)), f"{name}.{method}"
    text = obj.to_json()
    assert isinstance(text, str) and isinstance(json.loads(text), dict)
    assert isinstance(obj.to_dict(), dict)
    written = obj.to_json(tmp_path / "r.json")
    assert isinstance(written, Path) and json.loads(written.read_text()) == json.loads(text)
    again = type(obj).from_dict(json.loads(text))
    assert isinstance(again, type(obj))
    if name == "Capture":  # the maps travel in JSON only when asked (safetensors is their format)
        assert [ex.tokens for ex in again] == [ex.tokens for ex in obj] and not again.has_attentions
        full = Capture.from_dict(json.loads(obj.to_json(arrays=True)))
        np.testing.assert_array_equal(full[1].attentions, obj[1].attentions)
    elif name not in ("Comparison", "FinetuneResult"):  # those keep captures / paths beside the JSON
        assert json.loads(again.to_json()) == json.loads(text)


def test_save_and_load_round_trip(results, tmp_path):
    stats = results["HeadStats"]
    back = HeadStats.load(stats.save(tmp_path / "s.json"))
    assert back.metrics == stats.metrics and back.counts == stats.counts
    np.testing.assert_allclose(back.values["cls"], stats.values["cls"])
    roll = results["Rollout"]
    np.testing.assert_allclose(Rollout.load(roll.save(tmp_path / "r.json")).matrix, roll.matrix)
    rep = results["ShapeReport"]
    assert ShapeReport.load(rep.save(tmp_path / "shapes.json")).to_dict() == json.loads(rep.to_json())
    cap = results["Capture"]
    np.testing.assert_array_equal(Capture.load(cap.save(tmp_path / "c.safetensors"))[0].attentions,
                                  cap[0].attentions)
    comp = results["Comparison"]
    comp.save(tmp_path / "comp")
    loaded = Comparison.load(tmp_path / "comp")
    np.testing.assert_allclose(loaded.cosine, comp.cosine)
    assert loaded.num_examples == comp.num_examples and loaded.names == comp.names
    run = results["FinetuneResult"]
    assert FinetuneResult.load(run.save()).best_epoch == 1
    imp = results["HeadImportance"]
    assert HeadImportance.load(imp.save(tmp_path / "imp.json")).model_name == "m"


def test_tables_and_plots(results):
    pytest.importorskip("pandas")
    assert len(results["Capture"].to_frame(example=1)) == 2 * 4 * 4 * 4   # layers x heads x 4 x 4 tokens
    assert len(results["Comparison"].to_frame()) == 8
    assert results["FinetuneResult"].to_frame()["accuracy"].tolist() == [0.5]
    assert len(results["Rollout"].to_frame()) == len(results["Rollout"].tokens) ** 2
    assert results["HeadImportance"].to_frame()["rank"].tolist() == [1, 2]
    assert [l.get_label() for l in results["FinetuneResult"].plot().get_lines()][:2] == ["train_loss", "accuracy"]
    assert len(results["ShapeReport"].plot().patches) == len(results["ShapeReport"].rows)


def test_old_names_warn_and_still_work(results):
    with pytest.deprecated_call():
        assert len(results["Comparison"].to_dataframe()) == 8
    with pytest.deprecated_call():
        assert results["HeadImportance"].to_dataframe()["rank"].tolist() == [1, 2]


def test_the_tokenizer_goes_second_or_by_keyword_and_defaults_to_the_one_beside_the_model(tmp_path):
    folder = save_tiny_model("gpt2", tmp_path / "gpt2", head="lm")
    model, tok = attnviz.modeling.load_model(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        a = dataset_stats(model, ["a b a b"], metrics="cls", progress=False, tokenizer=tok)
        b = dataset_stats(model, texts_or_dataset=["a b a b"], metrics="cls", progress=False)
        c = dataset_stats(str(folder), tokenizer=tok, texts_or_dataset=["a b a b"], metrics="cls", progress=False)
        np.testing.assert_allclose(a.values["cls"], b.values["cls"], atol=1e-6)
        np.testing.assert_allclose(a.values["cls"], c.values["cls"], atol=1e-6)
        lens = logit_lens(model, text="hello world")
        assert lens.labels == logit_lens(model, "hello world", tokenizer=tok).labels
        cap = attnviz.extract(model, texts=["a b"])
        assert cap[0].tokens == attnviz.extract(model, ["a b"], tokenizer=tok)[0].tokens
    with pytest.raises(TypeError, match="needs texts"):
        dataset_stats(model, tokenizer=tok)
