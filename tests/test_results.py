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
from attnviz.training.result import FinetuneResult

METHODS = ("to_dict", "to_json", "save", "load", "to_frame", "plot")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    from attnviz.testing import tiny_model

    (m0, t0), (m1, t1) = tiny_model("bert"), tiny_model("bert", seed=1)
    cap = attnviz.extract(m0, ["the cat sat", "a dog"], tokenizer=t0)
    other = attnviz.extract(m1, ["the cat sat", "a dog"], tokenizer=t1)
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
        dataset_stats(model, None, tokenizer=tok)


ROUND_TRIP = ["Capture", "HeadStats", "Comparison", "HeadImportance", "Rollout", "LogitLens", "PruningCurve",
              "Trajectory", "FinetuneResult", "ShapeReport", "KnockoutMap", "HeadPatching", "Relevance"]


@pytest.fixture(scope="module")
def every_result(results):
    from attnviz.comparison.noise import trajectory
    from attnviz.metrics.causal import HeadPatching, KnockoutMap
    from attnviz.metrics.importance import PruningCurve
    from attnviz.metrics.relevance import Relevance
    from attnviz.testing import tiny_model

    model, tok = tiny_model("gpt2", head="lm")
    cap, other = results["Capture"], attnviz.compare(results["Capture"], results["Capture"]).after
    return {**results, "LogitLens": logit_lens(model, "hello world", tokenizer=tok),
            "PruningCurve": PruningCurve([0.0, 0.5], [0.9, 0.7], [0.3, 0.6], [0, 1], [(0, 1)], random_metric=[0.9, 0.6]),
            "Trajectory": trajectory([cap, other, results["Comparison"].after]),
            "KnockoutMap": KnockoutMap(np.array([[-0.5, 0.0]]), [[0], [1]], texts=["a b"], targets=[1]),
            "HeadPatching": HeadPatching(np.array([[0.0, 0.5]]), np.array([[1.0, 2.0]]), clean_metric=3.0,
                                         corrupt_metric=1.0),
            "Relevance": Relevance("chefer", [["a", "b"]], [np.array([0.25, 0.75])], [np.eye(2)])}


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_to_dict_from_dict_gives_an_equal_object_and_equality_can_fail(every_result, name):
    obj = every_result[name]
    doc = obj.to_dict(arrays=True) if name == "Capture" else obj.to_dict()
    again = type(obj).from_dict(json.loads(json.dumps(doc)))  # through JSON text, as save/load do
    assert again == obj and not (again != obj)
    changed = type(obj).from_dict(json.loads(json.dumps(doc)))
    _perturb(changed)
    assert changed != obj, f"{name}.__eq__ did not see a changed value"


def _perturb(obj) -> None:
    """Change one stored value of a result in place (the first array, number or string list found)."""
    import dataclasses

    if isinstance(obj, Capture):
        obj.examples[0].tokens = ["changed", *obj.examples[0].tokens[1:]]
        return
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, np.ndarray) and value.size and value.dtype.kind == "f":
            value.flat[0] = value.flat[0] + 1.0 if np.isfinite(value.flat[0]) else 0.5
            return
        if isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values()):
            first = next(iter(value.values()))
            first.flat[0] = 123.0
            return
        if isinstance(value, list) and value and isinstance(value[0], (int, float)) and not isinstance(value[0], bool):
            value[0] = value[0] + 1
            return
        if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            value[0] = value[0] + 1.0
            return
        if isinstance(value, list) and value and isinstance(value[0], dict):
            value[0] = {**value[0], "changed": 1}
            return
        if isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            text = next(g.name for g in dataclasses.fields(value[0]) if isinstance(getattr(value[0], g.name), str))
            value[0] = dataclasses.replace(value[0], **{text: "changed"})
            return
    raise AssertionError(f"nothing to perturb in {type(obj).__name__}")
