"""``head_stats``: per-head statistics of a :class:`~attnviz.Capture`.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_capture
    >>> cap = tiny_capture("bert", ["the cat sat on the mat.", "a dog barked!"])
    >>> stats = head_stats(cap, metrics=["cls", "sep", "prev"])
    >>> stats.values["cls"].shape == (len(cap.layers), len(cap.heads))
    True
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from attnviz.capture import Capture, Example, check_kind
from attnviz.metrics.definitions import check_metrics
from attnviz.metrics.online import RunningStats
from attnviz.metrics.roles import patch_centres, token_roles
from attnviz.metrics.stats import HeadStats


def head_stats(capture: Capture, *, metrics: Iterable[str] | str | None = None, kind: str = "self",
               batch_size: int = 32) -> HeadStats:
    """Per-head statistics of every example of a capture: mean and std over examples.

    Statistics (see :mod:`attnviz.metrics.definitions`): entropy, entropy of the [CLS]
    row, attention to [CLS]/first, [SEP]/last, "." and "," (``punct``), self, previous and
    next token, [SEP] to [SEP] and the rest to [SEP] (Clark et al. 2019); normalised
    entropy, Unicode punctuation and mean attention distance (attnviz's own), confidence (Voita et al. 2019),
    attention-sink score (Xiao et al. 2023) and the vertical/diagonal/block scores of
    Kovaleva et al.'s (2019) pattern types (:meth:`HeadStats.patterns`); for images also the
    mean attention distance in pixels (``pixel_distance``, Dosovitskiy et al. 2021). Each example
    counts its real tokens only; ``kind`` picks the self ("self"/"encoder"), "decoder"
    or "cross" attention of encoder-decoder captures (cross-attention gets the
    statistics that do not compare query and key positions).

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_capture
        >>> stats = head_stats(tiny_capture("gpt2", ["hello there, world"]), metrics="sink")
        >>> bool((stats.values["sink"] > 0).all())
        True
    """
    kind = check_kind(kind)
    if not isinstance(capture, Capture):
        raise TypeError(f"head_stats needs an attnviz.Capture, not {type(capture).__name__}: "
                        "make one with attnviz.extract(model, texts)")
    if len(capture) == 0:
        raise ValueError("the capture has no examples: extract at least one text")
    if not capture.has_attentions:
        raise ValueError("the capture holds no attention maps: extract it with attentions kept")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    chosen = check_metrics(metrics, kind=kind, image=capture[0].patch_grid is not None)
    first = capture[0].attention(kind)
    accs = {m: RunningStats(first.shape[:2]) for m in chosen}
    order = sorted(range(len(capture)), key=lambda i: capture[i].attention(kind).shape[-1])
    for s in range(0, len(order), batch_size):
        examples = [capture[i] for i in order[s:s + batch_size]]
        for name, (values, valid) in _chunk_values(examples, kind, chosen).items():
            accs[name].update(values, valid)
    layers = capture.kind_layers(kind)
    return HeadStats(values={m: a.result for m, a in accs.items()}, std={m: a.std for m, a in accs.items()},
                     counts={m: a.count for m, a in accs.items()}, layers=list(layers), heads=list(capture.heads),
                     num_examples=len(capture), kind=kind, model_name=capture.model_name)


def example_roles(ex: Example, side: str = "self") -> dict[str, np.ndarray]:
    """Token roles (first, sep, punct, special, boundary) of an example's encoder or decoder tokens.

    Example:
        >>> example_roles(Example(tokens=["[CLS]", "hi", "[SEP]"], special_mask=[True, False, True]))["sep"].tolist()
        [False, False, True]
    """
    tokens, display, special = ex.side_tokens(side)
    roles = token_roles(tokens, special, display)
    if side == "self" and ex.patch_grid is not None and ex.patch_positions is not None:
        roles["patch_xy"] = patch_centres(len(tokens), ex.patch_grid, ex.patch_positions,
                                          None if ex.image is None else ex.image.shape)
    return roles


def _chunk_values(examples: list[Example], kind: str, metrics: tuple[str, ...]):
    import torch

    from attnviz.metrics.kernel import batch_values, cross_values, token_batch

    for ex in examples:
        ex.require_all_rows("head_stats")
    maps = [ex.attention(kind) for ex in examples]
    lq = max(m.shape[-2] for m in maps)
    lk = max(m.shape[-1] for m in maps)
    layers, heads = maps[0].shape[:2]
    padded = np.zeros((len(maps), layers, heads, lq, lk), np.float32)
    for b, m in enumerate(maps):
        if m.shape[:2] != (layers, heads):
            raise ValueError(f"examples hold different layers/heads ({m.shape[:2]} vs {(layers, heads)}): "
                             "compute statistics per capture made with one layers=/heads= selection")
        padded[b, :, :, :m.shape[-2], :m.shape[-1]] = m
    att = torch.from_numpy(padded)
    starts = [0] * len(maps)
    if kind == "cross":
        keys = token_batch([example_roles(ex) for ex in examples], starts, lk)
        q_real = torch.zeros((len(maps), lq), dtype=torch.bool)
        for b, m in enumerate(maps):
            q_real[b, :m.shape[-2]] = True
        return cross_values(att, q_real, keys, metrics)
    side = "decoder" if kind == "decoder" else "self"
    tb = token_batch([example_roles(ex, side) for ex in examples], starts, lk)
    return batch_values(att, tb, metrics)
