"""The data inside an HTML view: chosen maps, quantised to uint8, compressed, base64.

A view carries one :class:`KindData` per attention kind it can show ("self" for
encoder-only and decoder-only models; "encoder", "decoder" and "cross" for
encoder-decoders). Each map (one layer and head) is quantised to 0..255 relative to
its own maximum, ``q = round(255 * a / max(a))``, so a weight is known to within
``max(a) / 510``; the bytes are compressed with zlib and written as base64. The page
decodes them with the browser's own ``DecompressionStream``: no library, no network.

Example:
    >>> from attnviz.testing import tiny_capture
    >>> cap = tiny_capture("bert", "the cat sat")
    >>> kinds = select_kinds(cap, example=0)
    >>> entry = encode_kind(kinds[0])
    >>> np.allclose(decode_maps(entry), kinds[0].maps, atol=kinds[0].maps.max() / 500)
    True
"""
from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from attnviz.capture import Capture, Example, check_kind

KIND_LABELS = {"self": "Self-attention", "encoder": "Encoder", "decoder": "Decoder", "cross": "Cross"}
PAGE_OVERHEAD = 40_000  # bytes of JS, CSS and markup around the data (measured: about 30 kB)


@dataclass
class KindData:
    """The maps of one attention kind chosen for a view, with their token labels.

    Attributes:
        name: "self", "encoder", "decoder" or "cross".
        maps: (layer, head, query, key) float array of the chosen layers and heads.
        layers / heads: model indices of axis 0 / axis 1 of ``maps``.
        query_tokens / key_tokens: display forms of the row / column tokens.
        query_special / key_special: True where a row / column token is special.
        query_prompt / key_prompt: for generated captures, how many of the row / column
            tokens were given (the prompt); the rest were generated. None otherwise.
        sentence_b_start: for self-attention over a text pair, the first token of the
            second text (B); None otherwise.

    Example:
        >>> k = KindData("self", np.ones((1, 1, 1, 1)), [0], [0], ["a"], ["a"], [False], [False])
        >>> k.label
        'Self-attention'
    """

    name: str
    maps: np.ndarray
    layers: list[int]
    heads: list[int]
    query_tokens: list[str]
    key_tokens: list[str]
    query_special: list[bool]
    key_special: list[bool]
    query_prompt: int | None = None
    key_prompt: int | None = None
    sentence_b_start: int | None = None
    query_rows: list[int] | None = None

    @property
    def label(self) -> str:
        """Human name of the kind, for the selector in the page."""
        return KIND_LABELS[self.name]

    @property
    def raw_bytes(self) -> int:
        """Bytes of the maps at one byte per weight (before compression)."""
        return int(np.prod(self.maps.shape))


def kinds_of(example: Example, kind: str | None) -> list[str]:
    """The attention kinds a view of ``example`` shows (all it has when ``kind`` is None).

    Example:
        >>> kinds_of(Example(tokens=["a"], attentions=np.ones((1, 1, 1, 1))), None)
        ['self']
    """
    if kind is not None:
        kind = check_kind(kind)
        if kind == "self" and example.is_encoder_decoder:
            kind = "encoder"
        return [kind]
    names = ["encoder", "decoder", "cross"] if example.is_encoder_decoder else ["self"]
    have = [k for k in names if check_kind(k) in example.attention_kinds]
    if not have:
        raise ValueError(
            "this capture has no attention maps: extract it again with attnviz.extract(model, texts), "
            "which keeps attentions (eager attention is switched on for you)")
    return have


def select_kinds(capture: Capture, *, example: int = 0, kind: str | None = None,
                 layers: Sequence[int] | None = None, heads: Sequence[int] | None = None) -> list[KindData]:
    """Check the arguments of a view and gather the maps it shows.

    ``layers`` / ``heads`` are model indices (as in ``capture.layers``); a bad one
    raises a ValueError that lists the valid ones.

    Example:
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("bert", "the cat")
        >>> select_kinds(cap, heads=[1, 3])[0].maps.shape[:2]
        (2, 2)
    """
    if not isinstance(capture, Capture):
        raise TypeError(f"expected an attnviz Capture, got {type(capture).__name__}: "
                        "make one with attnviz.extract(model, texts)")
    if not isinstance(example, (int, np.integer)) or isinstance(example, bool):
        raise TypeError(f"example must be an int index, not {example!r}")
    if len(capture) == 0:
        raise ValueError("this capture has no examples: extract it from at least one text")
    ex = capture[example]
    return [_kind_data(capture, ex, name, layers, heads) for name in kinds_of(ex, kind)]


def _kind_data(capture: Capture, ex: Example, name: str, layers, heads) -> KindData:
    array = ex.attention(name)  # raises the message that names the kinds the example has
    axes = ex.kind_axes(name)
    kept_layers = capture.kind_layers(name) or list(range(array.shape[0]))
    kept_heads = list(capture.heads) or list(range(array.shape[1]))
    lpos = _positions(layers, kept_layers, "layer", array.shape[0])
    hpos = _positions(heads, kept_heads, "head", array.shape[1])
    queries, keys = axes.query_labels, axes.key_labels
    if array.shape[2:] != (len(queries), len(keys)):
        raise ValueError(f"the {name} maps have shape {array.shape[2:]} but the example has "
                         f"{len(queries)} x {len(keys)} tokens: the capture is inconsistent, extract it again")
    maps = array[np.ix_(lpos, hpos)] if (len(lpos), len(hpos)) != array.shape[:2] else np.asarray(array)  # lazy: reads the listed layers only
    rows = axes.query_rows
    return KindData(name, maps, [kept_layers[i] for i in lpos], [kept_heads[i] for i in hpos],
                    queries, keys, axes.query_special, axes.key_special, axes.query_prompt, axes.key_prompt,
                    sentence_b_start=sentence_b_start(ex) if axes.kind == "self" and rows is None else None,
                    query_rows=rows)


def sentence_b_start(ex: Example) -> int | None:
    """Index of the first token of the second text of a text pair (as bertviz's ``sentence_b_start``).

    The second text starts after the first run of special tokens that follows the first
    text (``[CLS] A [SEP] B [SEP]``: B starts after the [SEP]; ``<s> A </s></s> B </s>``:
    after both ``</s>``). None when the example is not a pair or no separator is found.

    Example:
        >>> ex = Example(tokens=["[CLS]", "a", "[SEP]", "b", "[SEP]"], text="a", text_pair="b",
        ...              special_mask=[True, False, True, False, True])
        >>> sentence_b_start(ex)
        3
    """
    if ex.text_pair is None or ex.is_encoder_decoder:
        return None
    special = [bool(s) for s in ex.special_mask or []]
    i = 0
    while i < len(special) and special[i]:
        i += 1
    while i < len(special) and not special[i]:
        i += 1
    while i < len(special) and special[i]:
        i += 1
    return i if 0 < i < len(special) else None


def _positions(chosen: Sequence[int] | None, kept: list[int], what: str, size: int) -> list[int]:
    if chosen is None:
        return list(range(min(len(kept), size)))
    if isinstance(chosen, (int, np.integer)):
        chosen = [int(chosen)]
    chosen = list(chosen)
    if not chosen:
        raise ValueError(f"{what}s=[] selects nothing: pass at least one {what}, or None for all")
    out = []
    for value in chosen:
        if not isinstance(value, (int, np.integer)) or int(value) not in kept:
            raise ValueError(f"{what} {value!r} is out of range: this capture has {what}s {_short(kept)}; "
                             f"pass {what}s= with some of those")
        out.append(kept.index(int(value)))
    return out


def _short(values: list[int]) -> str:
    if values and values == list(range(values[0], values[-1] + 1)) and len(values) > 2:
        return f"{values[0]}..{values[-1]}"
    return str(values)


def quantise(maps: np.ndarray, gamma: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """uint8 maps and one float scale per map: ``a ≈ (q / 255) ** gamma * scale``.

    ``gamma=2`` (the long-input views) spends the 256 steps on a square-root scale, so the
    small weights of a long map with an attention sink (0.3 on the first key, 1e-4
    elsewhere) keep a few steps instead of rounding to 0. Works layer by layer so a large
    float32 capture is never copied whole.

    Example:
        >>> q, s = quantise(np.array([[[[0.5, 0.25], [1.0, 0.0]]]]))
        >>> q.ravel().tolist(), s.tolist()
        ([128, 64, 255, 0], [1.0])
    """
    layers, heads = maps.shape[:2]
    out = np.empty(maps.shape, dtype=np.uint8)
    scales = np.empty(layers * heads, dtype=np.float32)
    for li in range(layers):
        layer = np.asarray(maps[li], dtype=np.float32)
        if layer.size and layer.min() < 0:
            raise ValueError(f"layer {li} of these maps has negative entries (min {layer.min():.3g}): the views "
                             "draw a 0..max scale and would cut them at 0. Pass non-negative maps, e.g. "
                             'Relevance.as_capture(part="abs") or part="positive" for signed relevance')
        peak = layer.reshape(heads, -1).max(axis=1) if layer.size else np.ones(heads, np.float32)
        peak = np.where(peak > 0, peak, 1.0).astype(np.float32)
        scaled = layer / peak[:, None, None]
        scaled = 255.0 * (np.sqrt(np.clip(scaled, 0, None)) if gamma == 2 else scaled)
        out[li] = np.clip(np.rint(scaled), 0, 255)
        scales[li * heads:(li + 1) * heads] = peak
    return out, scales


def sparse_rows(q: np.ndarray, k: int, gamma: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` strongest keys of every row of uint8 maps: (uint16 key indices, uint8 values, dropped share).

    ``q`` is (layer, head, query, key) uint8; the dropped share is, per map, the largest
    fraction of a row's (quantised) weight left out.

    Example:
        >>> idx, val, dropped = sparse_rows(np.array([[[[10, 200, 30, 5]]]], dtype=np.uint8), 2)
        >>> idx.ravel().tolist(), val.ravel().tolist(), round(float(dropped[0, 0]), 3)
        ([1, 2], [200, 30], 0.061)
    """
    k = min(k, q.shape[-1])
    idx = np.argpartition(q, q.shape[-1] - k, axis=-1)[..., -k:]
    idx.sort(axis=-1)
    val = np.take_along_axis(q, idx, axis=-1)
    total = (q.astype(np.float64) ** gamma).sum(axis=-1)
    kept = (val.astype(np.float64) ** gamma).sum(axis=-1)
    share = np.where(total > 0, 1.0 - kept / np.where(total > 0, total, 1.0), 0.0)
    return idx.astype(np.uint16), val, share.max(axis=-1)


def encode_kind(data: KindData, *, compress: bool = True, top_k: int | None = None, gamma: int = 1) -> dict[str, Any]:
    """The JSON-ready entry of one kind: tokens, indices, scales and the base64 maps.

    Example:
        >>> k = KindData("self", np.full((1, 1, 2, 2), 0.5), [0], [0], ["a", "b"], ["a", "b"],
        ...              [False, False], [False, False])
        >>> sorted(encode_kind(k))[:4]
        ['data', 'encoding', 'heads', 'k']
    """
    q, scales = quantise(data.maps, gamma)
    extra: dict[str, Any] = {"gamma": gamma} if gamma != 1 else {}
    if top_k is not None and top_k < q.shape[-1]:
        idx, val, dropped = sparse_rows(q, top_k, gamma)
        raw = idx.astype("<u2").tobytes() + val.tobytes()
        extra.update(sparse=int(min(top_k, q.shape[-1])), dropped=[round(float(x), 5) for x in dropped.ravel()])
    else:
        raw = q.tobytes()
    if data.query_rows is not None:
        extra["qPos"] = data.query_rows
    blob, encoding = (zlib.compress(raw, 6), "deflate") if compress else (raw, "raw")
    return {**extra,
        "name": data.name, "label": data.label,
        "layers": data.layers, "heads": data.heads,
        "q": data.query_tokens, "k": data.key_tokens,
        "qSpecial": [int(s) for s in data.query_special], "kSpecial": [int(s) for s in data.key_special],
        "promptQ": data.query_prompt, "promptK": data.key_prompt, "segB": data.sentence_b_start,
        "scales": [float(s) for s in scales],
        "encoding": encoding, "data": base64.b64encode(blob).decode("ascii"),
    }


def decode_maps(entry: dict[str, Any]) -> np.ndarray:
    """Decode an entry written by :func:`encode_kind` back to float32 maps (as the page does).

    Example:
        >>> k = KindData("self", np.array([[[[0.5, 1.0]]]]), [0], [0], ["a"], ["a", "b"], [0], [0, 0])
        >>> [round(float(v), 3) for v in decode_maps(encode_kind(k)).ravel()]
        [0.502, 1.0]
    """
    blob = base64.b64decode(entry["data"])
    if entry["encoding"] == "deflate":
        blob = zlib.decompress(blob)
    shape = (len(entry["layers"]), len(entry["heads"]), len(entry["q"]), len(entry["k"]))
    if entry.get("sparse"):
        k = entry["sparse"]
        cut = 2 * int(np.prod(shape[:3])) * k
        idx = np.frombuffer(blob[:cut], dtype="<u2").reshape(*shape[:3], k).astype(np.int64)
        dense = np.zeros(shape, dtype=np.uint8)
        np.put_along_axis(dense, idx, np.frombuffer(blob[cut:], dtype=np.uint8).reshape(*shape[:3], k), axis=-1)
        blob = dense.tobytes()
    q = np.frombuffer(blob, dtype=np.uint8).reshape(shape).astype(np.float32)
    scales = np.asarray(entry["scales"], dtype=np.float32).reshape(shape[0], shape[1], 1, 1)
    return (q / 255.0) ** entry.get("gamma", 1) * scales


def estimate_page_bytes(kinds: Sequence[KindData], *, compress: bool = True) -> int:
    """Estimated size of the page in bytes, from a sample of its maps, before building it.

    Without compression it is exact up to the markup: one byte per weight, times 4/3
    for base64. With compression, the zlib ratio is measured on up to four maps.

    Example:
        >>> k = KindData("self", np.zeros((2, 2, 50, 50)), [0, 1], [0, 1], ["a"] * 50, ["a"] * 50,
        ...              [False] * 50, [False] * 50)
        >>> estimate_page_bytes([k], compress=False) > 4 * 2500
        True
    """
    total = 0.0
    for data in kinds:
        ratio = _sample_ratio(data.maps) if compress else 1.0
        tokens = sum(len(t) + 6 for t in data.query_tokens + data.key_tokens)
        total += data.raw_bytes * ratio * 4 / 3 + tokens + 12 * data.maps.shape[0] * data.maps.shape[1]
    return int(total + PAGE_OVERHEAD)


def _sample_ratio(maps: np.ndarray, budget: int = 1 << 20) -> float:
    """zlib ratio measured on every map's rows at a stride (about ``budget`` weights)."""
    layers, heads, nq, nk = maps.shape
    stride = max(1, int(np.ceil(maps.size / budget)))
    rows = max(1, -(-nq // stride))
    sample = np.stack([maps[li, :, ::stride] for li in range(layers)])[:, :, :rows]
    q, _ = quantise(sample)
    raw = q.tobytes()
    return len(zlib.compress(raw, 6)) / max(len(raw), 1)
