"""Head importance: which attention heads the model's task depends on.

Two methods, both on the model's own loss over labelled data (a sequence
classifier: cross-entropy of the labels; a causal language model: next-token
cross-entropy of the texts):

* ``gradient`` (Michel, Levy & Neubig 2019, "Are Sixteen Heads Really Better than
  One?"): a gate ``xi_h = 1`` multiplies each head's output before the attention
  output projection (a forward pre-hook on that projection; transformers 5 dropped
  ``head_mask`` from many models). ``I_h = E_x |dL(x)/dxi_h|`` (one gate per example,
  so the mean is over examples, not over batches), then normalised per layer by the
  l2 norm of the layer's scores, as in the paper's code. One forward and one backward
  pass over the data (weight gradients are not computed).
* ``ablation``: zero one head at a time (the same gate set to 0) and measure the
  increase of the loss and the drop of the task metric (accuracy of the labels for a
  classifier, next-token accuracy for a language model) over the data: ``heads + 1``
  forward passes. Both are reported: on small data the accuracy moves in coarse steps,
  the loss does not.

:func:`pruning_curve` masks heads in increasing order of importance and traces the
accuracy against the fraction pruned (the paper's Figure 3 without retraining).

The pieces live beside this module: :mod:`.importance_results` (the result objects),
:mod:`.importance_gates` (the gates), :mod:`.importance_data` (data loading and the per-example
loss) and :mod:`.importance_loops` (the frozen model and the gated passes, batched for ablation).

Example:
    >>> from attnviz.testing import tiny_model
    >>> model, tok = tiny_model("bert", head="sequence-classification")
    >>> imp = head_importance(model, [("a good film", 1), ("a bad film", 0)], tokenizer=tok)
    >>> imp.scores.shape, imp.method, imp.task
    ((2, 4), 'gradient', 'classification')
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from attnviz.metrics.importance_data import _to
from attnviz.metrics.importance_data import per_example as _per_example
from attnviz.metrics.importance_data import prepare as _prepare
from attnviz.metrics.importance_gates import Gates, output_projections
from attnviz.metrics.importance_loops import ablation_changes
from attnviz.metrics.importance_loops import evaluate as _evaluate
from attnviz.metrics.importance_loops import frozen as _frozen
from attnviz.metrics.importance_results import HeadImportance, PruningCurve
from attnviz.metrics.importance_results import metric_name as _metric_name
from attnviz.modeling import ModelLike, Tokenizer, model_data_call, resolve_model

__all__ = ["HeadImportance", "PruningCurve", "head_importance", "pruning_curve", "output_projections"]

METHODS = ("gradient", "ablation")


# ----------------------------------------------------------------------------------------------------------
# entry points


@model_data_call("data", none_is_data=True)
def head_importance(model: ModelLike, data: Any = None, *, method: str = "gradient", tokenizer: Tokenizer = None,
                    batch_size: int = 16, max_length: int | None = 128, normalize: bool = True,
                    text_column: str = "text", label_column: str = "label", split: str = "validation",
                    progress: bool = False) -> HeadImportance:
    """How much each attention head matters for the model's loss, per layer and head.

    Args:
        model: a loaded sequence classifier (``*ForSequenceClassification``) or causal
            language model (``*ForCausalLM``), or a local folder holding one.
        data: for a classifier, labelled examples: a ``Dataset``/``DatasetDict`` (``split``
            is used) with ``text``/``label`` columns, a .csv/.jsonl file, ``(text, label)``
            pairs, or None / ``"builtin"`` for the shipped reviews' validation split. For a
            language model, texts (a list, a .txt/.csv/.jsonl file or a dataset).
        method: ``"gradient"`` (Michel et al. 2019: ``E_x |dL/dxi_h|`` of a gate on each
            head's output, normalised per layer by the l2 norm) or ``"ablation"`` (zero each
            head in turn: loss increase and task-metric drop, ``heads + 1`` forward passes).
        tokenizer: default: the one saved beside the model.
        normalize: ``gradient`` only: divide each layer's scores by their l2 norm (the
            paper's default); the unnormalised values are kept in ``raw`` either way.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("gpt2", head="lm")
        >>> imp = head_importance(model, ["the cat sat on the mat", "a dog"], tokenizer=tok, method="ablation")
        >>> imp.task, imp.loss_change.shape
        ('lm', (2, 4))
    """
    import torch

    from attnviz.modeling import input_device

    if method not in METHODS:
        raise ValueError(f"method={method!r}: use 'gradient' (Michel et al. 2019) or 'ablation'")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    model, tokenizer = _model_and_tokenizer(model, tokenizer)
    data_ = _prepare(model, tokenizer, data, batch_size=batch_size, max_length=max_length,
                     text_column=text_column, label_column=label_column, split=split)
    device = input_device(model)
    start = time.perf_counter()
    with _frozen(model), Gates(model) as gates:
        layers, heads = gates.num_layers, gates.num_heads
        if method == "gradient":                                 # the gated pass also gives the base loss
            total = torch.zeros(layers, heads, dtype=torch.float64)
            sums = np.zeros(3)
            for batch in _progress(data_.batches, progress, "gradient"):
                b = _to(batch, device)
                gate = torch.ones(b["input_ids"].shape[0], layers, heads, device=device, requires_grad=True)
                gates.values = gate
                loss, correct, count = _per_example(model, b, data_.task)
                (grad,) = torch.autograd.grad(loss.sum(), gate)
                total += grad.abs().sum(0).double().cpu()
                sums += [float(loss.detach().sum()), float(correct.sum()), float(count.sum())]
                gates.values = None
            base_loss, base_metric = sums[0] / data_.num_examples, sums[1] / max(sums[2], 1.0)
            raw = (total / data_.num_examples).numpy()
            scores = raw / (np.linalg.norm(raw, axis=1, keepdims=True) + 1e-20) if normalize else raw.copy()
            loss_change = metric_change = None
        else:
            base_loss, base_metric, loss_change, metric_change = ablation_changes(
                model, data_, gates, progress=lambda items: _progress(items, progress, "ablation"))
            raw = scores = loss_change
    seconds = time.perf_counter() - start
    return HeadImportance(scores=scores, raw=raw, method=method, task=data_.task, layers=list(range(layers)),
                          heads=list(range(heads)), num_examples=data_.num_examples, base_loss=base_loss,
                          base_metric=base_metric, metric_name=_metric_name(data_.task), loss_change=loss_change,
                          metric_change=metric_change, seconds=seconds,
                          model_name=str(getattr(model, "name_or_path", "") or ""),
                          extra={"normalize": bool(normalize) if method == "gradient" else None})


@model_data_call("data", none_is_data=True)
def pruning_curve(model: ModelLike, data: Any, importance: HeadImportance, *, tokenizer: Tokenizer = None,
                  fractions: Sequence[float] | None = None, random_baseline: bool = True, seed: int = 0,
                  batch_size: int = 16, max_length: int | None = 128, text_column: str = "text",
                  label_column: str = "label", split: str = "validation") -> PruningCurve:
    """Mask heads in increasing order of importance and measure the task metric and loss at each step
    (Michel et al. 2019, Figure 3, without retraining); with ``random_baseline`` also for a random order.

    ``fractions`` default: 0, 0.1, ..., 1.0 of all heads.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("bert", head="sequence-classification")
        >>> data = [("a good film", 1), ("a bad film", 0)]
        >>> curve = pruning_curve(model, data, head_importance(model, data, tokenizer=tok), tokenizer=tok,
        ...                       fractions=[0, 0.5, 1])
        >>> curve.pruned
        [0, 4, 8]
    """
    import torch

    model, tokenizer = _model_and_tokenizer(model, tokenizer)
    data_ = _prepare(model, tokenizer, data, batch_size=batch_size, max_length=max_length,
                     text_column=text_column, label_column=label_column, split=split)
    layers, heads = importance.scores.shape
    flat = np.argsort(importance.scores.ravel(), kind="stable")          # least important first
    order = [(int(k // heads), int(k % heads)) for k in flat]
    fractions = [round(0.1 * k, 10) for k in range(11)] if fractions is None else [float(f) for f in fractions]
    if any(not 0 <= f <= 1 for f in fractions):
        raise ValueError(f"fractions must lie in [0, 1], got {fractions}")
    counts = [int(round(f * layers * heads)) for f in fractions]
    rng = np.random.default_rng(seed)
    shuffled = [order[k] for k in rng.permutation(len(order))]

    def curve(seq):
        metric, loss = [], []
        for c in counts:
            gate = torch.ones(layers, heads)
            for i, j in seq[:c]:
                gate[i, j] = 0.0
            lo, me = _evaluate(model, data_, gates, gate)
            metric.append(me)
            loss.append(lo)
        return metric, loss

    with _frozen(model), Gates(model) as gates:
        metric, loss = curve(order)
        random_metric = curve(shuffled)[0] if random_baseline else None
    return PruningCurve(fractions=fractions, metric=metric, loss=loss, pruned=counts, order=order,
                        metric_name=_metric_name(data_.task), method=importance.method, random_metric=random_metric)


def _model_and_tokenizer(model: ModelLike, tokenizer: Tokenizer) -> tuple[Any, Any]:
    return resolve_model(model, tokenizer)


def _progress(items: list, enabled: bool, desc: str):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc)
