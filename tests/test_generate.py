"""extract_generation: the per-layer teacher-forced pass equals the old ``generate(output_attentions=True)``
maps stitched step by step, and one plain forward pass; layer/head/row subsets; state restored; bad input."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import attnviz
from attnviz.extraction.streaming import query_spec_json, resolve_queries
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


# --- the old path, kept here as the reference: generate(output_attentions=True), stitched --------------
def _stitch_rows(steps, ends, width=None):
    """Stack the query rows of generation steps (each (..., q_s, k_s), ending at position ends[s])."""
    total = ends[-1]
    out = np.zeros(steps[0].shape[:-2] + (total, total if width is None else width), dtype=np.float32)
    filled = 0
    for step, end in zip(steps, ends):
        rows = step.shape[-2]
        out[..., filled:end, :step.shape[-1]] = step[..., rows - (end - filled):, :]  # no cache: rows repeat
        filled = end
    return out


def _old_generation(model, tok, prompt, n, use_cache=True):
    """Every layer's maps of every generate step (eager attention), plus the step that feeds the last token."""
    enc_dec = model.config.is_encoder_decoder
    inputs = tok(prompt, return_tensors="pt")
    with inspection_mode(model):
        out = model.generate(**inputs, max_new_tokens=n, min_new_tokens=n, do_sample=False, num_beams=1,
                             use_cache=use_cache, output_attentions=True, output_hidden_states=True,
                             return_dict_in_generate=True, pad_token_id=tok.pad_token_id or tok.eos_token_id)
        seq = out.sequences[:1]
        cache = getattr(out, "past_key_values", None) if use_cache else None
        feed = seq if cache is None else seq[:, -1:]
        extra = dict(output_attentions=True, output_hidden_states=True, use_cache=cache is not None)
        if cache is not None:  # the forward argument is "cache" in newer transformers
            extra["cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"] = cache
        if enc_dec:
            encoded = model.get_encoder()(**inputs, return_dict=True)
            last = model(encoder_outputs=encoded, attention_mask=inputs["attention_mask"], decoder_input_ids=feed,
                         **extra)
        else:
            last = model(input_ids=feed, attention_mask=torch.ones_like(seq), **extra)
    total = seq.shape[1]
    ends = [int(a[0].shape[-1]) for a in (out.decoder_attentions if enc_dec else out.attentions)] + [total]

    def stitched(steps, final, width=None):
        return _stitch_rows([_stack(s) for s in steps] + [_stack(final)], ends, width)

    ref = {"sequence": seq[0].tolist()}
    if not enc_dec:
        ref["attentions"] = stitched(out.attentions, last.attentions)
        ref["hidden_states"] = stitched(out.hidden_states, last.hidden_states, out.hidden_states[0][0].shape[-1])
        return ref
    ref["attentions"] = _stack(out.encoder_attentions)
    ref["hidden_states"] = _stack(out.encoder_hidden_states)
    ref["decoder_attentions"] = stitched(out.decoder_attentions, last.decoder_attentions)
    ref["cross_attentions"] = stitched(out.cross_attentions, last.cross_attentions, inputs["input_ids"].shape[1])
    ref["decoder_hidden_states"] = stitched(out.decoder_hidden_states, last.decoder_hidden_states,
                                            out.decoder_hidden_states[0][0].shape[-1])
    return ref


@pytest.fixture(scope="module")
def lms():
    cache = {}

    def get(kind):
        if kind not in cache:
            cache[kind] = tiny_model(kind, head="lm")
        return cache[kind]
    return get


MAPS = ("attentions", "decoder_attentions", "cross_attentions")


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no-cache"])
@pytest.mark.parametrize("kind", ["gpt2", "llama", "t5", "bart"])
def test_every_layer_equals_the_old_output_attentions_path(lms, kind, use_cache):
    model, tok = lms(kind)
    ref = _old_generation(model, tok, PROMPT, N, use_cache)
    cap = extract_generation(model, PROMPT, max_new_tokens=N, min_new_tokens=N, use_cache=use_cache, tokenizer=tok)
    ex = cap[0]
    assert cap.attn_implementation == "attnviz" and cap.layers == [0, 1]
    ids = tok.convert_tokens_to_ids(ex.decoder_tokens if cap.is_encoder_decoder else ex.tokens)
    assert ids == ref["sequence"], "the same tokens were generated"
    diffs = {}
    for name, expected in ref.items():
        if name == "sequence":
            continue
        got = getattr(ex, name)
        assert got.shape == expected.shape, f"{name}: {got.shape} != {expected.shape}"
        diffs[name] = float(np.abs(got - expected).max())
    print(f"{kind} use_cache={use_cache}: max |per-layer - old stitched| = {diffs}")
    assert max(v for k, v in diffs.items() if k in MAPS) <= 1e-6, diffs
    assert max(diffs.values()) <= TOL, diffs


_FULL: dict = {}


def _full_and(model, tok, **options):
    """The full result (computed once per model) and the one with ``options``, same tokens."""
    if id(model) not in _FULL:  # the model is kept too, so that its id is not reused
        _FULL[id(model)] = model, extract_generation(model, PROMPT, max_new_tokens=N, min_new_tokens=N, tokenizer=tok)
    full = _FULL[id(model)][1]
    part = extract_generation(model, PROMPT, max_new_tokens=N, min_new_tokens=N, **options, tokenizer=tok)
    assert part[0].tokens == full[0].tokens and part[0].decoder_tokens == full[0].decoder_tokens
    return full, part


@pytest.mark.parametrize("kind", ["gpt2", "llama", "t5"])
def test_kept_layers_and_heads_are_slices_of_the_full_result(lms, kind):
    full, part = _full_and(*lms(kind), layers=[1], heads=[0, 3])
    assert part.layers == [1] and part.heads == [0, 3]
    for name in MAPS:
        whole = getattr(full[0], name)
        if whole is not None:
            np.testing.assert_allclose(getattr(part[0], name), whole[[1]][:, [0, 3]], atol=1e-6, rtol=0)
    np.testing.assert_allclose(part[0].hidden_states, full[0].hidden_states, atol=1e-6, rtol=0)
    assert part.extra["generation"] == full.extra["generation"]
    assert part[0].prompt_length == full[0].prompt_length and part[0].decoder_text == full[0].decoder_text


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
@pytest.mark.parametrize("queries", ["last", [0, -1, 3], slice(2, 6), -2])
def test_query_rows_are_rows_of_the_full_result(lms, kind, queries):
    full, part = _full_and(*lms(kind), queries=queries, layers=[0])
    rows = resolve_queries(queries, len(full[0].tokens))
    assert part[0].query_positions == rows and part.queries == query_spec_json(queries)
    np.testing.assert_allclose(part[0].attentions, full[0].attentions[[0]][:, :, rows], atol=1e-6, rtol=0)


@pytest.mark.parametrize("how", ["mean", "max"])
def test_reduce_heads(lms, how):
    full, part = _full_and(*lms("llama"), reduce_heads=how, heads=[1, 2], queries="last")
    sub = full[0].attentions[:, [1, 2]][:, :, -1:]
    want = sub.mean(1, keepdims=True) if how == "mean" else sub.max(1, keepdims=True)
    np.testing.assert_allclose(part[0].attentions, want, atol=1e-6, rtol=0)
    assert part.reduce_heads == how


def test_only_the_kept_layer_ever_computes_weights(lms, monkeypatch):
    """Neither generate (own sdpa, no output_attentions) nor the pass over the sequence computes others."""
    import transformers.models.llama.modeling_llama as llama

    from attnviz.extraction import direct

    model, tok = lms("llama")
    seen, written, asked = [], [], []
    eager = llama.eager_attention_forward
    monkeypatch.setattr(llama, "eager_attention_forward",
                        lambda module, *a, **k: seen.append(module.layer_idx) or eager(module, *a, **k))
    real = direct.write_weights
    monkeypatch.setattr(direct, "write_weights", lambda s, site, *a, **k: written.append(site) or real(s, site, *a, **k))
    generate = model.generate
    monkeypatch.setattr(model, "generate", lambda *a, **k: asked.append(k["output_attentions"]) or generate(*a, **k))
    cap = extract_generation(model, PROMPT, max_new_tokens=N, layers=[1], heads=[0], tokenizer=tok)
    assert cap.layers == [1] and seen and set(seen) == {1} and not written
    assert asked == [False]
    seen.clear()
    extract_generation(model, PROMPT, max_new_tokens=N, layers=[0], tokenizer=tok)  # every head: written in place
    assert set(written) == {("self", 0)} and set(seen) <= {0}


def test_queries_past_the_end_of_an_early_stop_name_the_cause(tiny_gpt2):
    model, tok = tiny_gpt2
    first = extract_generation(model, PROMPT, max_new_tokens=2, tokenizer=tok)[0]
    stop = tok.convert_tokens_to_ids(first.tokens[first.prompt_length])
    n = len(first.tokens) - 1  # the final sequence when generation stops at once
    with pytest.raises(ValueError, match="generation stopped after 1 new token"):
        extract_generation(model, PROMPT, max_new_tokens=5, eos_token_id=stop, queries=[n + 2], tokenizer=tok)


@pytest.mark.parametrize("options, message", [
    (dict(layers=[2]), "layer 2 is out of range"),
    (dict(heads=[]), "heads= is empty"),
    (dict(queries="first"), "use 'last'"),
    (dict(queries=[40]), "query position 40 is out of range"),
    (dict(reduce_heads="median"), "reduce_heads='median'"),
])
def test_bad_selection_fails_before_generating(tiny_gpt2, options, message, monkeypatch):
    model, tok = tiny_gpt2
    monkeypatch.setattr(model, "generate", lambda *a, **k: pytest.fail("generate ran before the checks"))
    with pytest.raises((ValueError, TypeError), match=message):
        extract_generation(model, PROMPT, max_new_tokens=N, **options, tokenizer=tok)


def test_queries_are_refused_for_encoder_decoder_models(tiny_t5):
    with pytest.raises(ValueError, match="not supported for encoder-decoder"):
        extract_generation(*tiny_t5, PROMPT, max_new_tokens=2, queries="last")


@pytest.fixture(params=["gpt2", "t5", "bart"])
def lm(request, tiny_gpt2, tiny_t5, tiny_bart):
    return request.param, {"gpt2": tiny_gpt2, "t5": tiny_t5, "bart": tiny_bart}[request.param]


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no-cache"])
def test_stitched_maps_equal_teacher_forced_forward(lm, use_cache):
    kind, (model, tok) = lm
    cap = extract_generation(model, PROMPT, max_new_tokens=N, min_new_tokens=N, use_cache=use_cache, tokenizer=tok)
    ex = cap[0]
    diffs = _max_differences(model, tok, ex)
    print(f"{kind} use_cache={use_cache}: max |stitched - teacher-forced| = {diffs}")
    assert max(diffs.values()) <= TOL, diffs
    assert cap.extra["generation"]["num_generated"] == N
    assert cap.extra["generation"]["use_cache"] is use_cache


def test_decoder_example_fields(tiny_gpt2):
    model, tok = tiny_gpt2
    prompt_ids = tok(PROMPT)["input_ids"]
    ex = extract_generation(model, PROMPT, max_new_tokens=N, min_new_tokens=N, tokenizer=tok)[0]
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
    cap = extract_generation(model, PROMPT, max_new_tokens=N, min_new_tokens=N, tokenizer=tok)
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
    ex = extract_generation(model, PROMPT, max_new_tokens=N, min_new_tokens=N, tokenizer=tok)[0]
    ids = tok.convert_tokens_to_ids(ex.decoder_tokens)
    # extract shifts labels right after the decoder start token: labels = sequence[1:] + [eos]
    ref = attnviz.extract(model, PROMPT, labels=[ids[1:] + [tok.eos_token_id]], tokenizer=tok)[0]
    assert ref.decoder_tokens == ex.decoder_tokens
    for name in ("attentions", "decoder_attentions", "cross_attentions"):
        np.testing.assert_allclose(getattr(ex, name), getattr(ref, name), atol=TOL)


def test_early_stop_on_eos_gives_consistent_sizes(tiny_gpt2):
    model, tok = tiny_gpt2
    first = extract_generation(model, PROMPT, max_new_tokens=3, tokenizer=tok)[0]
    stop = tok.convert_tokens_to_ids(first.tokens[first.prompt_length])
    cap = extract_generation(model, PROMPT, max_new_tokens=5, eos_token_id=stop, tokenizer=tok)
    ex = cap[0]
    assert len(ex.tokens) == ex.prompt_length + 1 == ex.attentions.shape[-1]
    assert cap.extra["generation"]["num_generated"] == 1
    assert max(_max_differences(model, tok, ex).values()) <= TOL


@pytest.mark.parametrize("kind", ["gpt2", "t5"])
def test_sdpa_model_and_training_flag_are_restored(kind):
    model, tok = tiny_model(kind, head="lm")
    model.train()
    assert model.config._attn_implementation == "sdpa"
    cap = extract_generation(model, PROMPT, max_new_tokens=3, min_new_tokens=3, tokenizer=tok)
    assert model.config._attn_implementation == "sdpa" and model.training
    assert cap.attn_implementation == "attnviz"  # the maps come from the per-layer pass
    assert cap.extra["original_attn_implementation"] == "sdpa"
    # eval mode was on during generation: dropout would break the equality
    model.eval()
    assert max(_max_differences(model, tok, cap[0]).values()) <= TOL


def test_sampling_with_a_seed_is_reproducible_and_leaves_global_rng(tiny_gpt2):
    model, tok = tiny_gpt2
    state = torch.get_rng_state()
    runs = [extract_generation(model, PROMPT, max_new_tokens=8, min_new_tokens=8, do_sample=True,
                               seed=123, temperature=2.0, tokenizer=tok)[0] for _ in range(2)]
    assert torch.equal(state, torch.get_rng_state())
    assert runs[0].tokens == runs[1].tokens
    np.testing.assert_array_equal(runs[0].attentions, runs[1].attentions)
    assert max(_max_differences(model, tok, runs[0]).values()) <= TOL


def test_dtype_hidden_flag_and_round_trip(tiny_gpt2, tmp_path):
    model, tok = tiny_gpt2
    cap = extract_generation(model, PROMPT, max_new_tokens=3, dtype="float16", hidden_states=False, tokenizer=tok)
    ex = cap[0]
    assert ex.attentions.dtype == np.float16 and ex.hidden_states is None and cap.dtype == "float16"
    back = attnviz.load(cap.save(tmp_path / "gen.safetensors"))
    assert back[0].prompt_length == ex.prompt_length and back[0].decoder_text == ex.decoder_text
    np.testing.assert_array_equal(back[0].attentions, ex.attentions)
    assert back.extra["generation"]["max_new_tokens"] == 3


def test_model_folder_is_loaded(tmp_path):
    path = save_tiny_model("gpt2", tmp_path / "gpt2", head="lm")
    cap = attnviz.extract_generation(str(path), PROMPT, max_new_tokens=2, min_new_tokens=2, tokenizer=None)
    assert cap.model_type == "gpt2" and len(cap[0].tokens) == cap[0].prompt_length + 2


@pytest.mark.parametrize("head", [None, "lm"], ids=["BertModel", "BertForMaskedLM"])
def test_encoder_only_model_is_refused(head):
    model, tok = tiny_model("bert", head=head)
    with pytest.raises(ValueError, match="cannot generate.*decoder"):
        extract_generation(model, PROMPT, tokenizer=tok)


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
