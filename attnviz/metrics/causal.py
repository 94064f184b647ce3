"""Does the attention matter? Interventions on attention and what they do to the output.

Both analyses run on :func:`attnviz.intervene` (scores set to -inf before the softmax, head
patterns or outputs replaced), several interventions per padded batch:

* :func:`knockout_map` (Geva et al. 2023, "Dissecting Recall of Factual Associations", their
  attention knockout figure): for each window of ``window`` consecutive layers, the target
  position's attention to the source positions is blocked in every head of those layers, and
  the relative change of the probability of the predicted token (a causal language model:
  the next token after the target) or of the predicted label (a sequence classifier) is
  reported: ``(p_knocked - p) / p``.
* :func:`head_patching` (Wang et al. 2022, "Interpretability in the Wild", activation
  patching): per layer and head, the head's attention pattern (``what="pattern"``) or its
  output (``what="output"``) is taken from the clean run into the corrupt run, and the
  recovered fraction of the metric is reported:
  ``(m_patched - m_corrupt) / (m_clean - m_corrupt)`` (means over the pairs). When clean and
  corrupt give the same metric (``|m_clean - m_corrupt| <= 1e-6 max(1, |m_clean|)``) there is
  nothing to recover and every entry is defined as 0.

Example:
    >>> from attnviz.testing import tiny_model
    >>> model, tok = tiny_model("gpt2", head="lm")
    >>> km = knockout_map(model, ["the cat sat on the mat", "a dog ran home"], tokenizer=tok)
    >>> km.change.shape, km.windows[:2]
    ((2, 2), [[0], [1]])
"""
from __future__ import annotations

__all__ = ["HeadPatching", "KnockoutMap", "head_patching", "knockout_map"]

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from attnviz.extraction.intervene import RowEdits, intervene_rows
from attnviz.families import is_causal
from attnviz.modeling import (
    ModelLike,
    Tokenizer,
    forward_parameters,
    input_device,
    model_name,
    model_task,
    resolve_model,
)
from attnviz.results import ResultIO

SOURCES = ("previous", "all", "self", "first")
METRICS = ("logit_diff", "prob", "label_prob")
TINY = 1e-6


# ----------------------------------------------------------------------------------------------------------
# results


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _floats(value: Any) -> Any:
    return np.array(np.asarray(value, dtype=object).tolist(), dtype=np.float64) if value is not None else None


@dataclass(eq=False)
class KnockoutMap(ResultIO):
    """Relative change of the predicted token's (or label's) probability when attention edges are blocked.

    Attributes:
        change: (text, window) ``(p_knocked - p) / p``.
        windows: the layers of each window.
        texts, targets (the target position in each text), predicted (token or label),
            base_prob (p of the unedited model), sources (the blocked keys' spec), task
            ("lm" or "classification"), model_name, seconds.

    Example:
        >>> km = KnockoutMap(np.array([[-0.5, 0.0]]), [[0], [1]], texts=["a b"], targets=[1])
        >>> km.top(1)[0]["layers"], KnockoutMap.from_dict(km.to_dict()) == km
        ([0], True)
    """

    change: np.ndarray
    windows: list[list[int]]
    texts: list[str] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)
    predicted: list[str] = field(default_factory=list)
    base_prob: list[float] = field(default_factory=list)
    sources: Any = "previous"
    task: str = "lm"
    model_name: str = ""
    seconds: float = math.nan

    def __post_init__(self) -> None:
        self.change = np.asarray(self.change, dtype=np.float64)
        self.windows = [[int(x) for x in w] for w in self.windows]

    def __repr__(self) -> str:
        return f"KnockoutMap({len(self.texts)} text(s) x {len(self.windows)} window(s), sources={self.sources!r})"

    @property
    def mean(self) -> np.ndarray:
        """Mean relative change per window (over the texts)."""
        return self.change.mean(0) if len(self.change) else np.zeros(len(self.windows))

    def top(self, n: int = 5, *, by: str = "drop") -> list[dict[str, Any]]:
        """The ``n`` windows with the largest mean drop (``by="drop"``) or largest absolute change (``"change"``).

        Example:
            >>> KnockoutMap(np.array([[-0.1, -0.6, 0.2]]), [[0], [1], [2]]).top(1)[0]["layers"]
            [1]
        """
        if by not in ("drop", "change"):
            raise ValueError(f"by={by!r}: use 'drop' or 'change'")
        mean = self.mean
        order = np.argsort(mean if by == "drop" else -np.abs(mean), kind="stable")
        return [{"window": int(i), "layers": self.windows[i], "mean_change": float(mean[i])} for i in order[:n]]

    def records(self) -> list[dict[str, Any]]:
        """One row per text and window."""
        return [{"text": self.texts[t] if t < len(self.texts) else t, "window": w, "layers": self.windows[w],
                 "change": float(self.change[t, w]),
                 "base_prob": float(self.base_prob[t]) if t < len(self.base_prob) else math.nan}
                for t in range(self.change.shape[0]) for w in range(self.change.shape[1])]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"format": "attnviz.knockout_map/1", "change": _finite(self.change.tolist()),
                "windows": self.windows, "texts": list(self.texts), "targets": [int(t) for t in self.targets],
                "predicted": list(self.predicted), "base_prob": _finite([float(p) for p in self.base_prob]),
                "sources": self.sources, "task": self.task, "model_name": self.model_name,
                "seconds": _finite(float(self.seconds)),
                "definition": "change = (p_knocked - p) / p of the predicted token (LM) or label (classifier), "
                              "target->sources attention blocked in every head of the window (Geva et al. 2023)"}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> KnockoutMap:
        """Inverse of :meth:`to_dict`."""
        seconds = doc.get("seconds")
        return cls(change=_floats(doc["change"]).reshape(len(doc["texts"]) or -1, len(doc["windows"])),
                   windows=doc["windows"], texts=list(doc["texts"]), targets=list(doc["targets"]),
                   predicted=list(doc["predicted"]), base_prob=[math.nan if p is None else p for p in doc["base_prob"]],
                   sources=doc["sources"], task=doc["task"], model_name=doc.get("model_name", ""),
                   seconds=math.nan if seconds is None else float(seconds))

    def plot(self, *, ax: Any = None, **kwargs: Any):
        """Mean relative change (%) per window, with the texts' spread; returns the Axes.

        Example:
            >>> ax = KnockoutMap(np.array([[-0.5, 0.1]]), [[0], [1]]).plot()
            >>> ax.lines[0].get_ydata().tolist()
            [-50.0, 10.0]
        """
        from attnviz.plot.causal import knockout_axes

        return knockout_axes(self, ax=ax, **kwargs)


@dataclass(eq=False)
class HeadPatching(ResultIO):
    """Recovered fraction of the metric when one head is patched from the clean into the corrupt run.

    Attributes:
        recovered: (layer, head) ``(m_patched - m_corrupt) / (m_clean - m_corrupt)`` (0 when
            clean and corrupt agree).
        patched: (layer, head) the metric of the patched runs (mean over the pairs).
        clean_metric, corrupt_metric: the metric of the unedited runs.
        all_heads: the recovered fraction with every head of every layer patched at once.
        metric, what ("pattern" or "output"), num_pairs, model_name, seconds.

    Example:
        >>> hp = HeadPatching(np.array([[0.0, 0.5]]), np.array([[1.0, 2.0]]), clean_metric=3.0, corrupt_metric=1.0)
        >>> hp.top(1)[0]["head"], HeadPatching.from_dict(hp.to_dict()) == hp
        (1, True)
    """

    recovered: np.ndarray
    patched: np.ndarray
    clean_metric: float = math.nan
    corrupt_metric: float = math.nan
    all_heads: float = math.nan
    metric: str = "logit_diff"
    what: str = "pattern"
    num_pairs: int = 0
    model_name: str = ""
    seconds: float = math.nan

    def __post_init__(self) -> None:
        self.recovered = np.asarray(self.recovered, dtype=np.float64)
        self.patched = np.asarray(self.patched, dtype=np.float64)

    def __repr__(self) -> str:
        layers, heads = self.recovered.shape
        return f"HeadPatching({layers} layers x {heads} heads, metric={self.metric!r}, what={self.what!r})"

    def top(self, n: int = 5, *, by: str = "recovered") -> list[dict[str, Any]]:
        """The ``n`` heads that recover most (``by="recovered"``) or move the metric most (``"abs"``)."""
        if by not in ("recovered", "abs"):
            raise ValueError(f"by={by!r}: use 'recovered' or 'abs'")
        flat = self.recovered.ravel()
        order = np.argsort(-flat if by == "recovered" else -np.abs(flat), kind="stable")
        heads = self.recovered.shape[1]
        return [{"layer": int(i // heads), "head": int(i % heads), "recovered": float(flat[i]),
                 "patched": float(self.patched.ravel()[i])} for i in order[:n]]

    def records(self) -> list[dict[str, Any]]:
        """One row per layer and head."""
        layers, heads = self.recovered.shape
        return [{"layer": l, "head": h, "recovered": float(self.recovered[l, h]), "patched": float(self.patched[l, h])}
                for l in range(layers) for h in range(heads)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        num = lambda v: _finite(float(v))  # noqa: E731
        return {"format": "attnviz.head_patching/1", "recovered": _finite(self.recovered.tolist()),
                "patched": _finite(self.patched.tolist()), "clean_metric": num(self.clean_metric),
                "corrupt_metric": num(self.corrupt_metric), "all_heads": num(self.all_heads), "metric": self.metric,
                "what": self.what, "num_pairs": int(self.num_pairs), "model_name": self.model_name,
                "seconds": num(self.seconds),
                "definition": "recovered = (m_patched - m_corrupt) / (m_clean - m_corrupt), 0 when m_clean == "
                              "m_corrupt (Wang et al. 2022)"}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> HeadPatching:
        """Inverse of :meth:`to_dict`."""
        num = lambda v: math.nan if v is None else float(v)  # noqa: E731
        return cls(recovered=_floats(doc["recovered"]), patched=_floats(doc["patched"]),
                   clean_metric=num(doc["clean_metric"]), corrupt_metric=num(doc["corrupt_metric"]),
                   all_heads=num(doc.get("all_heads")), metric=doc["metric"], what=doc["what"],
                   num_pairs=int(doc["num_pairs"]), model_name=doc.get("model_name", ""), seconds=num(doc.get("seconds")))

    def plot(self, *, ax: Any = None, **kwargs: Any):
        """Layers x heads map of the recovered fraction (:func:`attnviz.plot.causal.patching_map`); the Axes.

        Example:
            >>> ax = HeadPatching(np.array([[0.0, 0.5]]), np.zeros((1, 2))).plot()
            >>> ax.images[0].get_array().tolist()
            [[0.0, 0.5]]
        """
        from attnviz.plot.causal import patching_map

        return patching_map(self, ax=ax, **kwargs)


# ----------------------------------------------------------------------------------------------------------
# shared helpers


def _num_layers(model: Any) -> int:
    from attnviz.families import model_dims

    return int(model_dims(model.config)["layers"] or 0)


def _encode(tokenizer: Any, texts: Sequence[str], max_length: int | None) -> list[list[int]]:
    enc = tokenizer(list(texts), truncation=max_length is not None, max_length=max_length)
    return [list(ids) for ids in enc["input_ids"]]


def _padded(rows: Sequence[list[int]], pad: int, device: Any) -> dict[str, Any]:
    """Right-padded input ids and attention mask (positions stay those of the unpadded text)."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}


def _scores(model: Any, batch: dict[str, Any], task: str, positions: Sequence[int],
            accepts: frozenset[str]) -> Any:
    """Logits (rows, vocab or labels) at each row's position (LM) or of the labels.

    No key/value cache is built, and a language model computes its (token x vocabulary) logits
    only at the positions asked for (``logits_to_keep``) where its forward takes that option
    (``accepts``: :func:`attnviz.modeling.forward_parameters`).
    """
    import torch

    options = {"use_cache": False} if "use_cache" in accepts else {}
    if task != "lm":
        return model(**batch, **options).logits.float()
    wanted = torch.as_tensor(positions)
    if "logits_to_keep" in accepts:
        kept = torch.unique(wanted)  # sorted: row i's logits are at kept's index of its position
        logits = model(**batch, **options, logits_to_keep=kept.to(batch["input_ids"].device)).logits.float()
        wanted = torch.searchsorted(kept, wanted)
    else:
        logits = model(**batch, **options).logits.float()
    return logits[torch.arange(len(positions)), wanted.to(logits.device)]


def _position(spec: Any, length: int, what: str) -> int:
    if isinstance(spec, str):
        if spec not in ("last", "first"):
            raise ValueError(f"{what}={spec!r}: use 'last', 'first' or a position (negative counts from the end)")
        return length - 1 if spec == "last" else 0
    if not -length <= int(spec) < length:
        raise ValueError(f"{what}={spec} is outside a text of {length} tokens: use -{length} to {length - 1}")
    return int(spec) % length


def _source_keys(sources: Any, target: int, length: int, causal: bool) -> list[int]:
    if isinstance(sources, str):
        if sources not in SOURCES:
            raise ValueError(f"sources={sources!r}: use one of {', '.join(SOURCES)} or a list of positions")
        if sources == "previous":
            return list(range(target)) if causal else [k for k in range(length) if k != target]
        if sources == "all":
            return list(range(target + 1 if causal else length))
        return [target] if sources == "self" else [0]
    keys = [int(p) % length for p in sources if -length <= int(p) < length]
    return sorted({k for k in keys if not causal or k <= target})


def _pad_id(tokenizer: Any) -> int:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return int(pad or 0)


# ----------------------------------------------------------------------------------------------------------
# knockout


def knockout_map(model: ModelLike, texts: Sequence[str] | str, *, tokenizer: Tokenizer = None, target: Any = None,
                 sources: Any = "previous", window: int = 1, batch_size: int = 32,
                 max_length: int | None = None) -> KnockoutMap:
    """Geva et al.'s attention knockout: block target->sources in windows of layers, measure the prediction.

    Args:
        model: a causal language model or a sequence classifier (or a local folder).
        texts: the inputs.
        target: the query position whose attention is blocked: ``"last"`` (default for
            language models and decoder classifiers), ``"first"`` (default for encoder
            classifiers: [CLS]) or a position (negative counts from the end).
        sources: the keys it may no longer see: ``"previous"`` (every other token; in a causal
            model the ones before it), ``"all"`` (the row attends nowhere: the heads add
            nothing there), ``"self"``, ``"first"`` or a list of positions.
        window: number of consecutive layers blocked together; one entry per window start.
        batch_size: rows per padded batch (each row one text under one window's knockout).

    The probability is that of the unedited model's prediction: the next token after the
    target (LM) or the predicted label (classifier).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("bert", head="sequence-classification")
        >>> km = knockout_map(model, ["a good film"], tokenizer=tok, sources="all")
        >>> km.targets, km.task
        ([0], 'classification')
    """
    import torch

    started = time.perf_counter()
    model, tokenizer = resolve_model(model, tokenizer)
    accepts = forward_parameters(model)
    task = model_task(model, needed_by="knockout_map")
    texts = [texts] if isinstance(texts, str) else [str(t) for t in texts]
    if not texts:
        raise ValueError("knockout_map needs at least one text")
    layers = _num_layers(model)
    if not 1 <= int(window) <= layers:
        raise ValueError(f"window={window}: use 1 to {layers} (the model has {layers} layers)")
    windows = [list(range(s, s + int(window))) for s in range(layers - int(window) + 1)]
    causal = task == "lm" or is_causal(model.config)  # a decoder's classifier reads the last token
    target = target if target is not None else ("last" if causal else "first")
    encoded = _encode(tokenizer, texts, max_length)
    targets = [_position(target, len(ids), "target") for ids in encoded]
    keys = [_source_keys(sources, t, len(ids), causal) for t, ids in zip(targets, encoded, strict=True)]
    device, pad = input_device(model), _pad_id(tokenizer)
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            base_logp: list[Any] = [None] * len(texts)
            for s in range(0, len(order), batch_size):
                idx = order[s:s + batch_size]
                out = _scores(model, _padded([encoded[i] for i in idx], pad, device), task, [targets[i] for i in idx],
                              accepts)
                for i, row in zip(idx, out.log_softmax(-1), strict=True):
                    base_logp[i] = row
            predicted = [int(base_logp[i].argmax()) for i in range(len(texts))]
            base = np.array([float(base_logp[i][predicted[i]].exp()) for i in range(len(texts))])
            jobs = [(i, w) for i in order for w in range(len(windows))]
            knocked = np.zeros((len(texts), len(windows)))
            for s in range(0, len(jobs), batch_size):
                chunk = jobs[s:s + batch_size]
                edits = [RowEdits(rows=[r], block={(l, None): [(targets[i], k) for k in keys[i]] for l in windows[w]})
                         for r, (i, w) in enumerate(chunk)]
                batch = _padded([encoded[i] for i, _ in chunk], pad, device)
                with intervene_rows(model, edits):
                    logp = _scores(model, batch, task, [targets[i] for i, _ in chunk], accepts).log_softmax(-1)
                for r, (i, w) in enumerate(chunk):
                    knocked[i, w] = float(logp[r, predicted[i]].exp())
    finally:
        model.train(was_training)
    change = (knocked - base[:, None]) / base[:, None]
    names = _label_names(model, tokenizer, task, predicted)
    return KnockoutMap(change, windows, texts=texts, targets=targets, predicted=names, base_prob=base.tolist(),
                       sources=sources if isinstance(sources, str) else [int(p) for p in sources], task=task,
                       model_name=model_name(model), seconds=time.perf_counter() - started)


def _label_names(model: Any, tokenizer: Any, task: str, ids: Sequence[int]) -> list[str]:
    if task == "lm":
        return [tokenizer.decode([i]) for i in ids]
    names = getattr(model.config, "id2label", None) or {}
    return [str(names.get(i, i)) for i in ids]


# ----------------------------------------------------------------------------------------------------------
# patching


def head_patching(model: ModelLike, clean: Sequence[str] | str, corrupt: Sequence[str] | str, *,
                  tokenizer: Tokenizer = None, metric: str | None = None, what: str = "pattern",
                  answers: Sequence[tuple[str, str]] | None = None, batch_size: int = 32) -> HeadPatching:
    """Per layer and head, patch the clean run's pattern (or output) into the corrupt run (Wang et al. 2022).

    Args:
        model: a causal language model or a sequence classifier.
        clean, corrupt: texts in pairs; each pair must have the same number of tokens.
        metric: ``"logit_diff"`` (LM default: logit of the clean answer minus that of the
            corrupt answer at the last token), ``"prob"`` (probability of the clean answer) or
            ``"label_prob"`` (classifier default: probability of the clean run's label).
        what: ``"pattern"`` (the head's attention weights) or ``"output"`` (its output, the
            slice of the output projection's input).
        answers: (clean answer, corrupt answer) token strings per pair; default: each run's
            most likely next token.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("gpt2", head="lm")
        >>> hp = head_patching(model, ["the cat sat on the mat"], ["the dog sat on the mat"], tokenizer=tok)
        >>> hp.recovered.shape
        (2, 4)
    """
    import torch

    started = time.perf_counter()
    model, tokenizer = resolve_model(model, tokenizer)
    accepts = forward_parameters(model)
    task = model_task(model, needed_by="head_patching")
    clean = [clean] if isinstance(clean, str) else list(clean)
    corrupt = [corrupt] if isinstance(corrupt, str) else list(corrupt)
    if len(clean) != len(corrupt) or not clean:
        raise ValueError(f"head_patching needs clean and corrupt texts in pairs; got {len(clean)} and {len(corrupt)}")
    metric = metric or ("logit_diff" if task == "lm" else "label_prob")
    if metric not in METRICS or (task == "classification") != (metric == "label_prob"):
        allowed = "label_prob" if task == "classification" else "logit_diff or prob"
        raise ValueError(f"metric={metric!r}: use {allowed} for this {task} model")
    if what not in ("pattern", "output"):
        raise ValueError(f"what={what!r}: use 'pattern' or 'output'")
    layers = _num_layers(model)
    heads = _heads(model)
    device = input_device(model)
    sites = [(l, h) for l in range(layers) for h in range(heads)]
    patched = np.zeros((len(clean), layers * heads))
    ends = np.zeros((len(clean), 3))  # clean, corrupt, all heads
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for p, (a, b) in enumerate(zip(clean, corrupt, strict=True)):
                ids_a, ids_b = _encode(tokenizer, [a, b], None)
                if len(ids_a) != len(ids_b):
                    raise ValueError(f"pair {p}: the clean text has {len(ids_a)} tokens and the corrupt one "
                                     f"{len(ids_b)}: patching needs the same positions; reword one of them")
                last = len(ids_a) - 1
                with intervene_rows(model, [], record=True) as rec:
                    clean_scores = _scores(model, _padded([ids_a], 0, device), task, [last], accepts)[0]
                corrupt_scores = _scores(model, _padded([ids_b], 0, device), task, [last], accepts)[0]
                score = _metric_fn(metric, tokenizer, clean_scores, corrupt_scores, answers[p] if answers else None)
                ends[p, :2] = score(clean_scores), score(corrupt_scores)
                source = {l: rec.recorded[("self", l)] for l in range(layers)}

                jobs: list[Any] = [[s] for s in sites] + [sites]
                for s in range(0, len(jobs), batch_size):
                    chunk = jobs[s:s + batch_size]
                    edits = []
                    for r, group in enumerate(chunk):
                        merged: dict[str, dict] = {"patch": {}, "outputs": {}}
                        for l, h in group:
                            weights, head_out = source[l]
                            if what == "pattern":
                                merged["patch"][(l, h)] = weights[0, h]
                            else:
                                merged["outputs"][(l, h)] = head_out[0, :, h]
                        edits.append(RowEdits(rows=[r], **merged))
                    with intervene_rows(model, edits):
                        out = _scores(model, _padded([ids_b] * len(chunk), 0, device), task, [last] * len(chunk),
                                      accepts)
                    for r in range(len(chunk)):
                        index = s + r
                        if index < len(sites):
                            patched[p, index] = score(out[r])
                        else:
                            ends[p, 2] = score(out[r])
    finally:
        model.train(was_training)
    m_clean, m_corrupt, m_all = ends.mean(0)
    m_patched = patched.mean(0).reshape(layers, heads)
    denominator = m_clean - m_corrupt
    if abs(denominator) <= TINY * max(1.0, abs(m_clean)):
        recovered, all_heads = np.zeros((layers, heads)), 0.0
    else:
        recovered, all_heads = (m_patched - m_corrupt) / denominator, float((m_all - m_corrupt) / denominator)
    return HeadPatching(recovered, m_patched, clean_metric=float(m_clean), corrupt_metric=float(m_corrupt),
                        all_heads=all_heads, metric=metric, what=what, num_pairs=len(clean),
                        model_name=model_name(model), seconds=time.perf_counter() - started)


def _heads(model: Any) -> int:
    from attnviz.families import model_dims

    return int(model_dims(model.config)["heads"] or 0)


def _metric_fn(metric: str, tokenizer: Any, clean: Any, corrupt: Any, answers: tuple[str, str] | None):
    """The metric of one run's scores (LM: next-token logits; classifier: label logits)."""
    if answers is not None:
        ids = [tokenizer.convert_tokens_to_ids(t) if t in tokenizer.get_vocab() else
               tokenizer(t, add_special_tokens=False)["input_ids"][0] for t in answers]
        good, bad = int(ids[0]), int(ids[1])
    else:
        good, bad = int(clean.argmax()), int(corrupt.argmax())
    if metric == "logit_diff":
        return lambda s: float(s[good] - s[bad])
    return lambda s: float(s.softmax(-1)[good])
