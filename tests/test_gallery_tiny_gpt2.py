"""gallery/tiny_gpt2.py: the tokenizer, the training run (short budget) and the head scores."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import attnviz
from attnviz.capture import Capture, Example

SCRIPT = Path(__file__).resolve().parents[1] / "gallery" / "tiny_gpt2.py"  # the `gallery` fixture (tests/conftest.py) imports it


@pytest.fixture(scope="module")
def induction_model(gallery, tmp_path_factory):
    """The tiny GPT-2 trained once for the module's two tests of it (seed 0; training stops early once
    the copy loss is ~0.001, so the 30 s budget is only a ceiling): its folder."""
    # seed 0 shows both heads after ~1000 steps (~8 s on a busy 2-core CPU)
    return gallery.train_induction_model(tmp_path_factory.mktemp("induction") / "model", seconds_budget=30, seed=0)


def test_tokenizer_is_word_level_with_bos(gallery):
    tok = gallery.build_tokenizer()
    ids = tok("cat dog cat")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["<bos>", "cat", "dog", "cat"]
    assert tok.decode(ids, skip_special_tokens=True) == "cat dog cat"


def test_repeated_batch_repeats(gallery):
    import torch

    ids = gallery.repeated_batch(torch.Generator().manual_seed(0), 4, 5, bos=2, first_word=3)
    assert ids.shape == (4, 11) and bool((ids[:, 0] == 2).all())
    assert torch.equal(ids[:, 1:6], ids[:, 6:11])


def test_repeated_batch_prefix_words_are_distinct_and_not_repeated(gallery):
    import torch

    ids = gallery.repeated_batch(torch.Generator().manual_seed(1), 3, 4, bos=2, first_word=3, prefix=2)
    assert ids.shape == (3, 11)
    assert torch.equal(ids[:, 3:7], ids[:, 7:11])
    for row in ids[:, 1:7]:
        assert len(set(row.tolist())) == 6  # prefix + first copy: all distinct
    with pytest.raises(ValueError, match="distinct words"):
        gallery.repeated_batch(torch.Generator(), 1, len(gallery.WORDS), bos=2, first_word=3, prefix=1)


def test_model_is_attention_only_with_untied_embeddings(gallery):
    model = gallery.build_model(gallery.build_tokenizer())
    assert all(float(w.abs().sum()) == 0 and not w.requires_grad
               for block in model.transformer.h for w in block.mlp.parameters())
    assert model.lm_head.weight.data_ptr() != model.transformer.wte.weight.data_ptr()


def test_held_out_texts_repeat_their_last_words(gallery):
    texts = gallery.held_out_texts(5, seed=3)
    assert len(texts) == 5 and texts == gallery.held_out_texts(5, seed=3)
    for text in texts:
        words = text.split()
        k = next(k for k in range(gallery.MAX_K, 0, -1) if words[-k:] == words[-2 * k:-k])
        assert k >= 4 and len(set(words[:-k])) == len(words) - k


def _capture_with(attention: np.ndarray, tokens: list[str]) -> Capture:
    return Capture([Example(tokens=tokens, attentions=attention[None, None].astype(np.float32))],
                   layers=[0], heads=[0], num_layers=1, num_heads=1)


def test_induction_scores_of_ideal_heads(gallery):
    tokens = ["<bos>", "a", "b", "c", "a", "b", "c"]
    n = len(tokens)
    previous = np.eye(n, k=-1)
    previous[0, 0] = 1.0
    scores = gallery.induction_scores(_capture_with(previous, tokens))
    assert scores["previous_token"][0, 0] == pytest.approx(1.0)
    induction = np.zeros((n, n))
    induction[:4, 0] = 1.0
    for i in range(4, n):
        induction[i, i - 2] = 1.0  # token after the previous occurrence: i - 3 + 1
    scores = gallery.induction_scores(_capture_with(induction, tokens))
    assert scores["induction"][0, 0] == pytest.approx(1.0)
    assert scores["previous_token"][0, 0] == pytest.approx(1 / 6)  # only query 1 -> key 0


def test_induction_scores_average_over_examples(gallery):
    tokens = ["<bos>", "a", "b", "a", "b"]
    previous = np.eye(5, k=-1)
    previous[0, 0] = 1.0
    uniform = np.tril(np.ones((5, 5))) / np.arange(1, 6)[:, None]
    cap = Capture([Example(tokens=tokens, attentions=a[None, None].astype(np.float32)) for a in (previous, uniform)],
                  layers=[0], heads=[0], num_layers=1, num_heads=1)
    one = [gallery.induction_scores(cap, i) for i in range(2)]
    both = gallery.induction_scores(cap)
    for name in ("previous_token", "induction"):
        assert both[name][0, 0] == pytest.approx((one[0][name][0, 0] + one[1][name][0, 0]) / 2)
    assert one[0]["previous_token"][0, 0] == pytest.approx(1.0)
    assert one[1]["induction"][0, 0] == pytest.approx(np.mean([1 / 4, 1 / 5]))  # queries 3, 4 -> keys 2, 3


def test_induction_scores_need_a_repeat(gallery):
    with pytest.raises(ValueError, match="no token repeats"):
        gallery.induction_scores(_capture_with(np.eye(3), ["x", "y", "z"]))


@pytest.mark.slow
def test_short_training_improves_the_loss_and_saves_a_loadable_model(gallery, tmp_path):
    path = gallery.train_induction_model(tmp_path / "model", seconds_budget=4, seed=0)
    log = json.loads((path / "training.json").read_text())
    assert log["steps"] > 10
    assert log["final_copy_loss"] < log["initial_copy_loss"]
    model, tok = attnviz.load_model(path)
    assert model.config.n_layer == 2 and model.config.n_head == 4
    cap = attnviz.extract_generation(model, gallery.repeated_prompt(6, 2), max_new_tokens=4,
                                     min_new_tokens=4, tokenizer=tok)
    assert cap[0].prompt_length == 9 and len(cap[0].tokens) == 13
    assert gallery.induction_scores(cap)["induction"].shape == (2, 4)
    assert not list(tmp_path.glob(".model.*")), "the staging folder was left behind"


@pytest.mark.slow
def test_training_forms_a_previous_token_head_and_an_induction_head(gallery, induction_model):
    model, tok = attnviz.load_model(induction_model)
    scores = gallery.induction_scores(attnviz.extract(model, gallery.held_out_texts(8), tokenizer=tok))
    plain, plain_tok = _untrained(gallery)
    untrained = gallery.induction_scores(attnviz.extract(plain, gallery.held_out_texts(8), tokenizer=plain_tok))
    assert scores["previous_token"][0].max() > 0.5 > untrained["previous_token"][0].max()
    assert scores["induction"][1].max() > 0.5 > untrained["induction"][1].max()


def _untrained(gallery):
    tok = gallery.build_tokenizer()
    return gallery.build_model(tok, seed=0).eval(), tok


@pytest.mark.slow
def test_knocking_out_the_induction_edge_breaks_copying_and_another_head_does_not(gallery, induction_model):
    model, tok = attnviz.load_model(induction_model)
    texts = gallery.held_out_texts(16)
    scores = gallery.induction_scores(attnviz.extract(model, texts, tokenizer=tok))
    result = gallery.knockout_accuracies(model, tok, texts, scores)
    plain, best, every, other = result["accuracy"].values()
    assert plain > 0.9
    assert every <= 2 * result["chance"] + 0.05      # near chance (or below it: a neighbour is copied)
    assert best < plain - 0.4                        # the best induction head alone carries much of it
    assert other > plain - 0.1                       # the other head of layer 1 does not
    ax = gallery.knockout_figure(result)
    assert [round(float(p.get_height()), 6) for p in ax.patches] == [round(v, 6) for v in result["accuracy"].values()]


def test_copy_accuracy_blocks_only_the_induction_edges(gallery):
    import torch

    from attnviz.extraction.intervene import intervene

    tok = gallery.build_tokenizer()
    model = gallery.build_model(tok, seed=0).eval()
    text = "cat dog sun cat dog sun"
    ids = tok(text)["input_ids"]   # <bos> cat dog sun cat dog sun: queries 4, 5 -> keys 2, 3
    with torch.no_grad(), intervene(model, block={(1, 0): [(4, 2), (5, 3)]}):
        predicted = model(input_ids=torch.tensor([ids])).logits.argmax(-1)[0]
    expected = float(np.mean([int(predicted[i] == ids[i + 1]) for i in (4, 5)]))
    assert gallery.copy_accuracy(model, tok, [text], [(1, 0)]) == expected
