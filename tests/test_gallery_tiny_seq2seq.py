"""gallery/tiny_seq2seq.py: the tokenizer, the task, the alignment score and a short training run."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import attnviz
from attnviz.capture import Capture, Example

SCRIPT = Path(__file__).resolve().parents[1] / "gallery" / "tiny_seq2seq.py"  # the `gallery` fixture (tests/conftest.py) imports it


def test_tokenizer_wraps_words_like_bart(gallery):
    tok = gallery.build_tokenizer()
    ids = tok("cat dog sun")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["<s>", "cat", "dog", "sun", "</s>"]
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id) == (0, 1, 2)
    assert tok.decode(ids, skip_special_tokens=True) == "cat dog sun"
    assert tok.convert_ids_to_tokens(tok("cat zebra")["input_ids"])[2] == "<unk>"


def test_batches_are_distinct_words_and_skip_excluded_rows(gallery):
    rng = np.random.default_rng(0)
    first = len(gallery.SPECIALS)
    rows = gallery.reversal_batch(rng, 16, 6, first)
    assert rows.shape == (16, 6) and rows.min() >= first
    assert all(len(set(r)) == 6 for r in rows.tolist())
    banned = {tuple(r) for r in gallery.reversal_batch(np.random.default_rng(1), 8, 4, first).tolist()}
    again = gallery.reversal_batch(np.random.default_rng(1), 8, 4, first, banned)
    assert not {tuple(r) for r in again.tolist()} & banned
    assert gallery.reverse_text("a b c") == "c b a"
    held = gallery.held_out_sources(50)
    assert len(set(held)) == 50 and all(4 <= len(s.split()) <= 10 for s in held)


def _cross_capture(cross: np.ndarray, source: list[str], decoder: list[str]) -> Capture:
    ex = Example(tokens=source, decoder_tokens=decoder, cross_attentions=cross.astype(np.float32))
    return Capture([ex], num_layers=1, num_heads=cross.shape[1], layers=[0], heads=list(range(cross.shape[1])),
                   decoder_layers=list(range(cross.shape[0])), is_encoder_decoder=True)


def test_alignment_score_of_an_ideal_and_a_uniform_map(gallery):
    source = ["<s>", "a", "b", "c", "</s>"]
    decoder = ["</s>", "<s>", "c", "b", "a"]  # teacher-forced input: start token + <s> c b a
    ideal = np.zeros((len(decoder), len(source)))
    for q, j in gallery.alignment_pairs(Example(tokens=source, decoder_tokens=decoder)):
        ideal[q, j] = 1.0
    ideal[ideal.sum(1) == 0, -1] = 1.0
    uniform = np.full_like(ideal, 1 / len(source))
    # layer 0 uniform, layer 1 ideal in head 0 and uniform in head 1
    cross = np.stack([np.stack([uniform, uniform]), np.stack([ideal, uniform])])
    score = gallery.alignment_score(_cross_capture(cross, source, decoder))
    assert score == pytest.approx([1 / len(source), (1 + 1 / len(source)) / 2])
    pairs = gallery.alignment_pairs(Example(tokens=source, decoder_tokens=decoder))
    assert pairs == [(1, 3), (2, 2), (3, 1)]  # row q -> the source position of decoder token q + 1
    assert gallery.alignment_pairs(Example(tokens=source, decoder_tokens=decoder), target="input") == \
        [(2, 3), (3, 2), (4, 1)]


def test_alignment_score_errors_name_the_fix(gallery):
    with pytest.raises(ValueError, match="no decoder row has an aligned source word"):
        gallery.alignment_score(_cross_capture(np.ones((1, 1, 2, 2)) / 2, ["x", "y"], ["p", "q"]))
    with pytest.raises(ValueError, match="use 'predicted'"):
        gallery.alignment_pairs(Example(tokens=["a"], decoder_tokens=["a"]), target="diagonal")
    with pytest.raises(ValueError, match="no decoder side"):
        gallery.alignment_pairs(Example(tokens=["a"]))


@pytest.mark.slow
def test_short_training_lowers_the_loss_and_saves_a_loadable_model(gallery, tmp_path):
    import torch

    threads = torch.get_num_threads()
    path = gallery.train_reversal_model(tmp_path / "model", seconds_budget=10, seed=0)
    assert torch.get_num_threads() == threads, "the torch thread count was not restored"
    assert not list(tmp_path.glob(".model.*")), "the staging folder was left behind"
    log = json.loads((path / "training.json").read_text())
    assert log["steps"] > 10 and log["seconds"] > 0
    assert log["final_loss"] < log["initial_loss"]
    assert 0.0 <= log["exact_match"] <= 1.0 and log["held_out"] == gallery.HELD_OUT
    model, tok = attnviz.load_model(path)
    assert type(model).__name__ == "BartForConditionalGeneration"
    assert (model.config.encoder_layers, model.config.decoder_layers, model.config.d_model) == (2, 2, 64)
    sources = gallery.held_out_sources(3)
    cap = attnviz.extract(model, sources, decoder_texts=[gallery.reverse_text(s) for s in sources], tokenizer=tok)
    for ex, source in zip(cap, sources, strict=True):
        n = len(source.split())
        assert ex.tokens == ["<s>", *source.split(), "</s>"]
        assert ex.decoder_tokens == ["</s>", "<s>", *gallery.reverse_text(source).split()]
        assert ex.cross_attentions.shape == (2, 4, n + 2, n + 2)  # layer, head, decoder x encoder
        np.testing.assert_allclose(ex.cross_attentions.sum(-1), 1.0, atol=1e-5)
    score = gallery.alignment_score(cap)
    assert score.shape == (2,) and np.all((score >= 0) & (score <= 1))
    gen = attnviz.extract_generation(model, sources[0], max_new_tokens=4, min_new_tokens=4, tokenizer=tok)
    assert gen[0].cross_attentions.shape[2:] == (len(gen[0].decoder_tokens), len(sources[0].split()) + 2)
