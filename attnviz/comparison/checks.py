"""The two captures of a comparison cover the same texts, tokens, layers and heads."""
from __future__ import annotations

from attnviz.capture import Capture, format_ranges

__all__ = ["CaptureMismatchError", "check_same"]


class CaptureMismatchError(ValueError):
    """The two captures are not of the same texts, tokens, layers or heads.

    Example:
        >>> issubclass(CaptureMismatchError, ValueError)
        True
    """


def check_same(a: Capture, b: Capture) -> None:
    """Raise :class:`CaptureMismatchError` unless ``a`` and ``b`` cover the same tokens,
    layers, heads and map shapes; the message says exactly where they differ.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> m, t = tiny_model("bert")
        >>> try:
        ...     check_same(attnviz.extract(m, "a cat", tokenizer=t), attnviz.extract(m, "a dog", tokenizer=t))
        ... except CaptureMismatchError as err:
        ...     print(str(err).split(";")[0])
        example 0 differs at token 2: before has 'cat', after has 'dog'
    """
    if not a.has_attentions or not b.has_attentions:
        raise CaptureMismatchError("a capture has no attention maps: extract both with attentions kept")
    if len(a) != len(b):
        raise CaptureMismatchError(f"before has {len(a)} example(s) and after has {len(b)}: compare captures "
                                   "of the same texts")
    if list(a.layers) != list(b.layers) or list(a.heads) != list(b.heads):
        raise CaptureMismatchError(
            f"the captures cover different layers/heads: before {len(a.layers)} layers x {len(a.heads)} heads "
            f"(layers {format_ranges(a.layers)}, heads {format_ranges(a.heads)}), after {len(b.layers)} x {len(b.heads)} "
            f"(layers {format_ranges(b.layers)}, heads {format_ranges(b.heads)}); compare two checkpoints of the same "
            "architecture, extracted with the same layers=/heads=")
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x.tokens != y.tokens:
            n = min(len(x.tokens), len(y.tokens))
            j = next((k for k, (s, t) in enumerate(zip(x.tokens[:n], y.tokens[:n], strict=True)) if s != t),
                     min(len(x.tokens), len(y.tokens)))
            got = lambda toks: repr(toks[j]) if j < len(toks) else "no token (it is shorter)"  # noqa: E731, B023 (used at once)
            raise CaptureMismatchError(
                f"example {i} differs at token {j}: before has {got(x.tokens)}, after has {got(y.tokens)}; "
                "compare captures of the same texts made with the same tokenizer")
        if x.attention().shape != y.attention().shape:
            raise CaptureMismatchError(f"example {i}: attention shapes differ ({x.attention().shape} vs "
                                       f"{y.attention().shape}); extract both with the same settings")
