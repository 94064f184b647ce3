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

Example:
    >>> from attnviz.testing import tiny_model
    >>> model, tok = tiny_model("bert", head="sequence-classification")
    >>> imp = head_importance(model, [("a good film", 1), ("a bad film", 0)], tokenizer=tok)
    >>> imp.scores.shape, imp.method, imp.task
    ((2, 4), 'gradient', 'classification')
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from attnviz.atomic import ResultIO, atomic_write_text, deprecated_alias
from attnviz.families import LAYER_PART_NAMES, family_of, layer_modules, model_dims
from attnviz.modeling import ModelLike, Tokenizer, model_data_call, resolve_model

if TYPE_CHECKING:
    import torch

__all__ = ["HeadImportance", "PruningCurve", "head_importance", "pruning_curve", "output_projections"]

METHODS = ("gradient", "ablation")
#: Per-layer paths of the attention output projection (its input is the heads' concatenated outputs)
#: tried for a model type missing from :data:`attnviz.families.FAMILIES`; a known family uses its
#: ``attention_output``.
PROJECTIONS = LAYER_PART_NAMES["attention_output"]


# ----------------------------------------------------------------------------------------------------------
# result objects


@dataclass
class HeadImportance(ResultIO):
    """Per-head importance (layers x heads) and how it was measured.

    Attributes:
        scores: (layer, head) the ranking score: for ``gradient`` the per-layer
            l2-normalised ``E|dL/dxi|``, for ``ablation`` the loss increase when the head is zeroed.
        raw: ``gradient``: the unnormalised ``E|dL/dxi|``; ``ablation``: same as ``scores``.
        loss_change / metric_change: ``ablation`` only: loss after minus before, and task
            metric before minus after (positive = the head helps), (layer, head).
        base_loss / base_metric: the loss and task metric of the unmodified model.
        metric_name: "accuracy" (classifier) or "next-token accuracy" (language model).
        method, task ("classification" or "lm"), layers, heads, num_examples, seconds, model_name.

    Example:
        >>> imp = HeadImportance(np.array([[0.1, 0.9]]), np.array([[1.0, 9.0]]), method="gradient")
        >>> imp.ranked()[0]["head"], int(imp.rank()[0, 1])
        (1, 1)
    """

    scores: np.ndarray
    raw: np.ndarray
    method: str = "gradient"
    task: str = "classification"
    layers: list[int] = field(default_factory=list)
    heads: list[int] = field(default_factory=list)
    num_examples: int = 0
    base_loss: float = math.nan
    base_metric: float = math.nan
    metric_name: str = "accuracy"
    loss_change: np.ndarray | None = None
    metric_change: np.ndarray | None = None
    seconds: float = math.nan
    model_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, dtype=np.float64)
        self.raw = np.asarray(self.raw, dtype=np.float64)
        if not self.layers:
            self.layers = list(range(self.scores.shape[0]))
        if not self.heads:
            self.heads = list(range(self.scores.shape[1]))

    def __repr__(self) -> str:
        return (f"HeadImportance(method={self.method!r}, task={self.task!r}, {len(self.layers)} layers x "
                f"{len(self.heads)} heads, {self.num_examples} example(s))")

    def rank(self) -> np.ndarray:
        """(layer, head) rank of each head, 1 = most important.

        Example:
            >>> HeadImportance(np.array([[0.2, 0.5], [0.1, 0.3]]), np.zeros((2, 2))).rank().tolist()
            [[3, 1], [4, 2]]
        """
        order = np.argsort(-self.scores.ravel(), kind="stable")
        ranks = np.empty(order.size, dtype=int)
        ranks[order] = np.arange(1, order.size + 1)
        return ranks.reshape(self.scores.shape)

    def ranked(self, top: int | None = None) -> list[dict[str, Any]]:
        """Heads sorted by importance, most important first, one dict per head.

        Example:
            >>> HeadImportance(np.array([[0.2, 0.5]]), np.array([[2.0, 5.0]])).ranked(1)
            [{'layer': 0, 'head': 1, 'score': 0.5, 'raw': 5.0}]
        """
        rows = []
        for i, layer in enumerate(self.layers):
            for j, head in enumerate(self.heads):
                row = {"layer": layer, "head": head, "score": float(self.scores[i, j]), "raw": float(self.raw[i, j])}
                if self.loss_change is not None:
                    row["loss_change"] = float(self.loss_change[i, j])
                if self.metric_change is not None:
                    row["metric_change"] = float(self.metric_change[i, j])
                rows.append(row)
        rows.sort(key=lambda r: -r["score"])
        return rows[:top] if top is not None else rows

    def to_frame(self):
        """The per-head table as a pandas DataFrame (``pip install 'attnviz[pandas]'``), with a rank column.

        Example:
            >>> HeadImportance(np.array([[0.2, 0.5]]), np.array([[2.0, 5.0]])).to_frame()["rank"].tolist()
            [1, 2]
        """
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("to_frame needs pandas: pip install 'attnviz[pandas]' (or use ranked())") from exc
        frame = pd.DataFrame(self.ranked())
        frame.insert(0, "rank", np.arange(1, len(frame) + 1))
        return frame

    to_dataframe = deprecated_alias("to_frame", "to_dataframe")

    def records(self) -> list[dict[str, Any]]:
        """The per-head rows (same as :meth:`ranked`)."""
        return self.ranked()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite numbers become None).

        Example:
            >>> HeadImportance(np.array([[1.0]]), np.array([[1.0]])).to_dict()["base_loss"] is None
            True
        """
        arr = lambda a: None if a is None else _finite(np.asarray(a).tolist())  # noqa: E731
        return {"format": "attnviz.head_importance/1", "method": self.method, "task": self.task,
                "layers": list(self.layers), "heads": list(self.heads), "num_examples": self.num_examples,
                "base_loss": _finite(self.base_loss), "base_metric": _finite(self.base_metric),
                "metric_name": self.metric_name, "scores": arr(self.scores), "raw": arr(self.raw),
                "loss_change": arr(self.loss_change), "metric_change": arr(self.metric_change),
                "seconds": _finite(self.seconds), "model_name": self.model_name,
                "definition": DEFINITIONS[self.method], "extra": _finite(self.extra)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeadImportance:
        """Inverse of :meth:`to_dict`.

        Example:
            >>> imp = HeadImportance(np.array([[0.5]]), np.array([[2.0]]), model_name="m")
            >>> HeadImportance.from_dict(imp.to_dict()).model_name
            'm'
        """
        arr = lambda v: None if v is None else np.array(v, dtype=np.float64)  # noqa: E731
        num = lambda v: math.nan if v is None else float(v)  # noqa: E731
        req = lambda v: np.array(v, dtype=np.float64)  # noqa: E731  (None -> nan, as __post_init__ did)
        return cls(scores=req(d["scores"]), raw=req(d["raw"]), method=d["method"], task=d["task"],
                   layers=list(d["layers"]), heads=list(d["heads"]), num_examples=int(d["num_examples"]),
                   base_loss=num(d["base_loss"]), base_metric=num(d["base_metric"]),
                   metric_name=d.get("metric_name", "accuracy"), loss_change=arr(d.get("loss_change")),
                   metric_change=arr(d.get("metric_change")), seconds=num(d.get("seconds")),
                   model_name=d.get("model_name", ""), extra=dict(d.get("extra") or {}))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the result as JSON (atomically); a folder gets ``importance.json`` inside. Returns the path.

        Example:
            >>> import tempfile
            >>> p = HeadImportance(np.array([[0.5]]), np.array([[2.0]])).save(tempfile.mkdtemp())
            >>> HeadImportance.load(p).scores.tolist()
            [[0.5]]
        """
        path = Path(path)
        if path.suffix != ".json":
            path.mkdir(parents=True, exist_ok=True)
            path = path / "importance.json"
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> HeadImportance:
        """Read what :meth:`save` wrote (a JSON file or the folder holding ``importance.json``)."""
        path = Path(path)
        if path.is_dir():
            path = path / "importance.json"
        return cls.from_dict(json.loads(path.read_text()))

    def plot(self, *, ax=None, values: str = "scores", **kwargs: Any):
        """Layers x heads map of the importance (``values``: "scores", "raw", "loss_change",
        "metric_change"); returns the Axes. kwargs go to ``imshow``.

        Example:
            >>> ax = HeadImportance(np.array([[0.2, 0.5]]), np.zeros((1, 2))).plot()
            >>> ax.images[0].get_array().tolist()
            [[0.2, 0.5]]
        """
        from attnviz.plot.importance import importance_map

        return importance_map(self, ax=ax, values=values, **kwargs)


@dataclass
class PruningCurve:
    """Accuracy (task metric) and loss against the fraction of heads masked, least important first.

    Attributes:
        fractions, metric, loss: one entry per step; pruned: number of heads masked;
        order: (layer, head) pairs in pruning order; metric_name; random_metric: the same
        curve for a random order (or None).

    Example:
        >>> c = PruningCurve([0.0, 0.5], [0.9, 0.7], [0.3, 0.6], [0, 1], [(0, 1)])
        >>> c.to_dict()["metric"]
        [0.9, 0.7]
    """

    fractions: list[float]
    metric: list[float]
    loss: list[float]
    pruned: list[int]
    order: list[tuple[int, int]]
    metric_name: str = "accuracy"
    method: str = "gradient"
    random_metric: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return _finite({"fractions": self.fractions, "metric": self.metric, "loss": self.loss, "pruned": self.pruned,
                        "order": [list(o) for o in self.order], "metric_name": self.metric_name,
                        "method": self.method, "random_metric": self.random_metric})

    def plot(self, *, ax=None, **kwargs: Any):
        """The curve (and the random-order curve, dashed); returns the Axes.

        Example:
            >>> ax = PruningCurve([0.0, 0.5], [0.9, 0.7], [0.3, 0.6], [0, 1], [(0, 1)]).plot()
            >>> ax.lines[0].get_ydata().tolist()
            [0.9, 0.7]
        """
        from attnviz.plot.importance import pruning_axes

        return pruning_axes(self, ax=ax, **kwargs)


DEFINITIONS = {
    "gradient": "Michel et al. 2019: gate xi_h = 1 on each head's output before the output projection; "
                "raw = mean over examples of |dL/dxi_h|; scores = raw / l2 norm of the layer's raw values",
    "ablation": "zero one head's output (gate xi_h = 0) at a time; scores = loss_change = mean loss with the "
                "head zeroed - mean loss; metric_change = metric - metric with the head zeroed",
}


def _finite(value: Any) -> Any:
    """Non-finite floats -> None, recursively (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (np.floating,)):
        return _finite(float(value))
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


# ----------------------------------------------------------------------------------------------------------
# gates


def output_projections(model: Any) -> list[Any]:
    """The attention output projection of each layer, in layer order (self-attention of encoder-only
    or decoder-only models), as the family table places it (``Family.attention_output``).
    Raises a ValueError naming the model type where none is found.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> [type(m).__name__ for m in output_projections(tiny_model("gpt2")[0])]
        ['Conv1D', 'Conv1D']
    """
    model_type = getattr(model.config, "model_type", "")
    fam = family_of(model.config)
    if (fam is not None and fam.decoder_layers) or getattr(model.config, "is_encoder_decoder", False):
        raise ValueError(f"head_importance supports encoder-only and decoder-only models; {model_type!r} is an "
                         "encoder-decoder: use a BERT-like classifier or a causal language model")
    found = layer_modules(model, "attention_output") or []
    layers = _num_layers(model.config)
    if not found or (layers and len(found) != layers):
        names = (fam.attention_output,) if fam is not None else PROJECTIONS
        raise ValueError(f"could not find one attention output projection per layer in this {model_type!r} model "
                         f"(found {len(found)}, expected {layers}; looked for {', '.join(map(str, names))} in each "
                         "layer): add the family to attnviz.families.FAMILIES")
    return found


def _num_layers(config: Any) -> int:
    return model_dims(config)["layers"] or 0


def _num_heads(config: Any) -> int:
    heads = model_dims(config)["heads"]
    if heads is not None:
        return heads
    raise ValueError("the model config names no number of attention heads (num_attention_heads / n_head)")


class Gates:
    """Forward pre-hooks that multiply each head's output by a gate before the output projection.

    ``values`` is a (batch, layer, head) tensor (or (layer, head), broadcast over the
    batch) read at every forward pass; set it before calling the model.

    Example:
        >>> import torch
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("bert")
        >>> with Gates(model) as g:
        ...     g.values = torch.zeros(2, 4)
        ...     out = model(**tok("a cat", return_tensors="pt")).last_hidden_state
        >>> out.shape[-1]
        32
    """

    def __init__(self, model: Any) -> None:
        self.modules = output_projections(model)
        self.num_layers, self.num_heads = len(self.modules), _num_heads(model.config)
        self.values: torch.Tensor | None = None
        self._handles: list[Any] = []

    def __enter__(self) -> Gates:
        for layer, module in enumerate(self.modules):
            self._handles.append(module.register_forward_pre_hook(self._hook(layer)))
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, layer: int):
        def hook(module, args):
            if self.values is None:
                return None
            x = args[0]
            gate = self.values[..., layer, :].to(x.dtype)
            shape = x.shape
            heads = x.view(*shape[:-1], self.num_heads, shape[-1] // self.num_heads)
            if gate.dim() == 2:                                   # (batch, head): one gate per example
                gate = gate.view(gate.shape[0], *([1] * (heads.dim() - 3)), self.num_heads, 1)
            else:
                gate = gate.view(self.num_heads, 1)
            return ((heads * gate).view(shape), *args[1:])

        return hook


# ----------------------------------------------------------------------------------------------------------
# data


@dataclass
class _Data:
    batches: list[dict[str, Any]]
    task: str
    num_examples: int


def _task(model: Any) -> str:
    name = type(model).__name__
    if name.endswith("ForSequenceClassification"):
        return "classification"
    if name.endswith(("ForCausalLM", "LMHeadModel")):
        return "lm"
    raise ValueError(f"head_importance needs a sequence classifier (*ForSequenceClassification, loss on the "
                     f"labels) or a causal language model (*ForCausalLM, next-token loss); got {name}: load the "
                     "checkpoint with its task head")


def _texts_labels(data: Any, task: str, text_column: str, label_column: str, split: str):
    """(texts, labels or None) from the accepted data forms."""
    from attnviz.data import load_labeled, load_reviews

    if data is None or (isinstance(data, str) and data == "builtin"):
        data = load_reviews()
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_file():
            raise FileNotFoundError(f"no data file at {path}: pass a .csv/.jsonl file, 'builtin' or a list of texts")
        if task == "lm":
            from attnviz.metrics.sources import iter_texts

            return list(iter_texts(path, text_column=text_column)[0]), None
        data = load_labeled(path, text_column=text_column, label_column=label_column)
    import datasets

    if isinstance(data, datasets.DatasetDict):
        if split not in data:
            raise ValueError(f"the data has no split {split!r}: use one of {list(data.keys())}")
        data = data[split]
    if hasattr(data, "column_names"):                                              # datasets.Dataset
        texts = list(data[text_column])
        labels = list(data[label_column]) if label_column in data.column_names else None
    elif isinstance(data, dict):
        texts = list(data[text_column])
        labels = list(data[label_column]) if label_column in data else None
    else:
        rows = [data] if isinstance(data, str) else list(data)
        if rows and all(isinstance(r, (tuple, list)) and len(r) == 2 for r in rows):
            texts, labels = [r[0] for r in rows], [r[1] for r in rows]
        else:
            texts, labels = rows, None
    if not texts:
        raise ValueError("the data holds no texts: pass at least one example")
    if task == "classification" and labels is None:
        raise ValueError("a classifier's importance needs labels: pass (text, label) pairs, a dataset with a "
                         f"{label_column!r} column, or a labelled .csv/.jsonl file")
    return [str(t) for t in texts], labels


def _prepare(model: Any, tokenizer: Any, data: Any, *, batch_size: int, max_length: int | None,
             text_column: str, label_column: str, split: str) -> _Data:
    import torch

    task = _task(model)
    texts, labels = _texts_labels(data, task, text_column, label_column, split)
    if labels is not None and task == "classification":
        names = getattr(model.config, "label2id", None) or {}
        labels = [names[lab] if isinstance(lab, str) and lab in names else int(lab) for lab in labels]
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))     # less padding
    batches = []
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        enc = tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True, truncation=True,
                        max_length=max_length or min(getattr(tokenizer, "model_max_length", 512), 512))
        batch = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        if task == "classification":
            batch["labels"] = torch.tensor([labels[i] for i in idx])
        batches.append(batch)
    return _Data(batches, task, len(texts))


def _per_example(model: Any, batch: dict[str, Any], task: str):
    """(per-example loss, per-example number of correct predictions, per-example count) for one batch."""
    import torch
    import torch.nn.functional as F

    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = model(**inputs).logits.float()
    if task == "classification":
        labels = batch["labels"]
        loss = F.cross_entropy(logits, labels, reduction="none")
        correct = (logits.argmax(-1) == labels).float()
        return loss, correct, torch.ones_like(correct)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    target, keep = ids[:, 1:], mask[:, 1:].bool() & mask[:, :-1].bool()
    tok = F.cross_entropy(logits[:, :-1].transpose(1, 2), target, reduction="none")
    count = keep.sum(-1).float()
    loss = (tok * keep).sum(-1) / count.clamp(min=1)
    correct = ((logits[:, :-1].argmax(-1) == target) & keep).sum(-1).float()
    return loss, correct, count


def _to(batch: dict[str, Any], device: Any) -> dict[str, Any]:
    return {k: v.to(device) for k, v in batch.items()}


@contextlib.contextmanager
def _frozen(model: Any) -> Iterator[None]:
    """Eval mode and no weight gradients during the call; both restored."""
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


def _evaluate(model: Any, data: _Data, gates: Gates, gate: Any) -> tuple[float, float]:
    """Mean loss and task metric over the data with a fixed (layer, head) gate."""
    import torch

    from attnviz.modeling import input_device

    device = input_device(model)
    gates.values = None if gate is None else gate.to(device)
    loss_sum, correct, count, n = 0.0, 0.0, 0.0, 0
    with torch.no_grad():
        for batch in data.batches:
            loss, ok, cnt = _per_example(model, _to(batch, device), data.task)
            loss_sum += float(loss.sum())
            correct += float(ok.sum())
            count += float(cnt.sum())
            n += loss.shape[0]
    gates.values = None
    return loss_sum / n, correct / max(count, 1.0)


def _metric_name(task: str) -> str:
    return "accuracy" if task == "classification" else "next-token accuracy"


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
            base_loss, base_metric = _evaluate(model, data_, gates, None)
            loss_change = np.zeros((layers, heads))
            metric_change = np.zeros((layers, heads))
            cells = [(i, j) for i in range(layers) for j in range(heads)]
            for i, j in _progress(cells, progress, "ablation"):
                gate = torch.ones(layers, heads)
                gate[i, j] = 0.0
                loss, metric = _evaluate(model, data_, gates, gate)
                loss_change[i, j] = loss - base_loss
                metric_change[i, j] = base_metric - metric
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
