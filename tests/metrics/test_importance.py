"""Head importance (Michel et al. 2019 gradient, ablation) and the pruning curve."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from attnviz.metrics.importance import HeadImportance, head_importance, output_projections, pruning_curve
from attnviz.metrics.importance_gates import Gates
from attnviz.testing import tiny_model

POS = ["wonderful", "great", "lovely", "remarkable"]
NEG = ["boring", "awful", "terrible", "slow"]
TEMPLATES = ["the film was {}", "this movie is {}", "{} story", "a {} plot and the acting"]
SIGNAL = (1, 2)   # the one head that carries the label


def _toy_data():
    return [(t.format(w), label) for label, words in ((1, POS), (0, NEG)) for t, w in itertools.product(TEMPLATES, words)]


def _kill_other_heads(model, keep):
    """Zero the output-projection columns of every head but ``keep``: those heads add nothing."""
    heads = model.config.num_attention_heads
    with torch.no_grad():
        for layer, proj in enumerate(output_projections(model)):
            w = proj.weight.view(proj.weight.shape[0], heads, -1)
            for h in range(heads):
                if (layer, h) != keep:
                    w[:, h] = 0.0


@pytest.fixture(scope="module")
def one_head_classifier():
    """A tiny BERT classifier trained briefly with every head but SIGNAL silenced."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # tiny matrices: extra threads only spin on a shared machine
    model, tok = tiny_model("bert", head="sequence-classification", hidden_dropout_prob=0.0,
                            attention_probs_dropout_prob=0.0)
    _kill_other_heads(model, SIGNAL)
    data = _toy_data()
    enc = tok([t for t, _ in data], return_tensors="pt", padding=True)
    labels = torch.tensor([y for _, y in data])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(60):
        opt.zero_grad()
        loss = model(**enc, labels=labels).loss
        loss.backward()
        opt.step()
        _kill_other_heads(model, SIGNAL)
    torch.set_num_threads(threads)
    model.eval()
    return model, tok, data


def test_the_one_head_that_carries_the_signal_ranks_first_by_both_methods(one_head_classifier):
    model, tok, data = one_head_classifier
    grad = head_importance(model, data, tokenizer=tok, method="gradient")
    abl = head_importance(model, data, tokenizer=tok, method="ablation")
    assert grad.base_metric == 1.0 and abl.base_metric == 1.0       # the toy task is learnt
    assert (grad.top(1)[0]["layer"], grad.top(1)[0]["head"]) == SIGNAL
    assert (abl.top(1)[0]["layer"], abl.top(1)[0]["head"]) == SIGNAL
    # silenced heads: no gradient, no effect when zeroed
    others = np.ones(grad.raw.shape, bool)
    others[SIGNAL] = False
    assert np.abs(grad.raw[others]).max() < 1e-9
    assert np.abs(abl.loss_change[others]).max() < 1e-6
    # both the loss and the accuracy are reported; zeroing the signal head loses the task
    assert abl.loss_change[SIGNAL] > 0.3 and abl.metric_change[SIGNAL] >= 0.25
    assert np.allclose(abl.metric_change[others], 0)
    # per-layer l2 normalisation (Michel et al.): the signal head's layer has norm 1
    assert np.isclose(np.linalg.norm(grad.scores[SIGNAL[0]]), 1.0)


def test_pruning_curve_keeps_accuracy_until_the_signal_head_goes(one_head_classifier):
    model, tok, data = one_head_classifier
    imp = head_importance(model, data, tokenizer=tok)
    curve = pruning_curve(model, data, imp, tokenizer=tok, fractions=[0, 0.5, 0.875, 1.0])
    assert curve.pruned == [0, 4, 7, 8]
    assert curve.metric[:3] == [1.0, 1.0, 1.0] and curve.metric[3] <= 0.75
    assert curve.order[-1] == SIGNAL and len(curve.random_metric) == 4
    ax = curve.plot()
    assert list(ax.lines[0].get_ydata()) == curve.metric


def test_gradient_equals_a_finite_difference_of_the_gate():
    model, tok = tiny_model("gpt2", head="lm")
    model.double()                                   # a finite difference needs the precision
    texts = ["the cat sat on the mat", "a dog barked"]
    imp = head_importance(model, texts, tokenizer=tok, normalize=False)
    assert imp.task == "lm" and imp.metric_name == "next-token accuracy"
    # single example: |dL/dxi| equals a central difference of the loss in the gate
    one = head_importance(model, texts[:1], tokenizer=tok, normalize=False)
    enc = tok(texts[:1], return_tensors="pt")
    eps = 1e-3
    with Gates(model) as g, torch.no_grad():
        def loss(v):
            gate = torch.ones(2, 4, dtype=torch.float64)
            gate[0, 1] = v
            g.values = gate
            logits = model(**enc).logits[0, :-1]
            return float(torch.nn.functional.cross_entropy(logits, enc["input_ids"][0, 1:]))
        fd = abs(loss(1 + eps) - loss(1 - eps)) / (2 * eps)
    assert fd == pytest.approx(one.raw[0, 1], rel=1e-4)


@pytest.mark.parametrize("kind", ["distilbert", "roberta", "gpt2"])
def test_classifiers_of_several_families(kind):
    model, tok = tiny_model(kind, head="sequence-classification")
    imp = head_importance(model, _toy_data()[:6], tokenizer=tok, batch_size=4)
    assert imp.scores.shape == (2, 4) and np.isfinite(imp.scores).all() and imp.num_examples == 6


@pytest.mark.parametrize("kind", ["llama", "gpt_neox"])
def test_language_models(kind):
    model, tok = tiny_model(kind, head="lm")
    imp = head_importance(model, ["the cat sat on the mat", "a dog"], tokenizer=tok, method="ablation")
    assert imp.loss_change.shape == (2, 4) and np.isfinite(imp.base_loss)


def test_save_load_frame_plot(tmp_path, one_head_classifier):
    model, tok, data = one_head_classifier
    imp = head_importance(model, data[:8], tokenizer=tok, method="ablation")
    path = imp.save(tmp_path)
    assert path.name == "importance.json"
    back = HeadImportance.load(tmp_path)
    assert np.array_equal(back.scores, imp.scores) and back.method == "ablation"
    assert json.loads(path.read_text())["definition"].startswith("zero one head")
    frame = imp.to_frame()
    assert list(frame.columns[:3]) == ["rank", "layer", "head"] and len(frame) == 8
    ax = imp.plot(values="metric_change")
    assert ax.images[0].get_array().shape == (2, 4)


def test_the_model_is_left_as_it_was():
    model, tok = tiny_model("bert", head="sequence-classification")
    model.train()
    head_importance(model, _toy_data()[:4], tokenizer=tok)
    assert model.training and all(p.requires_grad for p in model.parameters())
    assert not any(m._forward_pre_hooks for m in model.modules())


def test_refusals():
    model, tok = tiny_model("bert")
    with pytest.raises(ValueError, match="sequence classifier"):
        head_importance(model, ["a"], tokenizer=tok)
    model, tok = tiny_model("bert", head="sequence-classification")
    with pytest.raises(ValueError, match="needs labels"):
        head_importance(model, ["a", "b"], tokenizer=tok)
    with pytest.raises(ValueError, match="method="):
        head_importance(model, [("a", 1)], tokenizer=tok, method="taylor")
    with pytest.raises(ValueError, match="encoder-decoder"):
        head_importance(tiny_model("bart", head="sequence-classification")[0], [("a", 1)], tokenizer=tok)


@pytest.mark.parametrize("family,head,data", [
    ("gpt2", "lm", ["the cat sat on the mat", "a dog", "the mat sat on a cat today"]),
    ("bert", "sequence-classification", [("a good film", 1), ("a bad film", 0), ("good", 1)]),
])
def test_batched_ablation_equals_one_head_at_a_time(family, head, data):
    import torch

    from attnviz.metrics.importance_data import prepare
    from attnviz.metrics.importance_loops import ablation_changes, evaluate, frozen

    model, tok = tiny_model(family, head=head)
    prepared = prepare(model, tok, data, batch_size=2, max_length=None, text_column="text", label_column="label",
                       split="validation")
    with frozen(model), Gates(model) as gates:
        base_loss, base_metric, loss_change, metric_change = ablation_changes(model, prepared, gates, rows=5)
        ref_loss, ref_metric = evaluate(model, prepared, gates, None)
        for i in range(gates.num_layers):
            for j in range(gates.num_heads):
                gate = torch.ones(gates.num_layers, gates.num_heads)
                gate[i, j] = 0.0
                loss, metric = evaluate(model, prepared, gates, gate)
                assert loss_change[i, j] == pytest.approx(loss - ref_loss, abs=1e-5)
                assert metric_change[i, j] == pytest.approx(ref_metric - metric, abs=1e-9)
    assert base_loss == pytest.approx(ref_loss, abs=1e-6) and base_metric == pytest.approx(ref_metric)
    assert np.abs(loss_change).max() > 0, "zeroing a head changes the loss"
