"""extraction/gradients.py: the differentiable mode of the "attnviz" attention function keeps each kept
layer's weights in the graph, with the model's outputs and weights equal to eager attention's."""
from __future__ import annotations

import pytest
import torch

from attnviz.extraction.gradients import GradientSession
from attnviz.extraction.streaming import NAME, register
from attnviz.modeling import inspection_mode
from attnviz.testing import tiny_model

TEXT = "the cat sat on the mat and looked at the dog"


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama", "mistral", "gemma2"])
def test_outputs_weights_and_gradients_equal_eager(family):
    head = "sequence-classification" if family == "bert" else "lm"
    model, tok = tiny_model(family, head=head)
    enc = tok(TEXT, return_tensors="pt")
    original = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        eager = model(**enc, output_attentions=True)
        want = torch.autograd.grad(eager.logits[0, ..., -1].sum(), eager.attentions)
    finally:
        model.set_attn_implementation(original)
    register()
    session = GradientSession(model, layers=[1])
    with inspection_mode(model, implementation=NAME), torch.enable_grad(), session.active():
        out = model(**enc)
    assert set(session.weights) == {("self", 1)} and session.missing() == []
    torch.testing.assert_close(out.logits, eager.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(session.weights[("self", 1)], eager.attentions[1], atol=1e-6, rtol=1e-5)
    (got,) = torch.autograd.grad(out.logits[0, ..., -1].sum(), [session.weights[("self", 1)]])
    torch.testing.assert_close(got, want[1], atol=1e-6, rtol=1e-4)
    assert session.values[("self", 1)].shape[-2] == enc["input_ids"].shape[1]


def test_frozen_parameters_still_give_weight_gradients():
    model, tok = tiny_model("gpt2", head="lm")
    for p in model.parameters():
        p.requires_grad_(False)
    register()
    session = GradientSession(model)
    with inspection_mode(model, implementation=NAME), torch.enable_grad(), session.require_input_grad(), \
            session.active():
        logits = model(**tok(TEXT, return_tensors="pt")).logits
    assert all(w.requires_grad for w in session.weights.values())
    grads = torch.autograd.grad(logits[0, -1, 0], list(session.weights.values()))
    assert all(g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in model.parameters())
