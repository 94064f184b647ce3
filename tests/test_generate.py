"""extract_generation: stitched maps equal one teacher-forced forward pass; state restored; bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import attnviz
from attnviz.generate import extract_generation
from attnviz.modeling import inspection_mode
from attnviz.testing import save_tiny_model, tiny_model

PROMPT = "the cat sat on the mat"
N = 6
TOL = 1e-5


def _stack(maps) -> np.ndarray:
    return torch.stack([m[0] for m in maps]).float().numpy()


def _teacher_forced(model, tok, ex):
    """One forward pass over the final sequence, as training would run it."""
    with inspection_mode(model):
        if ex.decoder_tokens is None:
            ids = torch.tensor([tok.convert_tokens_to_ids(ex.tokens)])
            out = model(input_ids=ids, output_attentions=True, output_hidden_states=True)
            return {"attentions": _stack(out.attentions), "hidden_states": _stack(out.hidden_states)}
        enc = tok(ex.text, return_tensors="pt")
        dec = torch.tensor([tok.convert_tokens_to_ids(ex.decoder_tokens)])
        out = model(**enc, decoder_input_ids=dec, output_attentions=True, output_hidden_states=True)
        return {"attentions": _stack(out.encoder_attentions), "hidden_states": _stack(out.encoder_hidden_states),
                "decoder_attentions": _stack(out.decoder_attentions),
                "cross_attentions": _stack(out.cross_attentions),
                "decoder_hidden_states": _stack(out.decoder_hidden_states)}


def _max_differences(model, tok, ex) -> dict[str, float]:
    ref = _teacher_forced(model, tok, ex)
    diffs = {}
    for name, expected in ref.items():
        got = getattr(ex, name)
        assert got.shape == expected.shape, f"{name}: {got.shape} != {expected.shape}"
        diffs[name] = float(np.abs(got - expected).max())
    return diffs


@pytest.fixture(params=["gpt2", "t5", "bart"])
def lm(request, tiny_gpt2, tiny_t5, tiny_bart):
    return request.param, {"gpt2": tiny_gpt2, "t5": tiny_t5, "bart": tiny_bart}[request.param]


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no-cache"])
def test_stitched_maps_equal_teacher_forced_forward(lm, use_cache):
    kind, (model, tok) = lm
    cap = extract_generation(model, tok, PROMPT, max_new_tokens=N, min_new_tokens=N, use_cache=use_cache)
    ex = cap[0]
    diffs = _max_differences(model, tok, ex)
    print(f"{kind} use_cache={use_cache}: max |stitched - teacher-forced| = {diffs}")
    assert max(diffs.values()) <= TOL, diffs
    assert cap.extra["generation"]["num_generated"] == N
    assert cap.extra["generation"]["use_cache"] is use_cache


def test_decoder_example_fields(tiny_gpt2):
    model, tok = tiny_gpt2
    prompt_ids = tok(PROMPT)["input_ids"]
    ex = extract_generation(model, tok, PROMPT, max_new_tokens=N, min_new_tokens=N)[0]
    total = len(prompt_ids) + N
    assert ex.prompt_length == len(prompt_ids) and ex.is_generated
    assert tok.convert_tokens_to_ids(ex.tokens[:ex.prompt_length]) == prompt_ids
    assert ex.attentions.shape == (2, 4, total, total) and ex.hidden_states.shape == (3, total, 32)
    assert len(ex.display_tokens) == len(ex.special_mask) == total
    np.testing.assert_allclose(ex.attentions.sum(-1), 1.0, atol=1e-5)
    assert np.all(np.triu(ex.attentions, k=1) == 0)  # causal: no row looks ahead
    generated = tok.convert_tokens_to_ids(ex.tokens[ex.prompt_length:])
    assert ex.text == PROMPT and ex.decoder_text == tok.decode(generated, skip_special_tokens=True)


def test_encoder_decoder_example_fields(tiny_t5):
    model, tok = tiny_t5
    cap = extract_generation(model, tok, PROMPT, max_new_tokens=N, min_new_tokens=N)
    ex = cap[0]
    source = tok(PROMPT)["input_ids"]
    assert tok.convert_tokens_to_ids(ex.tokens) == source
    assert tok.convert_tokens_to_ids(ex.decoder_tokens)[0] == model.config.decoder_start_token_id
    assert ex.prompt_length == 1 and len(ex.decoder_tokens) == N + 1
    assert ex.decoder_attentions.shape[2:] == (N + 1, N + 1)
    assert ex.cross_attentions.shape[2:] == (N + 1, len(source))
    np.testing.assert_allclose(ex.cross_attentions.sum(-1), 1.0, atol=1e-5)
    assert cap.is_encoder_decoder and cap.decoder_layers == [0, 1]


def test_agrees_with_extract_on_the_same_ids(tiny_bart):
    model, tok = tiny_bart
    ex = extract_generation(model, tok, PROMPT, max_new_tokens=N, min_new_tokens=N)[0]
    ids = tok.convert_tokens_to_ids(ex.decoder_tokens)
    # extract shifts labels right after the decoder start token: labels = sequence[1:] + [eos]
    ref = attnviz.extract(model, tok, PROMPT, labels=[ids[1:] + [tok.eos_token_id]])[0]
    assert ref.decoder_tokens == ex.decoder_tokens
    for name in ("attentions", "decoder_attentions", "cross_attentions"):
        np.testing.assert_allclose(getattr(ex, name), getattr(ref, name), atol=TOL)


def test_early_stop_on_eos_gives_consistent_sizes(tiny_gpt2):
    model, tok = tiny_gpt2
    first = extract_generation(model, tok, PROMPT, max_new_tokens=3)[0]
    stop = tok.convert_tokens_to_ids(first.tokens[first.prompt_length])
    cap = extract_generation(model, tok, PROMPT, max_new_tokens=5, eos_token_id=stop)
    ex = cap[0]
    assert len(ex.tokens) == ex.prompt_length + 1 == ex.attentions.shape[-1]
    assert cap.extra["generation"]["num_generated"] == 1
    assert max(_max_differences(model, tok, ex).values()) <= TOL


@pytest.mark.parametrize("kind", ["gpt2", "t5"])
def test_sdpa_model_and_training_flag_are_restored(kind):
    model, tok = tiny_model(kind, head="lm")
    model.train()
    assert model.config._attn_implementation == "sdpa"
    cap = extract_generation(model, tok, PROMPT, max_new_tokens=3, min_new_tokens=3)
    assert model.config._attn_implementation == "sdpa" and model.training
    assert cap.attn_implementation == "eager"
    assert cap.extra["original_attn_implementation"] == "sdpa"
    # eval mode was on during generation: dropout would break the equality
    model.eval()
    assert max(_max_differences(model, tok, cap[0]).values()) <= TOL


def test_sampling_with_a_seed_is_reproducible_and_leaves_global_rng(tiny_gpt2):
    model, tok = tiny_gpt2
    state = torch.get_rng_state()
    runs = [extract_generation(model, tok, PROMPT, max_new_tokens=8, min_new_tokens=8, do_sample=True,
                               seed=123, temperature=2.0)[0] for _ in range(2)]
    assert torch.equal(state, torch.get_rng_state())
    assert runs[0].tokens == runs[1].tokens
    np.testing.assert_array_equal(runs[0].attentions, runs[1].attentions)
    assert max(_max_differences(model, tok, runs[0]).values()) <= TOL


def test_dtype_hidden_flag_and_round_trip(tiny_gpt2, tmp_path):
    model, tok = tiny_gpt2
    cap = extract_generation(model, tok, PROMPT, max_new_tokens=3, dtype="float16", hidden_states=False)
    ex = cap[0]
    assert ex.attentions.dtype == np.float16 and ex.hidden_states is None and cap.dtype == "float16"
    back = attnviz.load(cap.save(tmp_path / "gen.safetensors"))
    assert back[0].prompt_length == ex.prompt_length and back[0].decoder_text == ex.decoder_text
    np.testing.assert_array_equal(back[0].attentions, ex.attentions)
    assert back.extra["generation"]["max_new_tokens"] == 3


def test_model_folder_is_loaded(tmp_path):
    path = save_tiny_model("gpt2", tmp_path / "gpt2", head="lm")
    cap = attnviz.extract_generation(str(path), None, PROMPT, max_new_tokens=2, min_new_tokens=2)
    assert cap.model_type == "gpt2" and len(cap[0].tokens) == cap[0].prompt_length + 2


@pytest.mark.parametrize("head", [None, "lm"], ids=["BertModel", "BertForMaskedLM"])
def test_encoder_only_model_is_refused(head):
    model, tok = tiny_model("bert", head=head)
    with pytest.raises(ValueError, match="cannot generate.*decoder"):
        extract_generation(model, tok, PROMPT)


@pytest.mark.parametrize("prompt", ["", "   "])
def test_empty_prompt_is_refused(tiny_gpt2, prompt):
    with pytest.raises(ValueError, match="prompt is empty"):
        extract_generation(*tiny_gpt2, prompt)


@pytest.mark.parametrize("value", [0, -3, 2.5, True])
def test_bad_max_new_tokens_is_refused(tiny_gpt2, value):
    with pytest.raises(ValueError, match="max_new_tokens must be a positive int"):
        extract_generation(*tiny_gpt2, PROMPT, max_new_tokens=value)


@pytest.mark.parametrize("kwargs, match", [
    ({"num_beams": 2}, "beam search"),
    ({"output_attentions": False}, "set by extract_generation"),
    ({"dtype": "int8"}, "dtype"),
    ({"max_new_tokens": 200}, "at most 64 positions"),
])
def test_other_bad_arguments_name_the_fix(tiny_gpt2, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        extract_generation(*tiny_gpt2, PROMPT, **kwargs)


def test_several_prompts_are_refused(tiny_gpt2):
    with pytest.raises(TypeError, match="once per prompt"):
        extract_generation(*tiny_gpt2, ["a", "b"])
