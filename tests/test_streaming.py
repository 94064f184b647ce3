"""Per-layer capture (attnviz.extraction.streaming) equals the output_attentions=True path, family by family."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import attnviz
from attnviz.extraction import streaming
from attnviz.extraction.batching import BatchRunner, StreamingUnavailable
from attnviz.testing import TINY_FAMILIES, TINY_LLM_FAMILIES, tiny_model

TEXTS = ["The cat sat on the mat and looked at the dog.", "Hello world!",
         "A quick brown fox jumps over the lazy dog today, again and again."]
SEQ2SEQ = ("bart", "t5")


@pytest.fixture(scope="module")
def models():
    cache = {}

    def get(kind):
        if kind not in cache:
            cache[kind] = tiny_model(kind, head="lm" if kind in TINY_LLM_FAMILIES + SEQ2SEQ else None)
        return cache[kind]
    return get


def eager_extract(model, tok, texts, **kwargs):
    """Today's path: output_attentions=True under eager attention, forced."""
    def refuse(self, *args):
        raise StreamingUnavailable("forced by the test")

    original = BatchRunner._forward_streaming
    BatchRunner._forward_streaming = refuse
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return attnviz.extract(model, texts, **kwargs, tokenizer=tok)
    finally:
        BatchRunner._forward_streaming = original


def _options(kind):
    return {"decoder_texts": ["le chat noir", "bonjour", "un renard"]} if kind in SEQ2SEQ else {}


def assert_same(new, old):
    fields = ["attentions", "decoder_attentions", "cross_attentions"]
    for a, b in zip(new, old, strict=True):
        for name in fields:
            x, y = getattr(a, name), getattr(b, name)
            assert (x is None) == (y is None), name
            if x is not None:
                assert x.shape == y.shape, name
                np.testing.assert_allclose(x, y, atol=1e-6, rtol=0, err_msg=name)
        assert a.hidden_states is not None, "extract keeps hidden states by default: compare them"
        for name in ("hidden_states", "decoder_hidden_states"):
            x, y = getattr(a, name), getattr(b, name)
            assert (x is None) == (y is None), name
            if x is not None:
                assert x.shape == y.shape, name
                np.testing.assert_allclose(x, y, atol=1e-5, rtol=0, err_msg=name)


@pytest.mark.parametrize("kind", TINY_FAMILIES + TINY_LLM_FAMILIES)
def test_every_layer_equals_output_attentions(models, kind):
    model, tok = models(kind)
    new = attnviz.extract(model, TEXTS, batch_size=3, **_options(kind), tokenizer=tok)
    old = eager_extract(model, tok, TEXTS, batch_size=3, **_options(kind))
    assert new.attn_implementation == "attnviz" and old.attn_implementation == "eager"
    assert_same(new, old)


@pytest.mark.parametrize("kind", TINY_FAMILIES + TINY_LLM_FAMILIES)
def test_kept_layer_and_heads_equal_output_attentions(models, kind):
    model, tok = models(kind)
    options = dict(batch_size=2, layers=[1], heads=[0, 3], **_options(kind))
    new = attnviz.extract(model, TEXTS, **options, tokenizer=tok)
    old = eager_extract(model, tok, TEXTS, **options)
    assert new.layers == [1] and new.heads == [0, 3] and new[0].attentions.shape[:2] == (1, 2)
    assert_same(new, old)


@pytest.mark.parametrize("kind", ["gpt2", "llama", "mistral", "gemma2", "bert"])
@pytest.mark.parametrize("queries, side", [("last", "right"), ([0, -1, 3], "left"), (slice(2, 6), "right")])
def test_query_rows_equal_the_rows_of_the_full_map(models, kind, queries, side):
    model, tok = models(kind)
    new = attnviz.extract(model, TEXTS, batch_size=3, queries=queries, padding_side=side, tokenizer=tok)
    full = eager_extract(model, tok, TEXTS, batch_size=3, padding_side=side)
    assert new.queries == streaming.query_spec_json(queries)
    for a, b in zip(new, full, strict=True):
        rows = streaming.resolve_queries(queries, b.num_tokens)
        assert a.query_positions == rows
        np.testing.assert_allclose(a.attentions, b.attentions[:, :, rows], atol=1e-6, rtol=0)
        assert a.axis_tokens()[0] == [b.display_tokens[r] for r in rows]


@pytest.mark.parametrize("how", ["mean", "max"])
def test_reduce_heads_as_each_layer_is_computed(models, how):
    model, tok = models("llama")
    new = attnviz.extract(model, TEXTS, reduce_heads=how, heads=[1, 2, 3], queries="last", tokenizer=tok)
    full = eager_extract(model, tok, TEXTS)
    for a, b in zip(new, full, strict=True):
        sub = b.attentions[:, [1, 2, 3]][:, :, -1:]
        want = sub.mean(1, keepdims=True) if how == "mean" else sub.max(1, keepdims=True)
        np.testing.assert_allclose(a.attentions, want, atol=1e-6, rtol=0)
    assert new.reduce_heads == how and new.heads == [1, 2, 3]
    with pytest.raises(ValueError, match=f"plot it with head='{how}'"):
        new.head_position(1)


def test_only_the_kept_layer_computes_weights(models, monkeypatch):
    model, tok = models("llama")
    seen = []
    original = streaming._eager_call

    def counting(module, *args, **kwargs):
        seen.append(module.layer_idx)
        return original(module, *args, **kwargs)

    monkeypatch.setattr(streaming, "_eager_call", counting)
    cap = attnviz.extract(model, TEXTS, layers=[1], heads=[0], tokenizer=tok)
    assert cap.layers == [1] and seen and set(seen) == {1}


def test_blocks_over_queries_give_the_same_weights(models, monkeypatch):
    model, tok = models("gpt2")
    whole = attnviz.extract(model, TEXTS, batch_size=3, tokenizer=tok)
    monkeypatch.setattr(streaming, "BLOCK_BYTES", 64)  # a few rows per block
    blocked = attnviz.extract(model, TEXTS, batch_size=3, tokenizer=tok)
    assert_same(blocked, whole)


def test_the_original_attention_implementation_is_restored(models):
    model, tok = models("llama")
    before = model.config._attn_implementation
    attnviz.extract(model, TEXTS[:1], layers=[0], tokenizer=tok)
    assert model.config._attn_implementation == before


@pytest.mark.parametrize("options, message", [
    (dict(queries=[40]), "query position 40 is out of range"),
    (dict(queries=["a"]), "positions must be ints"),
    (dict(queries="first"), "use 'last'"),
    (dict(queries=slice(30, 40)), "keeps no row"),
    (dict(reduce_heads="median"), "reduce_heads='median'"),
    (dict(heads=[], reduce_heads="mean"), "heads= is empty"),
])
def test_bad_row_options_fail_before_the_model_runs(models, options, message):
    model, tok = models("gpt2")
    with pytest.raises((ValueError, TypeError), match=message):
        attnviz.extract(model, TEXTS, **options, tokenizer=tok)


def test_queries_are_refused_for_encoder_decoder_models(models):
    model, tok = models("t5")
    with pytest.raises(ValueError, match="not supported for encoder-decoder"):
        attnviz.extract(model, "the cat", decoder_texts="le chat", queries="last", tokenizer=tok)


def test_query_rows_survive_save_and_load(models, tmp_path):
    model, tok = models("gpt2")
    cap = attnviz.extract(model, TEXTS, queries=[0, -1], reduce_heads="mean", tokenizer=tok)
    back = attnviz.load(cap.save(tmp_path / "c.safetensors"))
    assert back.queries == [0, -1] and back.reduce_heads == "mean"
    assert back[2].query_positions == cap[2].query_positions
    np.testing.assert_array_equal(back[2].attentions, cap[2].attentions)


def test_plots_label_kept_rows_and_square_only_metrics_refuse(models):
    model, tok = models("gpt2")
    cap = attnviz.extract(model, TEXTS[:1], queries=[0, -1], tokenizer=tok)
    ax = attnviz.plot.token_heatmap(cap, layer=1, head=2)
    ex = cap[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [ex.display_tokens[0], ex.display_tokens[-1]]
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), ex.attentions[1, 2], atol=1e-6)
    with pytest.raises(ValueError, match="needs every query row"):
        attnviz.metrics.rollout(cap)
    with pytest.raises(ValueError, match="needs every query row"):
        attnviz.metrics.head_stats(cap)


@pytest.mark.parametrize("kind", ["llama", "qwen2", "mistral", "bert", "gpt_neox"])
def test_plain_families_write_weights_in_place_and_equal_eager(models, kind, monkeypatch):
    from attnviz.extraction import direct

    model, tok = models(kind)
    monkeypatch.setattr(direct, "_CHECKED", {})
    calls = []
    real = direct.write_weights
    monkeypatch.setattr(direct, "write_weights", lambda *a, **k: calls.append(1) or real(*a, **k))
    new = attnviz.extract(model, TEXTS, batch_size=3, padding_side="left" if kind != "bert" else "right", tokenizer=tok)
    old = eager_extract(model, tok, TEXTS, batch_size=3)
    assert len(calls) == model.config.num_hidden_layers  # every layer took the in-place path
    assert list(direct._CHECKED.values()) == [True]  # checked once against the family's eager function
    assert_same(new, old)


def test_a_class_that_fails_its_check_uses_the_eager_blocks(models, monkeypatch):
    from attnviz.extraction import direct

    model, tok = models("llama")
    monkeypatch.setattr(direct, "_CHECKED", {})
    monkeypatch.setattr(direct, "TOLERANCE", -1.0)  # no formula can pass: the check must refuse it
    new = attnviz.extract(model, TEXTS, batch_size=3, tokenizer=tok)
    assert list(direct._CHECKED.values()) == [False]
    assert_same(new, eager_extract(model, tok, TEXTS, batch_size=3))


@pytest.mark.parametrize("kind", ["gemma2", "t5"])
def test_soft_capping_and_position_bias_never_take_the_in_place_path(models, kind, monkeypatch):
    from attnviz.extraction import direct

    model, tok = models(kind)
    monkeypatch.setattr(direct, "write_weights", lambda *a, **k: pytest.fail("in-place path taken"))
    attnviz.extract(model, TEXTS[:1], **({"decoder_texts": ["le chat"]} if kind == "t5" else {}), tokenizer=tok)


@pytest.mark.parametrize("options", [dict(layers=[0, 1]), dict(queries="last"), dict(layers=[1], heads=[0, 2])])
def test_accelerator_path_pins_copies_without_waiting_and_waits_once_per_layer(monkeypatch, options):
    """The accelerator path's logic on the CPU: the device is said not to be host memory."""
    import torch

    import attnviz
    from attnviz.extraction import streaming

    model, tok = tiny_model("gpt2")
    text = "the cat sat on the mat"
    expected = attnviz.extract(model, text, tokenizer=tok, hidden_states=False, **options)[0].attentions
    pinned, copies, syncs = [], [], []
    real_copy = torch.Tensor.copy_

    def copy_(self, src, non_blocking=False):
        copies.append(non_blocking)
        return real_copy(self, src, non_blocking=non_blocking)

    monkeypatch.setattr(streaming, "_on_host", lambda device: False)
    monkeypatch.setattr(streaming, "_host_buffer",
                        lambda shape, dtype, pin: pinned.append(pin) or torch.empty(shape, dtype=dtype))
    monkeypatch.setattr(streaming, "_synchronize", lambda device: syncs.append(device))
    monkeypatch.setattr(torch.Tensor, "copy_", copy_)
    got = attnviz.extract(model, text, tokenizer=tok, hidden_states=False, **options)[0].attentions
    monkeypatch.undo()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert pinned == [True]                              # one example: one pinned array
    assert copies and all(copies)                        # every block copied without waiting
    assert len(syncs) == len(options.get("layers", [0, 1]))  # one wait per kept layer


def test_the_pass_stops_after_the_last_kept_layer_when_nothing_later_is_read():
    model, tok = tiny_model("gpt2", head="lm")
    ran = []
    handle = model.transformer.h[1].register_forward_hook(lambda *a: ran.append(1))
    try:
        full = attnviz.extract(model, "the cat sat on the mat", tokenizer=tok, layers=[0])        # hidden states kept
        assert ran, "with hidden states every layer runs"
        ran.clear()
        early = attnviz.extract(model, "the cat sat on the mat", tokenizer=tok, layers=[0], hidden_states=False)
        assert not ran, "layer 1 is never run when only layer 0's maps are kept"
    finally:
        handle.remove()
    np.testing.assert_array_equal(early[0].attentions, full[0].attentions)


def test_copies_to_a_strided_host_target_go_head_by_head_into_contiguous_pieces(monkeypatch):
    """A block of some query rows is strided by head in the kept array: torch would copy it through
    a pageable temporary (and wait), so each head's rows are copied on their own."""
    import torch

    kept = torch.zeros(4, 10, 6)
    target = kept[:, 2:5]                                  # rows 2..4 of every head: not contiguous
    block = torch.randn(4, 3, 8)[..., 1:7]                 # the device block, keys cut: not contiguous
    copies = []
    real_copy = torch.Tensor.copy_

    def copy_(self, src, non_blocking=False):
        copies.append((self.is_contiguous(), non_blocking))
        return real_copy(self, src, non_blocking=non_blocking)

    monkeypatch.setattr(torch.Tensor, "copy_", copy_)
    streaming._copy_to_host(target, block)
    monkeypatch.undo()
    assert copies == [(True, True)] * 4
    assert torch.equal(kept[:, 2:5], block) and not kept[:, :2].any() and not kept[:, 5:].any()


def test_ungrouped_module_with_repeated_keys_gives_the_grouped_output():
    """The GPU float32 path of grouped-query layers (keys and values repeated, the module seen as
    ungrouped) computes what transformers' sdpa computes with the groups."""
    import torch
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    model, _ = tiny_model("llama")
    attn = model.layers[0].self_attn
    groups = attn.num_key_value_groups
    assert groups > 1
    q, k, v = torch.randn(1, 4, 7, 16), torch.randn(1, 4 // groups, 7, 16), torch.randn(1, 4 // groups, 7, 16)
    want = sdpa_attention_forward(attn, q, k, v, None, scaling=0.25)[0]
    got = sdpa_attention_forward(streaming._Ungrouped(attn), q, repeat_kv(k, groups), repeat_kv(v, groups), None,
                                 scaling=0.25)[0]
    torch.testing.assert_close(got, want)
    assert streaming._Ungrouped(attn).is_causal == attn.is_causal
