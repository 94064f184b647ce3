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

__all__ = ["KINDS", "Capture", "Example", "Kind", "check_kind", "load"]

import dataclasses
import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence

import numpy as np

from attnviz.atomic import ResultIO, atomic_path

FORMAT_VERSION = 1

#: An attention kind: a model's (encoder) self-attention, its decoder self-attention, or the
#: decoder's cross-attention over the encoder. "encoder" is accepted as another name for "self".
Kind = Literal["self", "decoder", "cross"]
KINDS: tuple[Kind, ...] = ("self", "decoder", "cross")


def check_kind(kind: Any) -> Kind:
    """The attention kind ``kind`` names ("encoder" becomes "self"), or a ValueError listing the kinds.

    Example:
        >>> check_kind("encoder"), check_kind("cross")
        ('self', 'cross')
    """
    if kind == "encoder":
        return "self"
    if not isinstance(kind, str) or kind not in KINDS:
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
#: Array fields stored with their own integer dtype (the others are float maps).
INTEGER_ARRAYS = {"image": "uint8"}
#: What an example holds: text tokens, image patches (a vision transformer), or both (a vision-language model).
MODALITIES = ("text", "image", "image+text")


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
        key = {"self": "attentions", "decoder": "decoder_attentions", "cross": "cross_attentions"}[check_kind(kind)]
        value = getattr(self, key)
        if value is None:
            have = [k for k, f in (("self", "attentions"), ("decoder", "decoder_attentions"),
                                   ("cross", "cross_attentions")) if getattr(self, f) is not None]
            raise ValueError(
                f"this example has no {kind!r} attention (it has: {', '.join(have) or 'none'}); "
                "extract with attentions kept, and pass decoder_texts= for encoder-decoder models"
            )
        return value

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

    def axis_tokens(self, kind: str = "self", *, display: bool = True) -> tuple[list[str], list[str]]:
        """The (query tokens, key tokens) of an attention kind, for axis labels.

        With ``query_positions`` set, the query tokens are those of the kept rows.

        Example:
            >>> Example(tokens=["a", "b"]).axis_tokens("self")
            (['a', 'b'], ['a', 'b'])
        """
        kind = check_kind(kind)
        enc = self.display_tokens if display and self.display_tokens is not None else self.tokens
        dec = self.decoder_tokens
        if display and self.decoder_display_tokens is not None:
            dec = self.decoder_display_tokens
        if kind == "self":
            rows = enc if self.query_positions is None else [enc[p] for p in self.query_positions]
            return list(rows), list(enc)
        if dec is None:
            raise ValueError(f"this example has no decoder, so no {kind!r} attention")
        if kind == "decoder":
            return list(dec), list(dec)
        return list(dec), list(enc)


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
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("gpt2")
        >>> cap = attnviz.extract(model, "hello there", tokenizer=tok)
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
                f"layer {layer} is not in this capture (kept layers: {_ranges(kept)}); "
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
                f"this capture holds the {self.reduce_heads} over heads {_ranges(self.heads)} "
                f"(reduce_heads={self.reduce_heads!r}), not head {head}: plot it with head={self.reduce_heads!r}, "
                "or extract again without reduce_heads")
        if head not in self.heads:
            raise ValueError(
                f"head {head} is not in this capture (kept heads: {_ranges(self.heads)}); "
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
                    record[f.name] = _json_field(value)
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
        from attnviz.atomic import _plain, atomic_write_text

        text = json.dumps(_plain(self.to_dict(arrays=arrays)), indent=indent, allow_nan=False) + "\n"
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
        layers = self.decoder_layers if kind in ("decoder", "cross") and self.decoder_layers else self.layers
        for e in indices:
            ex = self[e]
            att = np.asarray(ex.attention(kind))
            q_tokens = ex.decoder_tokens if kind in ("decoder", "cross") else ex.tokens
            k_tokens = ex.decoder_tokens if kind == "decoder" else ex.tokens
            assert q_tokens is not None and k_tokens is not None, "decoder attention without decoder tokens"
            queries = ex.query_positions if ex.query_positions is not None and kind == "self" else range(att.shape[2])
            for li in range(att.shape[0]):
                for hi in range(att.shape[1]):
                    for qi, q in enumerate(queries):
                        for k in range(att.shape[3]):
                            rows.append({"example": e, "layer": int(layers[li]) if li < len(layers) else li,
                                         "head": int(self.heads[hi]) if hi < len(self.heads) else hi,
                                         "query": int(q), "key": k, "query_token": q_tokens[q],
                                         "key_token": k_tokens[k], "weight": float(att[li, hi, qi, k])})
        return rows

    def to_frame(self, *, kind: str = "self", example: int | None = None):
        """:meth:`records` as a pandas DataFrame (long form, e.g. for seaborn); needs pandas.

        Example:
            >>> cap = Capture([Example(tokens=["a"], attentions=np.ones((1, 1, 1, 1), "float32"))], layers=[0], heads=[0])
            >>> cap.to_frame()["weight"].tolist()  # doctest: +SKIP
            [1.0]
        """
        from attnviz.atomic import frame

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
        return load(path, lazy=lazy)

    def plot(self, *, example: int = 0, **kwargs: Any):
        """The layer x head grid of one example (:func:`attnviz.plot.head_grid`; keywords go there).

        Example:
            >>> import attnviz
            >>> from attnviz.testing import tiny_model
            >>> model, tok = tiny_model("bert")
            >>> grid = attnviz.extract(model, "the cat", tokenizer=tok).plot(layers=[0])
            >>> len(grid.axes) >= 1
            True
        """
        from attnviz.plot import head_grid

        return head_grid(self, example=example, **kwargs)

    def save(self, path: str | os.PathLike, *, shard_size: int = 32) -> Path:
        """Save as one ``.safetensors`` file (arrays) with JSON metadata, or as a capture folder; atomic.

        A path that is an existing folder or has no suffix (``"runs/cap"``) becomes a capture
        folder (``manifest.json`` + shards of ``shard_size`` examples, see :mod:`attnviz.store`),
        which must be new or empty; any other path (``"cap.safetensors"``) one file.

        Example:
            >>> import tempfile, pathlib
            >>> cap = Capture([Example(tokens=["a"], attentions=np.ones((1, 1, 1, 1), "float32"))],
            ...               layers=[0], heads=[0], num_layers=1, num_heads=1)
            >>> p = cap.save(pathlib.Path(tempfile.mkdtemp()) / "cap.safetensors")
            >>> load(p)[0].tokens
            ['a']
        """
        path = Path(path)
        if path.is_dir() or not path.suffix:
            from attnviz.store import save_folder

            return save_folder(self, path, shard_size=shard_size)
        tensors: dict[str, np.ndarray] = {}
        records = []
        for i, ex in enumerate(self.examples):
            record = {}
            for f in dataclasses.fields(ex):
                value = getattr(ex, f.name)
                if f.name in ARRAY_FIELDS:
                    if value is not None:  # numpy or lazy arrays: each is read when it is written
                        tensors[f"{i}.{f.name}"] = value
                else:
                    record[f.name] = _json_field(value)
            records.append(record)
        header = {
            "attnviz_format": str(FORMAT_VERSION),
            "meta": json.dumps(self.provenance()),
            "examples": json.dumps(records),
        }
        with atomic_path(path, suffix=".tmp") as tmp:
            _write_safetensors(tmp, tensors, header)
        return path


def _json_field(value: Any) -> Any:
    """A non-array Example field as JSON takes it (``patch_positions`` is an int array in memory)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


_ST_DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64", "int32": "I32",
              "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}


def _write_safetensors(path: Path, tensors: dict[str, Any], metadata: dict[str, str]) -> None:
    """Write a safetensors file array by array, without a second copy of the data in memory.

    ``safetensors.numpy.save_file`` first turns every array into ``bytes`` (a copy of the whole
    capture); here the header is computed from shapes and dtypes and each array is written
    (and, for lazy arrays, read) in turn. The file is what ``save_file`` writes: an 8-byte
    little-endian header size, the JSON header padded with spaces to 8 bytes, then the data.
    """
    entries, offset = {}, 0
    for name, value in tensors.items():
        dtype = np.dtype(value.dtype)
        code = _ST_DTYPES.get(dtype.name)
        if code is None:
            raise TypeError(f"cannot save {name} of dtype {dtype}: use float32 or float16 arrays")
        size = int(np.prod(value.shape, dtype=np.int64)) * dtype.itemsize
        entries[name] = {"dtype": code, "shape": [int(d) for d in value.shape], "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps({"__metadata__": metadata, **entries}, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(len(blob).to_bytes(8, "little"))
        f.write(blob)
        for value in tensors.values():
            array = np.ascontiguousarray(value, dtype=np.dtype(value.dtype).newbyteorder("<"))
            f.write(array.data.cast("B"))


def load(path: str | os.PathLike, lazy: bool | None = None) -> Capture:
    """Load a Capture written by :meth:`Capture.save` or ``extract(..., out=...)``.

    ``path`` is one ``.safetensors`` file or a capture folder (``manifest.json`` plus
    shards, see :mod:`attnviz.store`). With ``lazy=True`` (the default for folders) no map
    is read at load: the examples' arrays are :class:`attnviz.store.LazyArray` objects
    and indexing an example, a layer or a head reads only that slice from disk.

    Raises FileNotFoundError for a missing file and :class:`attnviz.validation.CaptureFormatError`
    (a ValueError) for a file that is not a valid attnviz capture: truncated, corrupted, of
    another kind, of a newer format, with metadata of the wrong types, arrays whose shapes
    disagree with the tokens or the layer/head lists, or (eager loads) NaN/Inf values. Unknown
    keys written by a newer attnviz are ignored with a warning.

    Example:
        >>> import tempfile, pathlib
        >>> p = Capture([Example(tokens=["hi"])]).save(pathlib.Path(tempfile.mkdtemp()) / "c.safetensors")
        >>> len(load(p))
        1
    """
    from attnviz.validation import check_array_dtype, check_finite

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load() takes a file path (str or pathlib.Path), not {type(path).__name__}")
    if lazy is not None and not isinstance(lazy, bool):
        raise TypeError(f"lazy={lazy!r}: use True, False or None (lazy for folders, eager for files)")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"no capture file at {path}: check the path, or create one with "
            "attnviz.extract(...).save(path)"
        )
    if path.is_dir() or lazy:
        from attnviz.store import open_capture

        return open_capture(path, lazy=True if lazy is None else lazy)
    meta, records, _ = read_header(path)
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises several error types for a bad file
        raise _unreadable(path, exc) from exc
    for name, array in arrays.items():
        check_array_dtype(name, array, source=str(path))
        check_finite(name, array, source=str(path))
    return capture_from_header(meta, records, arrays)


def read_header(path: str | os.PathLike) -> tuple[dict, list[dict], dict[str, tuple[tuple[int, ...], str]]]:
    """``(meta, records, tensors)`` of a capture file without reading any array.

    ``tensors`` maps each tensor name (``"3.attentions"``) to its (shape, safetensors dtype).
    The header is checked by :func:`attnviz.validation.check_capture_header` (types, known
    keys, format version, tokens against shapes); used by both the eager and the lazy loader.

    Example:
        >>> import tempfile, pathlib
        >>> p = Capture([Example(tokens=["hi"], attentions=np.ones((1, 1, 1, 1), "float32"))]).save(
        ...     pathlib.Path(tempfile.mkdtemp()) / "c.safetensors")
        >>> read_header(p)[2]
        {'0.attentions': ((1, 1, 1, 1), 'F32')}
    """
    from safetensors import safe_open

    from attnviz.validation import CaptureFormatError, check_capture_header

    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
            tensors = {}
            for k in f.keys():
                sl = f.get_slice(k)
                tensors[k] = (tuple(int(d) for d in sl.get_shape()), str(sl.get_dtype()))
        if "attnviz_format" not in header:
            raise ValueError("its header has no attnviz metadata")
        meta = json.loads(header.get("meta", "null"))
        records = json.loads(header.get("examples", "null"))
        meta = check_capture_header(meta, records, {k: v[0] for k, v in tensors.items()}, source=str(path),
                                    format_version=header["attnviz_format"])
    except CaptureFormatError:
        raise
    except Exception as exc:  # safetensors, json and numpy raise many error types for a bad file
        raise _unreadable(path, exc) from exc
    return meta, records, tensors


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


def _unreadable(path: Path, exc: Exception) -> ValueError:
    from attnviz.validation import CaptureFormatError

    return CaptureFormatError(
        f"{path} is not a readable attnviz capture ({type(exc).__name__}: {str(exc)[:200]}); it may be "
        "truncated or corrupted: extract again and save it with Capture.save"
    )


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


_ranges = format_ranges  # the old private name
