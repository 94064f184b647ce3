"""Attention rollout and flow (Abnar & Zuidema 2020) on hand-built maps and tiny models."""
from __future__ import annotations

import numpy as np
import pytest

import attnviz
from attnviz.capture import Capture, Example
from attnviz.metrics import Rollout, attention_flow, rollout
from attnviz.metrics.rollout import augmented, max_flows


def random_capture(layers=3, heads=2, n=5, seed=0) -> Capture:
    rng = np.random.default_rng(seed)
    att = rng.random((layers, heads, n, n))
    att /= att.sum(-1, keepdims=True)
    tokens = [f"t{i}" for i in range(n)]
    return Capture([Example(tokens=tokens, attentions=att.astype(np.float32))], layers=list(range(layers)),
                   heads=list(range(heads)), num_layers=layers, num_heads=heads)


def plain_rollout(att: np.ndarray, start: int = 0) -> np.ndarray:
    """A second, loop-by-loop implementation of the paper's definition."""
    n = att.shape[-1]
    result = None
    for layer in range(start, att.shape[0]):
        a = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                a[i, j] = 0.5 * np.mean(att[layer, :, i, j]) + 0.5 * (i == j)
            a[i] /= a[i].sum()
        if result is None:
            result = a
        else:
            new = np.zeros((n, n))
            for i in range(n):
                for j in range(n):
                    new[i, j] = sum(a[i, k] * result[k, j] for k in range(n))
            result = new
    return result


def test_rows_sum_to_one_and_first_layer_is_half_attention_half_identity():
    cap = random_capture()
    r = rollout(cap)
    np.testing.assert_allclose(r.matrix.sum(1), 1.0, atol=1e-9)
    np.testing.assert_allclose(r.per_layer.sum(-1), 1.0, atol=1e-9)
    first = cap[0].attentions[0].astype(float).mean(0)
    np.testing.assert_allclose(r.per_layer[0], 0.5 * first + 0.5 * np.eye(5), atol=1e-6)
    assert r.layers == [0, 1, 2] and r.method == "rollout"


@pytest.mark.parametrize("start", [0, 1, 2])
def test_matches_a_plain_loop_implementation(start):
    cap = random_capture(seed=start)
    np.testing.assert_allclose(rollout(cap, start_layer=start).matrix,
                               plain_rollout(cap[0].attentions.astype(float), start), atol=1e-9)


def test_head_fusion_max_and_min_renormalise_rows():
    cap = random_capture()
    for fusion in ("max", "min"):
        r = rollout(cap, head_fusion=fusion)
        fused = getattr(cap[0].attentions[0].astype(float), fusion)(0)
        a = 0.5 * fused + 0.5 * np.eye(5)
        np.testing.assert_allclose(r.per_layer[0], a / a.sum(1, keepdims=True), atol=1e-6)
        np.testing.assert_allclose(r.matrix.sum(1), 1.0, atol=1e-9)
    with pytest.raises(ValueError, match="head_fusion"):
        rollout(cap, head_fusion="median")


def test_rollout_on_tiny_models(bert_capture, gpt2_capture, t5_capture):
    r = rollout(bert_capture, example=2)
    assert r.matrix.shape == (len(bert_capture[2].tokens),) * 2
    assert r.tokens == bert_capture[2].display_tokens
    causal = rollout(gpt2_capture).matrix
    assert np.allclose(np.triu(causal, 1), 0)  # nothing flows from later tokens in a decoder
    dec = rollout(t5_capture, kind="decoder")
    assert dec.tokens == t5_capture[0].decoder_display_tokens


def test_missing_layers_heads_and_cross_attention_are_refused(tiny_bert, texts):
    cap = attnviz.extract(*tiny_bert, texts[:1], layers=[1])
    with pytest.raises(ValueError, match=r"layers \[0\] are not in the capture"):
        rollout(cap)
    assert rollout(cap, start_layer=1).layers == [1]
    with pytest.raises(ValueError, match="start_layer=5 is out of range"):
        rollout(cap, start_layer=5)
    with pytest.warns(UserWarning, match="keeps 2 of 4 heads"):
        rollout(attnviz.extract(*tiny_bert, texts[:1], heads=[0, 1]))
    with pytest.raises(ValueError, match="self-attention"):
        rollout(random_capture(), kind="cross")


def layered_graph(nx, a):
    """Abnar & Zuidema's graph: node (layer, token), edges from layer l+1 down to l, capacity A[l]."""
    graph = nx.DiGraph()
    depth, n = a.shape[0], a.shape[1]
    for layer in range(depth):
        for i in range(n):
            for j in range(n):
                graph.add_edge((layer + 1, i), (layer, j), capacity=float(a[layer, i, j]))
    return graph, depth, n


def test_flow_equals_networkx_max_flow_and_rows_sum_to_one():
    nx = pytest.importorskip("networkx")
    cap = random_capture(layers=2, n=4, seed=3)
    a = augmented(cap[0].attentions)
    graph, depth, n = layered_graph(nx, a)
    expected = np.array([[nx.maximum_flow_value(graph, (depth, i), (0, j)) for j in range(n)] for i in range(n)])
    np.testing.assert_allclose(max_flows(a), expected, atol=1e-5)
    flow = attention_flow(cap)
    np.testing.assert_allclose(flow.matrix, expected / expected.sum(1, keepdims=True), atol=1e-5)
    assert flow.method == "flow" and flow.per_layer is None


def test_flow_for_every_layer_equals_networkx_from_each_layers_nodes():
    nx = pytest.importorskip("networkx")
    cap = random_capture(layers=3, n=4, seed=5)
    a = augmented(cap[0].attentions)
    graph, depth, n = layered_graph(nx, a)
    flow = attention_flow(cap, per_layer=True)
    assert flow.per_layer.shape == (depth, n, n)
    for top in range(1, depth + 1):
        expected = np.array([[nx.maximum_flow_value(graph, (top, i), (0, j)) for j in range(n)] for i in range(n)])
        np.testing.assert_allclose(flow.per_layer[top - 1], expected / expected.sum(1, keepdims=True), atol=1e-5)
    np.testing.assert_allclose(flow.matrix, attention_flow(cap).matrix)
    np.testing.assert_allclose(flow.per_layer[0], a[0], atol=1e-5)   # one layer: flow = the capacities


def test_flow_refuses_inputs_longer_than_the_limit():
    cap = random_capture(n=6)
    with pytest.raises(ValueError, match=r"6 tokens, above the limit max_tokens=5"):
        attention_flow(cap, max_tokens=5)


def test_rollout_object_query_rows():
    r = Rollout(np.array([[0.3, 0.7], [0.5, 0.5]]), ["a", "b"], layers=[0])
    assert r.for_query(-1).tolist() == [0.5, 0.5]
    with pytest.raises(IndexError, match="use 0 to 1"):
        r.for_query(2)


def vit_explain_rollout(attentions, discard_ratio, head_fusion):
    """jacobgil/vit-explain's ``rollout`` (vit_rollout.py, MIT), restated step for step in torch.

    Per layer: fuse the heads; zero the ``int(n * n * discard_ratio)`` smallest fused weights
    (flattened, the entry 0 = [CLS] -> [CLS] kept); ``a = (fused + I) / 2``; ``a = a / a.sum(dim=-1)``
    (their broadcast); ``result = a @ result``. Returns the [CLS] row over the patches divided by its max.
    """
    import torch

    result = torch.eye(attentions[0].size(-1), dtype=torch.float64)
    for attention in attentions:                      # (1, heads, n, n)
        if head_fusion == "mean":
            fused = attention.mean(axis=1)
        elif head_fusion == "max":
            fused = attention.max(axis=1)[0]
        else:
            fused = attention.min(axis=1)[0]
        flat = fused.view(fused.size(0), -1)
        _, indices = flat.topk(int(flat.size(-1) * discard_ratio), -1, False)
        indices = indices[indices != 0]
        flat[0, indices] = 0
        eye = torch.eye(fused.size(-1), dtype=torch.float64)
        a = (fused + 1.0 * eye) / 2
        a = a / a.sum(dim=-1)
        result = torch.matmul(a, result)
    mask = result[0, 0, 1:]
    width = int(mask.size(-1) ** 0.5)
    mask = mask.reshape(width, width).numpy()
    return mask / np.max(mask)


@pytest.fixture(scope="module")
def vit_capture():
    from attnviz.testing import tiny_model

    model, processor = tiny_model("vit", num_hidden_layers=3)
    rng = np.random.default_rng(3)
    return attnviz.extract(model, [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)], processor=processor)


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("discard", [0.0, 0.5, 0.9])
def test_vit_explain_convention_agrees_with_their_code(vit_capture, fusion, discard):
    import torch

    ex = vit_capture[0]
    theirs = vit_explain_rollout([torch.from_numpy(ex.attentions[i][None].astype(np.float64)) for i in range(3)],
                                 discard, fusion)
    r = rollout(vit_capture, head_fusion=fusion, discard_ratio=discard, normalization="vit-explain")
    ours = r.image_map("cls")
    np.testing.assert_allclose(ours / ours.max(), theirs, rtol=1e-10, atol=1e-12)
    rows = rollout(vit_capture, head_fusion=fusion, discard_ratio=discard)  # the paper's row renormalisation
    np.testing.assert_allclose(rows.matrix.sum(1), 1.0)
    if fusion == "mean" and discard == 0.0:  # equal rows sums: the two conventions coincide
        np.testing.assert_allclose(rows.matrix, r.matrix, atol=1e-12)


def test_discard_ratio_zeroes_the_smallest_weights_but_cls_to_cls():
    w = np.array([[[[0.05, 0.45, 0.5], [0.2, 0.3, 0.5], [0.1, 0.6, 0.3]]]])
    kept = augmented(w, discard_ratio=0.35)[0]  # int(9 * 0.35) = 3 smallest: 0.05 (kept, [CLS]), 0.1, 0.2
    assert kept[1, 0] == 0 and kept[2, 0] == 0 and kept[0, 0] > 0
    np.testing.assert_allclose(kept.sum(1), 1.0)
    with pytest.raises(ValueError, match="discard_ratio"):
        augmented(w, discard_ratio=1.0)
    with pytest.raises(ValueError, match="normalization"):
        augmented(w, normalization="columns")
