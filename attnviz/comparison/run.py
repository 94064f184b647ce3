"""``compare``: two captures (or two models and the texts) -> a :class:`Comparison`."""
from __future__ import annotations

import os
from typing import Any, Sequence

from attnviz.capture import Capture
from attnviz.comparison.checks import check_same
from attnviz.comparison.result import Comparison
from attnviz.comparison.stats import statistics
from attnviz.modeling import ModelLike, Tokenizer

__all__ = ["compare"]


def compare(before: ModelLike | Capture, after: ModelLike | Capture, *, texts: str | Sequence[str] | None = None,
            tokenizer: Tokenizer = None,
            batch_size: int = 8, max_length: int | None = None, hidden_states: bool = True,
            names: tuple[str, str] | None = None, bootstrap: int = 0, level: float = 0.95, seed: int = 0,
            baseline: ModelLike | Capture | None = None) -> Comparison:
    """Compare attention (and hidden states) before and after, e.g. around fine-tuning.

    Args:
        before, after: two :class:`~attnviz.Capture` objects of the same texts, saved
            capture files (``.safetensors``), or models (local folders or loaded models);
            models are run on ``texts`` with :func:`attnviz.extract`.
        texts: the inputs for models (default: the texts of whichever side is a capture).
        tokenizer: for models given without one (default: the tokenizer saved beside each).
        batch_size, max_length, hidden_states: passed to ``extract``.
        names: labels of the two sides for tables and figures (default "before", "after").
        bootstrap: resample the examples this many times (e.g. 1000) for per-head
            percentile confidence intervals at ``level`` (``Comparison.intervals``), with ``seed``.
        baseline: the same model fine-tuned with another seed (capture, file or model): its
            per-head change from ``after`` is the noise level (``Comparison.noise``), and
            ``Comparison.flagged`` marks the heads that changed more than that.

    Raises:
        CaptureMismatchError: different numbers of examples, different tokens (the
            message gives the first differing example and token), different layers or
            heads, or maps of different shapes.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> m1, tok = tiny_model("bert", seed=0)
        >>> comp = compare(m1, tiny_model("bert", seed=1)[0], texts=["the cat sat"], tokenizer=tok)
        >>> comp.cosine.shape, bool((comp.cosine < 1).all())
        ((2, 4), True)
    """
    options = dict(batch_size=batch_size, max_length=max_length, hidden_states=hidden_states, progress=False)
    if names is not None and (isinstance(names, str) or not isinstance(names, (tuple, list)) or len(names) != 2
                              or not all(isinstance(n, str) for n in names)):
        raise TypeError(f"names={names!r}: give two labels, e.g. names=('pretrained', 'fine-tuned')")
    a, b = _as_capture(before), _as_capture(after)
    if texts is None:
        known = a if isinstance(a, Capture) else b if isinstance(b, Capture) else None
        if known is None:
            raise ValueError("compare(model, model) needs texts=: the inputs to run both models on, "
                             "e.g. texts=['a great film']")
        known_texts = [ex.text for ex in known]
        if any(t is None for t in known_texts):
            raise ValueError("the capture does not record its texts: pass texts= explicitly")
        texts = [t for t in known_texts if t is not None]
    a = a if isinstance(a, Capture) else _extract(a, tokenizer, texts, options)
    b = b if isinstance(b, Capture) else _extract(b, tokenizer, texts, options)
    check_same(a, b)
    stats = statistics(a, b)
    comp = Comparison(before=a, after=b, layers=list(a.layers), heads=list(a.heads),
                      names=(names[0], names[1]) if names else ("before", "after"), **stats)
    if bootstrap or baseline is not None:
        from attnviz.comparison.noise import bootstrap_intervals, per_example, seed_noise

        if bootstrap:
            comp.intervals = bootstrap_intervals(per_example(a, b), n=bootstrap, level=level, seed=seed)
            comp.extra["bootstrap"] = {"n": int(bootstrap), "level": float(level), "seed": int(seed)}
        if baseline is not None:
            base = _as_capture(baseline)
            base = base if isinstance(base, Capture) else _extract(base, tokenizer, texts, options)
            comp.noise = seed_noise(b, base)
    return comp


def _as_capture(value: Any) -> Any:
    from attnviz.store import load

    if isinstance(value, (str, os.PathLike)) and str(value).endswith(".safetensors"):
        return load(value)
    return value


def _extract(model: Any, tokenizer: Any, texts: Any, options: dict) -> Capture:
    from attnviz.extraction.extract import extract

    return extract(model, texts, **options, tokenizer=tokenizer)
