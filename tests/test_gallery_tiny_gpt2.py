"""gallery/tiny_gpt2.py: the tokenizer, the training run (short budget) and the head scores."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import attnviz
from attnviz.capture import Capture, Example

SCRIPT = Path(__file__).resolve().parents[1] / "gallery" / "tiny_gpt2.py"


@pytest.fixture(scope="module")
def gallery():
    spec = importlib.util.spec_from_file_location("gallery_tiny_gpt2", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    cap = attnviz.extract_generation(model, tok, gallery.repeated_prompt(6, 2), max_new_tokens=4,
                                     min_new_tokens=4)
    assert cap[0].prompt_length == 9 and len(cap[0].tokens) == 13
    assert gallery.induction_scores(cap)["induction"].shape == (2, 4)
    assert not list(tmp_path.glob(".model.*")), "the staging folder was left behind"
