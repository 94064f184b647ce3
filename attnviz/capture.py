"""The central data objects: :class:`Capture` (many examples) and :class:`Example` (one).

A Capture is what one call of :func:`attnviz.extract` produced. It holds plain numpy
arrays on the CPU, with padding removed, and the provenance of the run; it keeps no
reference to the model. Dimension names are fixed and 0-based everywhere:

* ``attentions``: (layer, head, query, key); rows are queries (who attends), columns keys.
* ``hidden_states``: (layer + 1, position, hidden), the embedding output first.

Encoder-decoder examples also carry ``decoder_tokens``, ``decoder_attentions``
(layer, head, decoder query, decoder key), ``cross_attentions`` (layer, head, decoder
query, encoder key) and ``decoder_hidden_states``; there ``tokens`` and ``attentions``
are the encoder's.

Captures are saved as one safetensors file with the metadata as JSON in its header:
no pickle, written atomically, and the round trip is exact.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_model
    >>> model, tok = tiny_model("bert")
    >>> cap = attnviz.extract(model, ["the cat sat", "a dog"], tokenizer=tok)
    >>> len(cap), cap[0].attentions.shape[:2] == (cap.num_layers, cap.num_heads)
    (2, True)
"""
from __future__ import annotations

__all__ = ["ATTENTION_KINDS", "Capture", "Example", "Kind", "KindAxes", "check_kind"]

import dataclasses
import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence

import numpy as np

from attnviz.results import ResultIO

FORMAT_VERSION = 1

#: An attention kind: a model's (encoder) self-attention, its decoder self-attention, or the
#: decoder's cross-attention over the encoder. "encoder" is accepted as another name for "self".
Kind = Literal["self", "decoder", "cross"]
ATTENTION_KINDS: tuple[Kind, ...] = ("self", "decoder", "cross")


def check_kind(kind: Any) -> Kind:
    """The attention kind ``kind`` names ("encoder" becomes "self"), or a ValueError listing the kinds.

    Example:
        >>> check_kind("encoder"), check_kind("cross")
        ('self', 'cross')
    """
    if kind == "encoder":
        return "self"
    if not isinstance(kind, str) or kind not in ATTENTION_KINDS:
        raise ValueError(f"unknown attention kind {kind!r}: use 'self' (or 'encoder'), 'decoder' or 'cross'")
    return kind  # type: ignore[return-value]

# Array fields of an Example, saved as tensors; every other field goes to the JSON header.
ARRAY_FIELDS = (
    "attentions",
    "hidden_states",
    "decoder_attentions",
    "cross_attentions",
    "decoder_hidden_states",
    "logits",
    "image",
)
#: The Example field holding each attention kind's maps.
_ARRAY_OF_KIND = {"self": "attentions", "decoder": "decoder_attentions", "cross": "cross_attentions"}
#: Array fields stored with their own integer dtype (the others are float maps).
INTEGER_ARRAYS = {"image": "uint8"}
#: What an example holds: text tokens, image patches (a vision transformer), or both (a vision-language model).
MODALITIES = ("text", "image", "image+text")


@dataclass(frozen=True)
class KindAxes:
    """The two token axes of one attention kind of an example (:meth:`Example.kind_axes`).

    The one place that knows which side (encoder or decoder) each axis of a kind is:
    "self" is encoder x encoder, "decoder" decoder x decoder, "cross" decoder x encoder.

    Attributes:
        kind: "self", "decoder" or "cross" ("encoder" is named "self").
        query_tokens / key_tokens: raw tokens of the rows / columns (rows: the kept ones only
            when the capture was made with ``queries=``).
        query_labels / key_labels: their display forms, for labels.
        query_special / key_special: True where a row / column token is special.
        query_rows: the token positions of the kept rows (``queries=``), None when every row was kept.
        query_prompt / key_prompt: for a generated capture, how many row / column tokens were the
            prompt (the rest were generated); None otherwise, and for rows picked with ``queries=``.

    Example:
        >>> ax = Example(tokens=["a", "b"], decoder_tokens=["x"]).kind_axes("cross")
        >>> ax.query_tokens, ax.key_tokens
        (['x'], ['a', 'b'])
    """

    kind: Kind
    query_tokens: list[str]
    key_tokens: list[str]
    query_labels: list[str]
    key_labels: list[str]
    query_special: list[bool]
    key_special: list[bool]
    query_rows: list[int] | None = None
    query_prompt: int | None = None
    key_prompt: int | None = None


@dataclass
class Example:
    """One text's tokens, attention maps and hidden states, padding removed.

    Attributes:
        tokens: raw tokens of the (encoder) input, as the tokenizer writes them.
        display_tokens: readable forms (``Ġ``/``▁``/``##`` cleaned) for labels.
        special_mask: True where a token is a special token ([CLS], [SEP], BOS, EOS, ...).
        attentions: (layer, head, query, key) self-attention (the encoder's for seq2seq).
        hidden_states: (layer + 1, position, hidden), embedding output first, or None.
        text / text_pair: the input strings.
        word_ids / offsets: per token word index and character span (fast tokenizers).
        decoder_*: the decoder side of an encoder-decoder model.
        cross_attentions: (layer, head, decoder query, encoder key).
        logits / predicted_label / predicted_label_name: a sequence-classification head's output.
        prompt_length: for generated captures, how many tokens of the sequence were the prompt.
        query_positions: the token positions of the rows kept in ``attentions`` when
            ``extract(..., queries=...)`` kept only some (None: every row).
        modality: ``"text"``, ``"image"`` (a vision transformer's patches) or ``"image+text"``
            (a vision-language model's text tokens and image tokens).
        image: for image examples, the image as the model saw it (after the processor's resize and
            crop, de-normalised), uint8 (height, width, 3), at most 224 px on its long side.
        patch_grid: (rows, cols) of the image patches (None for text).
        patch_positions: the sequence positions of the patches in row-major order (an int array), so
            ``attentions[l, h, q][patch_positions].reshape(patch_grid)`` is query ``q``'s map over the
            image; for a vision-language model the positions of the image tokens. ``special_mask``
            marks [CLS], distillation and register tokens.

    Example:
        >>> ex = Example(tokens=["a", "b"], attentions=np.full((1, 1, 2, 2), 0.5, "float32"))
        >>> ex.num_tokens
        2
    """

    tokens: list[str]
    attentions: np.ndarray | None = None
    hidden_states: np.ndarray | None = None
    display_tokens: list[str] | None = None
    special_mask: list[bool] | None = None
    text: str | None = None
    text_pair: str | None = None
    word_ids: list[int | None] | None = None
    offsets: list[tuple[int, int]] | None = None
    decoder_tokens: list[str] | None = None
    decoder_display_tokens: list[str] | None = None
    decoder_special_mask: list[bool] | None = None
    decoder_text: str | None = None
    decoder_attentions: np.ndarray | None = None
    cross_attentions: np.ndarray | None = None
    decoder_hidden_states: np.ndarray | None = None
    logits: np.ndarray | None = None
    predicted_label: int | None = None
    predicted_label_name: str | None = None
    prompt_length: int | None = None
    query_positions: list[int] | None = None
    modality: str = "text"
    image: np.ndarray | None = None
    patch_grid: tuple[int, int] | None = None
    patch_positions: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.patch_grid is not None:
            self.patch_grid = (int(self.patch_grid[0]), int(self.patch_grid[1]))
        if self.patch_positions is not None:
            self.patch_positions = np.asarray(self.patch_positions, dtype=np.int64)
        if self.image is not None and hasattr(self.image, "read"):  # a lazy array: images are small, read now
            self.image = self.image.read()
        if self.display_tokens is None:
            self.display_tokens = list(self.tokens)
        if self.special_mask is None:
            self.special_mask = [False] * len(self.tokens)
        if self.decoder_tokens is not None:
            if self.decoder_display_tokens is None:
                self.decoder_display_tokens = list(self.decoder_tokens)
            if self.decoder_special_mask is None:
                self.decoder_special_mask = [False] * len(self.decoder_tokens)

    @property
    def num_tokens(self) -> int:
        """Number of real (encoder) tokens.

        Example:
            >>> Example(tokens=["x", "y", "z"]).num_tokens
            3
        """
        return len(self.tokens)

    @property
    def encoder_tokens(self) -> list[str]:
        """The encoder's tokens (the same list as ``tokens``), named for seq2seq code.

        Example:
            >>> Example(tokens=["x"]).encoder_tokens
            ['x']
        """
        return self.tokens

    @property
    def is_encoder_decoder(self) -> bool:
        """True when the example has a decoder side.

        Example:
            >>> Example(tokens=["x"]).is_encoder_decoder
            False
        """
        return self.decoder_tokens is not None

    @property
    def is_generated(self) -> bool:
        """True when part of the sequence was generated (see ``prompt_length``).

        Example:
            >>> Example(tokens=["a", "b"], prompt_length=1).is_generated
            True
        """
        return self.prompt_length is not None

    def attention(self, kind: str = "self") -> np.ndarray:
        """Return one kind of attention: "self"/"encoder", "decoder" or "cross".

        Raises a ValueError that names the kinds this example has when asked for
        one it lacks.

        Example:
            >>> ex = Example(tokens=["a"], attentions=np.ones((1, 1, 1, 1), "float32"))
            >>> ex.attention("self").shape
            (1, 1, 1, 1)
        """
        value = getattr(self, _ARRAY_OF_KIND[check_kind(kind)])
        if value is None:
            raise ValueError(
                f"this example has no {kind!r} attention (it has: {', '.join(self.attention_kinds) or 'none'}); "
                "extract with attentions kept, and pass decoder_texts= for encoder-decoder models"
            )
        return value

    @property
    def attention_kinds(self) -> list[str]:
        """The attention kinds this example holds maps of, among "self", "decoder", "cross".

        Example:
            >>> Example(tokens=["a"], attentions=np.ones((1, 1, 1, 1), "float32")).attention_kinds
            ['self']
        """
        return [k for k in ATTENTION_KINDS if getattr(self, _ARRAY_OF_KIND[k]) is not None]

    def require_all_rows(self, what: str) -> None:
        """Raise a ValueError naming ``what`` when only some query rows were kept.

        Example:
            >>> Example(tokens=["a", "b"], query_positions=[1]).require_all_rows("rollout")
            Traceback (most recent call last):
            ValueError: rollout needs every query row, but this capture kept only rows [1] (queries=...): extract again without queries=
        """
        if self.query_positions is not None:
            shown = self.query_positions if len(self.query_positions) <= 8 else f"{self.query_positions[:8]}..."
            raise ValueError(f"{what} needs every query row, but this capture kept only rows {shown} "
                             "(queries=...): extract again without queries=")

    def side_tokens(self, side: str = "self") -> tuple[list[str], list[str], list[bool]]:
        """(raw tokens, display tokens, special mask) of the encoder ("self"/"encoder") or the decoder.

        Example:
            >>> Example(tokens=["[CLS]", "a"], special_mask=[True, False]).side_tokens("self")
            (['[CLS]', 'a'], ['[CLS]', 'a'], [True, False])
        """
        if side == "decoder":
            if self.decoder_tokens is None:
                raise ValueError("this example has no decoder tokens: pass decoder_texts= when extracting "
                                 "from an encoder-decoder model")
            tokens, display, special = self.decoder_tokens, self.decoder_display_tokens, self.decoder_special_mask
        elif check_kind(side) == "self":
            tokens, display, special = self.tokens, self.display_tokens, self.special_mask
        else:
            raise ValueError(f"side={side!r}: a token side is 'self' (the encoder) or 'decoder'")
        return (list(tokens), list(display if display is not None else tokens),
                [bool(v) for v in (special if special is not None else [False] * len(tokens))])

    def kind_axes(self, kind: str = "self") -> KindAxes:
        """The rows and columns of attention ``kind``: tokens, labels, special masks, kept rows, prompt boundary.

        Every plot, metric and view that needs to know which side an axis of a kind is asks here.

        Example:
            >>> ex = Example(tokens=["a", "b", "c"], query_positions=[2], prompt_length=2)
            >>> ax = ex.kind_axes("self"); ax.query_labels, ax.key_labels, ax.query_rows, ax.key_prompt
            (['c'], ['a', 'b', 'c'], [2], 2)
        """
        kind = check_kind(kind)
        if kind != "self" and self.decoder_tokens is None:
            raise ValueError(f"this example has no decoder, so no {kind!r} attention: pass decoder_texts= when "
                             "extracting from an encoder-decoder model")
        enc = self.side_tokens("self")
        dec = self.side_tokens("decoder") if kind != "self" else enc
        q, k = {"self": (enc, enc), "decoder": (dec, dec), "cross": (dec, enc)}[kind]
        rows = [int(p) for p in self.query_positions] if kind == "self" and self.query_positions is not None else None
        q_tokens, q_labels, q_special = q
        if rows is not None:
            q_tokens, q_labels, q_special = [q_tokens[r] for r in rows], [q_labels[r] for r in rows], \
                [q_special[r] for r in rows]
        p = self.prompt_length
        generated = "decoder" if self.is_encoder_decoder else "self"  # the side whose tokens were generated
        q_prompt = p if kind in (generated, "cross") and rows is None else None
        k_prompt = p if kind == generated else None
        return KindAxes(kind, q_tokens, k[0], q_labels, k[1], q_special, k[2],
                        rows, q_prompt, k_prompt)

    def axis_tokens(self, kind: str = "self", *, display: bool = True) -> tuple[list[str], list[str]]:
        """The (query tokens, key tokens) of an attention kind, for axis labels (see :meth:`kind_axes`).

        With ``query_positions`` set, the query tokens are those of the kept rows.

        Example:
            >>> Example(tokens=["a", "b"]).axis_tokens("self")
            (['a', 'b'], ['a', 'b'])
        """
        ax = self.kind_axes(kind)
        return (ax.query_labels, ax.key_labels) if display else (ax.query_tokens, ax.key_tokens)


@dataclass
class Capture(ResultIO):
    """Attention maps and hidden states of many examples from one model, with provenance.

    ``len(cap)`` examples; ``cap[i]`` is an :class:`Example`. ``layers`` and ``heads``
    list the model's layer and head indices that were kept (axis 0 and 1 of each
    attention array); ``decoder_layers`` likewise for the decoder/cross maps.
    ``model_fingerprint`` is :func:`attnviz.modeling.model_fingerprint` of the weights
    that made it ("" for captures made by hand or by an older attnviz): two captures with
    the same fingerprint come from the same weights, whatever their paths.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("gpt2", "hello there")
        >>> cap.model_type, cap[0].attentions.ndim
        ('gpt2', 4)
    """

    examples: list[Example]
    model_name: str = ""
    model_fingerprint: str = ""
    model_type: str = ""
    num_layers: int = 0
    num_heads: int = 0
    hidden_size: int = 0
    layers: list[int] = field(default_factory=list)
    heads: list[int] = field(default_factory=list)
    decoder_layers: list[int] | None = None
    num_decoder_layers: int | None = None
    is_encoder_decoder: bool = False
    is_decoder: bool = False
    attn_implementation: str = ""
    dtype: str = "float32"
    queries: Any = None
    reduce_heads: str | None = None
    id2label: dict[int, str] | None = None
    transformers_version: str = ""
    torch_version: str = ""
    attnviz_version: str = ""
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    extra: dict[str, Any] = field(default_factory=dict)

    # --- container protocol -------------------------------------------------------
    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> Example:
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"index a Capture with an int, not {type(index).__name__}")
        n = len(self.examples)
        if not -n <= index < n:
            raise IndexError(
                f"example {index} is out of range: this capture has {n} example(s), "
                f"so use an index from 0 to {n - 1}"
            )
        return self.examples[index]

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)

    def __repr__(self) -> str:
        return (
            f"Capture({len(self)} example(s), model={self.model_name or self.model_type!r}, "
            f"layers={len(self.layers)}/{self.num_layers}, heads={len(self.heads)}/{self.num_heads}, "
            f"dtype={self.dtype})"
        )

    # --- helpers used by plots, metrics and views ----------------------------------
    def example(self, index: int) -> Example:
        """Same as ``cap[index]``, named for readability in keyword-heavy code.

        Example:
            >>> Capture([Example(tokens=["a"])]).example(0).tokens
            ['a']
        """
        return self[index]

    def attention(self, example: int = 0, *, layer: int, head: int | None = None, kind: str = "self") -> np.ndarray:
        """One map, addressed the way every plot and metric addresses it: model ``layer`` and ``head``
        numbers (not positions in the kept lists) of an attention ``kind`` of an ``example``.

        Returns (query, key) for a head, or (head, query, key) with ``head=None``. The errors
        name the layers, heads and kinds this capture holds.

        Example:
            >>> cap = Capture([Example(tokens=["a", "b"], attentions=np.arange(16.0).reshape(2, 2, 2, 2))],
            ...               layers=[3, 5], heads=[0, 1])
            >>> cap.attention(0, layer=5, head=1).tolist()
            [[12.0, 13.0], [14.0, 15.0]]
        """
        maps = self.example(example).attention(kind)[self.layer_position(layer, kind=kind)]
        return maps if head is None else maps[self.head_position(head)]

    def layer_position(self, layer: int, *, kind: str = "self") -> int:
        """Position along axis 0 of the attention arrays of model layer ``layer``.

        Raises a ValueError naming the kept layers when ``layer`` was not captured.

        Example:
            >>> Capture([], layers=[2, 4], heads=[0]).layer_position(4)
            1
        """
        kept = self.kind_layers(kind)
        if layer not in kept:
            raise ValueError(
                f"layer {layer} is not in this capture (kept layers: {format_ranges(kept)}); "
                "pick one of those, or extract again with layers= including it"
            )
        return kept.index(layer)

    def kind_layers(self, kind: Kind | str = "self") -> list[int]:
        """The model layer numbers kept for an attention kind (decoder and cross: the decoder's layers).

        Example:
            >>> Capture([], layers=[0, 1], heads=[0], decoder_layers=[1]).kind_layers("cross")
            [1]
        """
        if check_kind(kind) != "self" and self.decoder_layers is not None:
            return list(self.decoder_layers)
        return list(self.layers)

    def head_position(self, head: int) -> int:
        """Position along axis 1 of the attention arrays of model head ``head``.

        Example:
            >>> Capture([], layers=[0], heads=[3, 5]).head_position(5)
            1
        """
        if self.reduce_heads is not None:
            raise ValueError(
                f"this capture holds the {self.reduce_heads} over heads {format_ranges(self.heads)} "
                f"(reduce_heads={self.reduce_heads!r}), not head {head}: plot it with head={self.reduce_heads!r}, "
                "or extract again without reduce_heads")
        if head not in self.heads:
            raise ValueError(
                f"head {head} is not in this capture (kept heads: {format_ranges(self.heads)}); "
                "pick one of those, or extract again with heads= including it"
            )
        return self.heads.index(head)

    @property
    def has_attentions(self) -> bool:
        """True when the examples carry attention maps.

        Example:
            >>> Capture([Example(tokens=["a"])]).has_attentions
            False
        """
        return bool(self.examples) and self.examples[0].attentions is not None

    def provenance(self) -> dict[str, Any]:
        """Provenance as a JSON-ready dict (model, versions, layers, heads, time).

        Example:
            >>> Capture([], model_name="m").provenance()["model_name"]
            'm'
        """
        meta = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "examples"}
        if meta.get("id2label") is not None:
            meta["id2label"] = {str(k): v for k, v in meta["id2label"].items()}
        return meta

    # --- persistence ---------------------------------------------------------------
    def _content(self) -> dict[str, Any]:
        return self.to_dict(arrays=True)

    def to_dict(self, *, arrays: bool = False) -> dict[str, Any]:
        """Provenance and examples, JSON-ready; the arrays as nested lists only with ``arrays=True``
        (their shapes otherwise). :meth:`save` (safetensors) is the format for the maps.

        Example:
            >>> cap = Capture([Example(tokens=["a"], attentions=np.ones((1, 1, 1, 1), "float32"))])
            >>> cap.to_dict()["examples"][0]["shapes"]["attentions"], Capture.from_dict(cap.to_dict(arrays=True))[0].attentions.shape
            ([1, 1, 1, 1], (1, 1, 1, 1))
        """
        examples = []
        for ex in self.examples:
            record: dict[str, Any] = {"shapes": {}}
            for f in dataclasses.fields(ex):
                value = getattr(ex, f.name)
                if f.name not in ARRAY_FIELDS:
                    record[f.name] = json_field(value)
                elif value is not None:
                    record["shapes"][f.name] = [int(d) for d in value.shape]
                    if arrays:
                        record[f.name] = np.asarray(value).tolist()
            examples.append(record)
        return {"format": "attnviz.capture/json", "meta": self.provenance(), "examples": examples}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Capture:
        """Inverse of :meth:`to_dict` (arrays restored where ``arrays=True`` wrote them).

        Example:
            >>> Capture.from_dict(Capture([Example(tokens=["a"])], model_name="m").to_dict()).model_name
            'm'
        """
        records, tensors = [], {}
        for i, record in enumerate(doc.get("examples", [])):
            record = {k: v for k, v in record.items() if k != "shapes"}
            for name in ARRAY_FIELDS:
                value = record.pop(name, None)
                if value is not None:
                    tensors[f"{i}.{name}"] = np.asarray(value, dtype=INTEGER_ARRAYS.get(name, np.float32))
            records.append(record)
        return capture_from_header(doc.get("meta", {}), records, tensors)

    def to_json(self, path: str | os.PathLike | None = None, *, arrays: bool = False, indent: int | None = None):
        """:meth:`to_dict` as JSON: the text, or with ``path`` the file (atomic) and its Path.

        Example:
            >>> json.loads(Capture([Example(tokens=["a"])]).to_json())["examples"][0]["tokens"]
            ['a']
        """
        from attnviz.atomic import atomic_write_text
        from attnviz.results import json_safe

        text = json.dumps(json_safe(self.to_dict(arrays=arrays)), indent=indent, allow_nan=False) + "\n"
        return text if path is None else atomic_write_text(path, text)

    def records(self, *, kind: str = "self", example: int | None = None) -> list[dict[str, Any]]:
        """Tidy rows ``{example, layer, head, query, key, query_token, key_token, weight}`` of the maps.

        One row per weight: meant for a few short examples (pick one with ``example=``).

        Example:
            >>> cap = Capture([Example(tokens=["a", "b"], attentions=np.eye(2, dtype="float32")[None, None])],
            ...               layers=[0], heads=[0])
            >>> cap.records()[1]["weight"], len(cap.records())
            (0.0, 4)
        """
        rows = []
        indices = range(len(self)) if example is None else [example]
        layers = self.kind_layers(kind)
        for e in indices:
            ex = self[e]
            att = np.asarray(ex.attention(kind))
            axes = ex.kind_axes(kind)
            queries = axes.query_rows if axes.query_rows is not None else range(att.shape[2])
            for li in range(att.shape[0]):
                for hi in range(att.shape[1]):
                    for qi, q in enumerate(queries):
                        for k in range(att.shape[3]):
                            rows.append({"example": e, "layer": int(layers[li]) if li < len(layers) else li,
                                         "head": int(self.heads[hi]) if hi < len(self.heads) else hi,
                                         "query": int(q), "key": k, "query_token": axes.query_tokens[qi],
                                         "key_token": axes.key_tokens[k], "weight": float(att[li, hi, qi, k])})
        return rows

    def to_frame(self, *, kind: str = "self", example: int | None = None):
        """:meth:`records` as a pandas DataFrame (long form, e.g. for seaborn); needs pandas.

        Example:
            >>> cap = Capture([Example(tokens=["a"], attentions=np.ones((1, 1, 1, 1), "float32"))], layers=[0], heads=[0])
            >>> cap.to_frame()["weight"].tolist()  # doctest: +SKIP
            [1.0]
        """
        from attnviz.results import frame

        return frame(self.records(kind=kind, example=example), "Capture")

    @classmethod
    def load(cls, path: str | os.PathLike, lazy: bool | None = None) -> Capture:
        """Same as :func:`attnviz.load`: a ``.safetensors`` file or a capture folder (``lazy=`` as there).

        Example:
            >>> import tempfile, pathlib
            >>> p = Capture([Example(tokens=["hi"])]).save(pathlib.Path(tempfile.mkdtemp()) / "c.safetensors")
            >>> Capture.load(p)[0].tokens
            ['hi']
        """
        return _storage("load")(path, lazy=lazy)

    def plot(self, *, example: int = 0, **kwargs: Any):
        """The layer x head grid of one example (:func:`attnviz.plot.head_grid`; keywords go there).

        Example:
            >>> import attnviz
            >>> from attnviz.testing import tiny_capture
            >>> grid = tiny_capture("bert", "the cat").plot(layers=[0])
            >>> len(grid.axes) >= 1
            True
        """
        from attnviz.plot import head_grid

        return head_grid(self, example=example, **kwargs)

    def save(self, path: str | os.PathLike, *, shard_size: int = 32) -> Path:
        """Save as one ``.safetensors`` file (arrays) with JSON metadata, or as a capture folder; atomic.

        A path that is an existing folder or has no suffix (``"runs/cap"``) becomes a capture
        folder (``manifest.json`` + shards of ``shard_size`` examples, see :mod:`attnviz.store`),
        which must be new or empty; any other path (``"cap.safetensors"``) one file. The file
        format lives in :mod:`attnviz.store` (:func:`attnviz.store.save_capture`).

        Example:
            >>> import tempfile, pathlib
            >>> cap = Capture([Example(tokens=["a"], attentions=np.ones((1, 1, 1, 1), "float32"))],
            ...               layers=[0], heads=[0], num_layers=1, num_heads=1)
            >>> p = cap.save(pathlib.Path(tempfile.mkdtemp()) / "cap.safetensors")
            >>> Capture.load(p)[0].tokens
            ['a']
        """
        return _storage("save")(self, path, shard_size=shard_size)


#: The capture file format's writer and reader, installed by :mod:`attnviz.store` (their home) when
#: it is imported, which ``import attnviz`` does: so ``capture`` never imports ``store``.
_STORAGE: dict[str, Any] = {}


def install_storage(*, save: Any, load: Any) -> None:
    """Install the functions :meth:`Capture.save` and :meth:`Capture.load` call (:mod:`attnviz.store` does).

    Example:
        >>> sorted(_STORAGE)
        ['load', 'save']
    """
    _STORAGE.update(save=save, load=load)


def _storage(name: str) -> Any:
    if name not in _STORAGE:
        raise RuntimeError("the capture file format is in attnviz.store, which is not imported: "
                           "import attnviz (or attnviz.store) first")
    return _STORAGE[name]


def json_field(value: Any) -> Any:
    """A non-array Example field as JSON takes it (``patch_positions`` is an int array in memory).

    Example:
        >>> json_field(np.array([1, 2])), json_field((3, 4))
        ([1, 2], [3, 4])
    """
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


def capture_from_header(meta: dict, records: list[dict], arrays: Any) -> Capture:
    """Build a Capture from checked header ``meta``/``records`` and a mapping of tensor name -> array.

    The arrays may be numpy arrays or lazy ones (anything a mapping's ``get`` returns).

    Example:
        >>> capture_from_header({"model_type": "bert"}, [{"tokens": ["a"]}], {}).model_type
        'bert'
    """
    examples = []
    for i, record in enumerate(records):
        record = dict(record)
        for name in ARRAY_FIELDS:
            record[name] = arrays.get(f"{i}.{name}")
        if record.get("offsets") is not None:
            record["offsets"] = [tuple(o) for o in record["offsets"]]
        examples.append(Example(**record))
    meta = dict(meta)
    if meta.get("id2label") is not None:
        meta["id2label"] = {int(k): v for k, v in meta["id2label"].items()}
    return Capture(examples=examples, **meta)


def format_ranges(values: Sequence[int]) -> str:
    """Compact text for a list of ints (layers, heads): [0, 1, 2, 5] -> '0-2, 5'.

    Used by error messages across attnviz (capture, comparison, the CLI).

    Example:
        >>> format_ranges([5, 0, 1, 2]), format_ranges([])
        ('0-2, 5', 'none')
    """
    values = sorted(values)
    if not values:
        return "none"
    parts, start, prev = [], values[0], values[0]
    for v in values[1:] + [None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
        if v is not None:
            start = prev = v
    return ", ".join(parts)


