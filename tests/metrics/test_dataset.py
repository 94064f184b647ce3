"""dataset_stats: equal to head_stats on extract(), streaming sources, bounded memory, MiniLM findings."""
from __future__ import annotations

import csv
import gc
import json
import random
import warnings
import weakref

import numpy as np
import pytest

import attnviz
from attnviz.metrics import dataset as dataset_module
from attnviz.metrics import dataset_stats, head_stats
from attnviz.metrics.dataset import WINDOW_BATCHES

TEXTS = ["The cat sat on the mat. It purred!", "Hello world", "A quick brown fox, jumps; over the lazy dog.",
         "Great film", "I did not like it: too long, too loud. Never again?", "ok"] * 2


def review_texts(n: int, seed: int = 0) -> list[str]:
    """Varied review-like texts built here (no download)."""
    rng = random.Random(seed)
    subjects = ["The movie", "This film", "The plot", "The acting", "The ending", "The soundtrack", "The sequel"]
    verbs = ["was", "felt", "seemed", "turned out to be", "is"]
    adjectives = ["wonderful", "boring", "surprisingly good", "a mess", "beautiful", "far too long", "funny"]
    extras = ["I would watch it again.", "Don't waste your money!", "My kids loved it.", "Highly recommended.",
              "The cast did their best, but the script let them down.", "Two hours I will never get back."]
    return [f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(adjectives)}, and "
            f"{rng.choice(subjects).lower()} {rng.choice(verbs)} {rng.choice(adjectives)}. "
            + " ".join(rng.sample(extras, rng.randint(0, 2))) for _ in range(n)]


def assert_same(a, b, tol=1e-5):
    assert a.metrics == b.metrics and a.num_examples == b.num_examples
    for m in a.metrics:
        np.testing.assert_allclose(a.values[m], b.values[m], atol=tol, err_msg=m)
        np.testing.assert_allclose(a.std[m], b.std[m], atol=tol, err_msg=m)


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_gpt2"])
def test_dataset_stats_of_a_list_equals_head_stats_of_extract(fixture, request):
    model, tok = request.getfixturevalue(fixture)
    expected = head_stats(attnviz.extract(model, TEXTS, batch_size=4, tokenizer=tok))
    got = dataset_stats(model, TEXTS, batch_size=5, progress=False, tokenizer=tok)
    assert_same(expected, got)
    assert model.config._attn_implementation == "sdpa"  # restored


def test_generator_is_read_lazily_and_maps_exist_one_layer_at_a_time(tiny_bert, monkeypatch):
    model, tok = tiny_bert
    state = {"pulled": 0, "run": 0, "lead": 0, "maps": [], "layers_per_call": set(), "returned": []}

    def texts():
        for i in range(200):
            state["pulled"] += 1
            state["lead"] = max(state["lead"], state["pulled"] - state["run"])
            yield f"text {i}: " + "word " * (i % 7)

    def hook(module, args, kwargs, output):
        state["run"] += kwargs["input_ids"].shape[0]
        state["returned"].append(output.attentions)

    real_values = dataset_module.batch_values

    def spy(att, tb, metrics):
        state["layers_per_call"].add(att.shape[1])
        state["maps"].append(weakref.ref(att))
        return real_values(att, tb, metrics)

    monkeypatch.setattr(dataset_module, "batch_values", spy)
    in_place = _count_in_place(monkeypatch)
    handle = model.register_forward_hook(hook, with_kwargs=True)
    try:
        stats = dataset_stats(model, texts(), batch_size=4, progress=False, tokenizer=tok)
    finally:
        handle.remove()
    gc.collect()
    assert stats.num_examples == state["run"] == 200
    assert state["lead"] <= 4 * WINDOW_BATCHES  # never more than one window of texts read ahead
    assert set(state["returned"]) == {None}  # the model never returned every layer's maps
    assert state["layers_per_call"] == {1} and len(state["maps"]) == 2 * 50  # one layer at a time
    assert len(in_place) == 2 * 50  # ... each computed in place
    assert all(ref() is None for ref in state["maps"])  # every layer's maps were freed
    assert all(v.shape == (2, 4) for v in [*stats.values.values(), *stats.std.values()])


def test_a_model_without_the_attention_interface_falls_back_with_a_warning(tiny_bert, monkeypatch):
    model, tok = tiny_bert
    expected = dataset_stats(model, TEXTS, progress=False, tokenizer=tok)
    monkeypatch.setattr(dataset_module.Session, "missing", lambda self: [("self", 0)])
    with pytest.warns(UserWarning, match="fell back to output_attentions=True"):
        got = dataset_stats(model, TEXTS, progress=False, tokenizer=tok)
    assert_same(expected, got)
    assert model.config._attn_implementation == "sdpa"  # restored


def test_files_and_datasets_give_the_same_statistics(tmp_path, tiny_bert):
    model, tok = tiny_bert
    expected = dataset_stats(model, TEXTS, progress=False, metrics=["cls", "sep"], tokenizer=tok)
    (tmp_path / "t.txt").write_text("\n".join(TEXTS) + "\n\n")
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps({"review": t, "label": 1}) for t in TEXTS))
    with (tmp_path / "t.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "review"])
        writer.writerows(enumerate(TEXTS))
    import datasets

    table = datasets.Dataset.from_dict({"review": TEXTS})
    streaming = datasets.IterableDataset.from_generator(lambda: ({"review": t} for t in TEXTS))
    sources = [str(tmp_path / "t.txt"), tmp_path / "t.jsonl", tmp_path / "t.csv", table, streaming]
    for source in sources:
        got = dataset_stats(model, source, progress=False, metrics=["cls", "sep"], text_column="review", tokenizer=tok)
        assert_same(expected, got)


def test_bad_sources_name_the_fix(tmp_path, tiny_bert):
    model, tok = tiny_bert
    with pytest.raises(ValueError, match="no texts"):
        dataset_stats(model, [], progress=False, tokenizer=tok)
    with pytest.raises(ValueError, match="text_column="):
        dataset_stats(model, [{"body": "x"}], progress=False, tokenizer=tok)
    with pytest.raises(TypeError, match="not a string"):
        dataset_stats(model, ["fine", 3], progress=False, tokenizer=tok)
    with pytest.raises(FileNotFoundError, match="no data file"):
        dataset_stats(model, tmp_path / "missing.jsonl", progress=False, tokenizer=tok)
    with pytest.raises(ValueError, match="batch_size"):
        dataset_stats(model, TEXTS, batch_size=0, tokenizer=tok)


def test_long_texts_are_truncated_with_one_warning(tiny_bert):
    model, tok = tiny_bert
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats = dataset_stats(model, ["word " * 200, "short", "word " * 100], progress=False,
                              metrics=["cls"], tokenizer=tok)
    mine = [w for w in caught if "truncated" in str(w.message)]
    assert len(mine) == 1 and "2 of 3" in str(mine[0].message)
    assert stats.num_examples == 3


def test_encoder_decoder_gives_its_encoder_self_attention(tiny_t5):
    model, tok = tiny_t5
    texts = TEXTS[:4]
    expected = head_stats(attnviz.extract(model, texts, decoder_texts=["x"] * 4, tokenizer=tok), metrics=["cls", "entropy"])
    assert_same(expected, dataset_stats(model, texts, metrics=["cls", "entropy"], progress=False, tokenizer=tok))


def _count_in_place(monkeypatch) -> list:
    """Count the layers whose padded weights the in-place path (direct.write_padded) computed."""
    from attnviz.extraction import direct

    calls: list = []
    real = direct.write_padded
    monkeypatch.setattr(direct, "write_padded", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    return calls


def _eager_blocks_stats(model, tok, monkeypatch, **kwargs):
    """dataset_stats through the family's eager blocks only (the path before the in-place weights)."""
    from attnviz.extraction import streaming

    with monkeypatch.context() as m:
        m.setattr(streaming, "_direct_to_callback", lambda *a, **k: None)
        return dataset_stats(model, TEXTS, progress=False, **kwargs, tokenizer=tok)


@pytest.mark.parametrize("kind", ["bert", "gpt2", "llama", "bart"])
def test_plain_families_take_the_in_place_path_with_the_same_statistics(kind, monkeypatch):
    from attnviz.extraction import direct
    from attnviz.testing import tiny_model

    model, tok = tiny_model(kind)
    monkeypatch.setattr(direct, "_CHECKED", {})
    calls = _count_in_place(monkeypatch)
    got = dataset_stats(model, TEXTS, batch_size=5, progress=False, tokenizer=tok)  # 3 batches, padded
    layers = model.config.num_hidden_layers if kind != "bart" else model.config.encoder_layers
    assert calls == [("self", layer) for _ in range(3) for layer in range(layers)]  # every layer, every batch
    assert list(direct._CHECKED.values()) == [True]  # checked once against the family's eager function
    assert_same(_eager_blocks_stats(model, tok, monkeypatch, batch_size=5), got, tol=1e-6)


def test_a_class_that_fails_its_check_keeps_the_eager_blocks(monkeypatch):
    from attnviz.extraction import direct
    from attnviz.testing import tiny_model

    model, tok = tiny_model("llama")
    monkeypatch.setattr(direct, "_CHECKED", {})
    monkeypatch.setattr(direct, "TOLERANCE", -1.0)  # no formula can pass: the check must refuse it
    calls = _count_in_place(monkeypatch)
    got = dataset_stats(model, TEXTS, batch_size=5, progress=False, metrics=["cls", "entropy"], tokenizer=tok)
    assert calls == [("self", 0)] and list(direct._CHECKED.values()) == [False]  # tried once, then eager
    assert_same(_eager_blocks_stats(model, tok, monkeypatch, batch_size=5, metrics=["cls", "entropy"]), got, tol=0)


@pytest.mark.parametrize("kind", ["gemma2", "t5"])
def test_soft_capping_and_position_bias_keep_the_eager_blocks(kind, monkeypatch):
    from attnviz.testing import tiny_model

    model, tok = tiny_model(kind)
    calls = _count_in_place(monkeypatch)
    got = dataset_stats(model, TEXTS, batch_size=5, progress=False, metrics=["cls", "entropy"], tokenizer=tok)
    assert calls == []
    assert_same(_eager_blocks_stats(model, tok, monkeypatch, batch_size=5, metrics=["cls", "entropy"]), got, tol=0)


@pytest.mark.slow
def test_minilm_attends_to_cls_far_above_uniform(minilm):
    model, tok = minilm
    texts = review_texts(64)
    stats = dataset_stats(model, texts, batch_size=16, progress=False, metrics=["cls", "sep", "punct"], tokenizer=tok)
    lengths = np.array([len(tok(t)["input_ids"]) for t in texts])
    uniform = float(np.mean(2 / lengths))
    special = stats.values["cls"] + stats.values["sep"]
    print(f"\nMiniLM over {len(texts)} review texts (uniform [CLS]+[SEP] share 2/n = {uniform:.3f})")
    print("most attention to [CLS]:", [(h.layer, h.head, round(h.value, 3)) for h in stats.top("cls", 3)])
    print("most attention to [SEP]:", [(h.layer, h.head, round(h.value, 3)) for h in stats.top("sep", 3)])
    print("[CLS]+[SEP] share per layer (mean over heads):", special.mean(1).round(3).tolist())
    assert special.mean(1).max() > 4 * uniform  # a whole layer far above uniform
    assert special.max() > 0.5
    assert stats.top("cls", 1)[0].layer > 0  # the [CLS] sink forms after the first layer
