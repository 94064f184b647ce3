"""attnviz.intervene: edited forwards against a hand-written eager attention with the same edits."""
from __future__ import annotations

import pytest
import torch

import attnviz
from attnviz.extraction import streaming
from attnviz.extraction.intervene import RowEdits, intervene, intervene_rows
from attnviz.testing import tiny_model

TEXTS = ["the cat sat on the mat today", "a dog ran"]
REF = "attnviz_test_reference"


def _reference(edits):
    """An attention function written out by hand: scores, masks, the edits, softmax, values."""
    def forward(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
        kind, layer = SITES[id(module)]
        heads, tq, tk = query.shape[1], query.shape[2], key.shape[2]
        groups = heads // key.shape[1]
        k = key.repeat_interleave(groups, 1)
        v = value.repeat_interleave(groups, 1)
        scores = query.float() @ k.float().transpose(-1, -2) * (scaling if scaling is not None else query.shape[-1] ** -0.5)
        if kwargs.get("position_bias") is not None:
            scores = scores + kwargs["position_bias"]
        masked = torch.zeros(scores.shape, dtype=torch.bool)
        if attention_mask is not None:
            m = attention_mask[..., :tk]
            masked = masked | (~m if m.dtype == torch.bool else m <= torch.finfo(m.dtype).min / 2)
        elif getattr(module, "is_causal", False) and tq > 1:
            masked = masked | (torch.arange(tk)[None, :] > torch.arange(tq)[:, None])
        before = masked.all(-1, keepdim=True)
        for (knd, lay, head), edges in edits.items():
            if (knd, lay) != (kind, layer):
                continue
            hs = range(heads) if head is None else [head]
            for h in hs:
                if edges == "all":
                    masked[:, h] = True
                for q, kk in ([] if edges == "all" else edges):
                    masked[:, h, q, kk] = True
        weights = torch.softmax(scores.masked_fill(masked, float("-inf")), -1)
        weights = torch.where(masked.all(-1, keepdim=True) & ~before, 0.0, weights)
        weights = torch.nan_to_num(weights)
        return (weights @ v.float()).to(query.dtype).transpose(1, 2).contiguous(), weights
    return forward


SITES: dict[int, tuple[str, int]] = {}


def _run_reference(model, batch, edits):
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    SITES.clear()
    for name, module in model.named_modules():
        site = streaming._module_site(name, module)
        if site is not None:
            SITES[id(module)] = site
    AttentionInterface.register(REF, _reference(edits))
    ALL_MASK_ATTENTION_FUNCTIONS.register(REF, sdpa_mask)
    original = model.config._attn_implementation
    model.set_attn_implementation(REF)
    try:
        with torch.no_grad():
            return model(**batch).logits
    finally:
        model.set_attn_implementation(original)


def _batch(model, tok, family):
    tok.padding_side = "right"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    batch = dict(tok(TEXTS, return_tensors="pt", padding=True))
    batch.pop("token_type_ids", None) if family != "bert" else None
    if model.config.is_encoder_decoder:
        dec = tok(["le chat est", "un"], return_tensors="pt", padding=True)
        batch["decoder_input_ids"] = dec["input_ids"]
        batch["decoder_attention_mask"] = dec["attention_mask"]
    return batch


CASES = {
    "bert": ("lm", {("self", 1, None): [(0, 1), (0, 2)], ("self", 0, 2): [(3, 3), (1, 0)]}),
    "gpt2": ("lm", {("self", 0, None): [(5, 4), (5, 0)], ("self", 1, 1): [(6, 6)], ("self", 1, 3): "all"}),
    "llama": ("lm", {("self", 1, None): [(6, 0), (6, 5)], ("self", 0, 3): [(2, 1)]}),
    "mistral": ("lm", {("self", 1, None): [(6, 4), (6, 5)], ("self", 0, 0): [(6, 3), (6, 6)]}),
    "t5": ("lm", {("self", 1, None): [(2, 0)], ("decoder", 0, 1): [(2, 1)], ("cross", 1, None): [(1, 0), (2, 3)],
                  ("cross", 0, 2): "all"}),
    "bart": ("lm", {("self", 0, None): [(0, 1)], ("decoder", 1, 3): [(2, 0)], ("cross", 0, 1): [(1, 2), (0, 0)]}),
}


@pytest.mark.parametrize("family", list(CASES))
def test_knockout_equals_hand_written_eager(family):
    head, edits = CASES[family]
    model, tok = tiny_model(family, head=head)
    batch = _batch(model, tok, family)
    expected = _run_reference(model, batch, edits)
    with torch.no_grad(), intervene(model, block=edits):
        got = model(**batch).logits
    plain = model(**batch).logits
    assert (got - expected).abs().max() <= 1e-5
    assert (got - plain).abs().max() > 100 * (got - expected).abs().max()  # the edits change the output


def test_head_none_equals_every_head():
    model, tok = tiny_model("llama", head="lm")
    batch = _batch(model, tok, "llama")
    edges = [(6, 0), (6, 3), (4, 4)]
    with torch.no_grad(), intervene(model, block={(1, None): edges}):
        all_heads = model(**batch).logits
    with torch.no_grad(), intervene(model, block={(1, h): edges for h in range(4)}):
        each = model(**batch).logits
    torch.testing.assert_close(all_heads, each, rtol=0, atol=1e-6)


@pytest.mark.parametrize("family", ["gpt2", "t5"])
def test_empty_block_is_the_plain_forward_bitwise(family):
    model, tok = tiny_model(family, head="lm")
    batch = _batch(model, tok, family)
    with torch.no_grad():
        with attnviz.modeling.inspection_mode(model, implementation=streaming.NAME):
            streaming.register()
        plain = model(**batch).logits
        with intervene(model, block={}):
            edited = model(**batch).logits
        with intervene(model, block={(0, None): []}):
            empty_list = model(**batch).logits
    assert torch.equal(plain, edited) and torch.equal(plain, empty_list)


def test_scale_zero_equals_zeroing_the_output_projection_input():
    from attnviz.metrics.importance import output_projections

    model, tok = tiny_model("gpt2", head="lm")
    batch = _batch(model, tok, "gpt2")
    dim = model.config.n_embd // model.config.n_head

    def zero_head(module, args):
        x = args[0].clone()
        x[..., 2 * dim:3 * dim] = 0
        return (x,)

    hook = output_projections(model)[1].register_forward_pre_hook(zero_head)
    try:
        with torch.no_grad():
            expected = model(**batch).logits
    finally:
        hook.remove()
    with torch.no_grad(), intervene(model, scale={(1, 2): 0.0}):
        got = model(**batch).logits
    assert (got - expected).abs().max() <= 1e-5
    with torch.no_grad(), intervene(model, scale={(1, 2): 1.0}):
        assert (model(**batch).logits - model(**batch).logits).abs().max() == 0


def test_restored_after_an_exception_and_nested_is_an_error():
    model, tok = tiny_model("gpt2", head="lm")
    with pytest.raises(ZeroDivisionError), intervene(model, scale={(0, 0): 0.0}):
        assert model.config._attn_implementation == streaming.NAME
        raise ZeroDivisionError("inside")
    assert model.config._attn_implementation == "sdpa" and streaming.EDITS.get() is None
    with intervene(model, scale={(0, 0): 0.0}):
        with pytest.raises(RuntimeError, match="nested"), intervene(model, scale={(1, 0): 0.0}):
            pass
    assert model.config._attn_implementation == "sdpa"


def test_overlapping_and_bad_edits_name_the_fix():
    model, _ = tiny_model("gpt2", head="lm")
    with pytest.raises(ValueError, match="overlapping"), intervene(model, block={(0, None): [(1, 0)], (0, 1): "all"}):
        pass
    with pytest.raises(ValueError, match="overlapping"), intervene(model, block={(0, 1): [(1, 0)]},
                                                                     patch={(0, 1): torch.eye(3)}):
        pass
    with pytest.raises(ValueError, match="layer must be"), intervene(model, block={(7, 0): "all"}):
        pass
    with pytest.raises(ValueError, match="no 'cross'"), intervene(model, block={("cross", 0, 0): "all"}):
        pass


def test_extract_inside_captures_the_knocked_out_rows():
    model, tok = tiny_model("gpt2", head="lm")
    n = len(tok(TEXTS[0])["input_ids"])
    with intervene(model, block={(1, None): [(n - 1, 0), (n - 1, 1)], (0, 2): "all"}):
        cap = attnviz.extract(model, TEXTS[:1], tokenizer=tok)
    att = cap[0].attention("self")
    plain = attnviz.extract(model, TEXTS[:1], tokenizer=tok)[0].attention("self")
    assert (att[1, :, n - 1, :2] == 0).all() and abs(att[1, :, n - 1].sum(-1) - 1).max() < 1e-5
    assert (att[0, 2] == 0).all()
    # rows without an edit are the plain weights
    assert abs(att[0, :2] - plain[0, :2]).max() < 1e-6


def test_patch_with_its_own_pattern_changes_nothing_and_a_uniform_one_does():
    model, tok = tiny_model("gpt2", head="lm")
    cap = attnviz.extract(model, TEXTS[:1], tokenizer=tok)
    ids = torch.tensor([tok(TEXTS[0])["input_ids"]])
    n = ids.shape[1]
    with torch.no_grad():
        plain = model(input_ids=ids).logits
        with intervene(model, patch={(1, 3): cap}):
            same = model(input_ids=ids).logits
        uniform = torch.tril(torch.ones(n, n)) / torch.arange(1, n + 1)[:, None]
        with intervene(model, patch={(1, 3): uniform}):
            other = model(input_ids=ids).logits
            patched = attnviz.extract(model, TEXTS[:1], tokenizer=tok)[0].attention("self")[1, 3]
    assert (same - plain).abs().max() <= 1e-5
    assert (other - plain).abs().max() > 1e-4
    assert abs(patched - uniform.numpy()).max() < 1e-6


def test_per_row_edits_equal_separate_runs():
    model, tok = tiny_model("gpt2", head="lm")
    ids = torch.tensor([tok(TEXTS[0])["input_ids"]])
    edits_a = {(0, None): [(5, 4)]}
    edits_b = {(1, 2): [(6, 0), (6, 6)]}
    with torch.no_grad():
        with intervene(model, block=edits_a):
            a = model(input_ids=ids).logits
        with intervene(model, block=edits_b, scale={(0, 1): 0.5}):
            b = model(input_ids=ids).logits
        with intervene_rows(model, [RowEdits(rows=[1], block=edits_a),
                                    RowEdits(rows=[2], block=edits_b, scale={(0, 1): 0.5})]):
            rows = model(input_ids=ids.repeat(3, 1)).logits
        plain = model(input_ids=ids).logits
    torch.testing.assert_close(rows[1:2], a, rtol=0, atol=1e-5)
    torch.testing.assert_close(rows[2:3], b, rtol=0, atol=1e-5)
    torch.testing.assert_close(rows[0:1], plain, rtol=0, atol=1e-5)


def test_extract_inside_waits_for_the_copies_of_an_edited_last_layer(monkeypatch):
    """On an accelerator (faked here) an edited kept layer's blocks go to pinned memory without
    waiting: the pass must wait for them before the capture is read, also when that layer is the
    last one kept."""
    model, tok = tiny_model("gpt2", head="lm")
    n = len(tok(TEXTS[0])["input_ids"])
    edits = {(1, None): [(n - 1, 0)]}
    with intervene(model, block=edits):
        expected = attnviz.extract(model, TEXTS[:1], tokenizer=tok, layers=[1], hidden_states=False)[0].attentions
    events = []
    real_copy = torch.Tensor.copy_

    def copy_(self, src, non_blocking=False):
        events.append("copy" if non_blocking else "blocking copy")
        return real_copy(self, src, non_blocking=non_blocking)

    monkeypatch.setattr(streaming, "_on_host", lambda device: False)
    monkeypatch.setattr(streaming, "_host_buffer", lambda shape, dtype, pin: torch.empty(shape, dtype=dtype))
    monkeypatch.setattr(streaming, "_synchronize", lambda device: events.append("wait"))
    monkeypatch.setattr(torch.Tensor, "copy_", copy_)
    with intervene(model, block=edits):
        got = attnviz.extract(model, TEXTS[:1], tokenizer=tok, layers=[1], hidden_states=False)[0].attentions
    monkeypatch.undo()
    assert "copy" in events and events[-1] == "wait", events
    assert abs(got - expected).max() < 1e-6
