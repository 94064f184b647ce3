"""Head importance, its loops over the data: the model frozen, the gated passes (see :mod:`.importance`).

:func:`ablation_changes` zeroes each head in turn as one batched computation: every data batch
is repeated for several heads at once, with one gate row per repeated example (the gate sits on
the output projection's input, :class:`~attnviz.metrics.importance_gates.Gates`), so one forward
pass measures several ablations and the unmodified model (``heads + 1`` cells in all).

Example:
    >>> from attnviz.testing import tiny_model
    >>> from attnviz.metrics.importance_data import prepare
    >>> from attnviz.metrics.importance_gates import Gates
    >>> model, tok = tiny_model("gpt2", head="lm")
    >>> data = prepare(model, tok, ["the cat sat", "a dog"], batch_size=2, max_length=None,
    ...                text_column="text", label_column="label", split="validation")
    >>> with frozen(model), Gates(model) as gates:
    ...     base_loss, base_metric, loss_change, metric_change = ablation_changes(model, data, gates)
    >>> loss_change.shape
    (2, 4)
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

from attnviz.metrics.importance_data import _Data, _to, per_example
from attnviz.metrics.importance_gates import Gates

__all__ = ["ABLATION_ROWS", "ablation_changes", "evaluate", "frozen"]

#: Rows (examples x ablated heads) per batched forward pass of :func:`ablation_changes`.
ABLATION_ROWS = 64


@contextlib.contextmanager
def frozen(model: Any) -> Iterator[None]:
    """Eval mode and no weight gradients during the call; both restored.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model = tiny_model("bert")[0].train()
        >>> with frozen(model):
        ...     model.training, any(p.requires_grad for p in model.parameters())
        (False, False)
        >>> model.training
        True
    """
    training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(training)


def evaluate(model: Any, data: _Data, gates: Gates, gate: Any) -> tuple[float, float]:
    """Mean loss and task metric over the data with one fixed (layer, head) gate (None: unmodified).

    Example:
        >>> import torch
        >>> from attnviz.testing import tiny_model
        >>> from attnviz.metrics.importance_data import prepare
        >>> model, tok = tiny_model("gpt2", head="lm")
        >>> data = prepare(model, tok, ["the cat sat"], batch_size=1, max_length=None,
        ...                text_column="text", label_column="label", split="validation")
        >>> with frozen(model), Gates(model) as gates:
        ...     loss, accuracy = evaluate(model, data, gates, torch.ones(2, 4))
        >>> loss > 0 and 0 <= accuracy <= 1
        True
    """
    import torch

    from attnviz.modeling import input_device

    device = input_device(model)
    gates.values = None if gate is None else gate.to(device)
    loss_sum, correct, count, n = 0.0, 0.0, 0.0, 0
    with torch.no_grad():
        for batch in data.batches:
            loss, ok, cnt = per_example(model, _to(batch, device), data.task)
            loss_sum += float(loss.sum())
            correct += float(ok.sum())
            count += float(cnt.sum())
            n += loss.shape[0]
    gates.values = None
    return loss_sum / n, correct / max(count, 1.0)


def ablation_changes(model: Any, data: _Data, gates: Gates, *, rows: int = ABLATION_ROWS,
                     progress: Any = None) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(base loss, base metric, loss change, metric change) with each head zeroed in turn, batched.

    Each data batch of ``B`` examples is repeated for ``max(1, rows // B)`` cells (the unmodified
    model, then one head zeroed per cell) in one forward pass; gate row ``c * B + b`` belongs to
    cell ``c`` and example ``b``. The results equal :func:`evaluate` cell by cell (to float
    rounding). ``progress(items)`` may wrap the list of data batches.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> from attnviz.metrics.importance_data import prepare
        >>> model, tok = tiny_model("bert", head="sequence-classification")
        >>> data = prepare(model, tok, [("a good film", 1), ("bad", 0)], batch_size=2, max_length=None,
        ...                text_column="text", label_column="label", split="validation")
        >>> with frozen(model), Gates(model) as gates:
        ...     changes = ablation_changes(model, data, gates, rows=4)   # 2 cells of 2 examples per pass
        >>> changes[2].shape, changes[3].shape
        ((2, 4), (2, 4))
    """
    import torch

    from attnviz.modeling import input_device

    device = input_device(model)
    layers, heads = gates.num_layers, gates.num_heads
    cells: list[tuple[int, int] | None] = [None] + [(i, j) for i in range(layers) for j in range(heads)]
    sums = np.zeros((len(cells), 3))  # loss sum, correct, count per cell
    n = 0
    with torch.no_grad():
        for batch in (progress or list)(data.batches):
            b = _to(batch, device)
            size = b["input_ids"].shape[0]
            per_pass = max(1, rows // size)
            for first in range(0, len(cells), per_pass):
                group = cells[first:first + per_pass]
                k = len(group)
                tiled = {key: v.repeat(k, *([1] * (v.dim() - 1))) for key, v in b.items()}
                gate = torch.ones(k, size, layers, heads, device=device)
                for c, cell in enumerate(group):
                    if cell is not None:
                        gate[c, :, cell[0], cell[1]] = 0.0
                gates.values = gate.view(k * size, layers, heads)
                loss, ok, cnt = per_example(model, tiled, data.task)
                gates.values = None
                part = torch.stack([loss.view(k, size).sum(1), ok.view(k, size).sum(1), cnt.view(k, size).sum(1)], 1)
                sums[first:first + k] += part.double().cpu().numpy()
            n += size
    base_loss, base_metric = sums[0, 0] / n, sums[0, 1] / max(sums[0, 2], 1.0)
    loss = sums[1:, 0] / n
    metric = sums[1:, 1] / np.maximum(sums[1:, 2], 1.0)
    return (float(base_loss), float(base_metric), (loss - base_loss).reshape(layers, heads),
            (base_metric - metric).reshape(layers, heads))
