"""Checks for capture files from elsewhere: a bad file fails in ``load``, with one error class.

A capture file is data from outside (a colleague, a download, an older or newer attnviz),
so :func:`attnviz.load` checks everything it reads before any plot or metric sees it:
the JSON types of the metadata and of each example record, the known keys, the format
version, every array's rank and shape against the tokens and against the kept layer and
head lists, the array dtypes, and NaN/Inf values. Every problem raises a
:class:`CaptureFormatError` (a ``ValueError``) whose message names the file, the field
and the fix. Keys written by a newer attnviz that this one does not know are ignored with
a warning, so newer files still load where they can.

Example:
    >>> meta = {"layers": [0], "heads": [0, 1], "num_layers": 1, "num_heads": 2}
    >>> records = [{"tokens": ["a", "b"]}]
    >>> check_capture_header(meta, records, {"0.attentions": (1, 2, 2, 2)}, source="x")["heads"]
    [0, 1]
    >>> check_capture_header(meta, records, {"0.attentions": (1, 2, 3, 3)}, source="x")
    Traceback (most recent call last):
    attnviz.validation.CaptureFormatError: x: example 0: attentions has shape (1, 2, 3, 3), but its tokens say (1, 2, 2, 2) (layer, head, query, key): the file is inconsistent; extract it again
"""
from __future__ import annotations

__all__ = ["CaptureFormatError", "check_capture_header", "check_finite", "check_format_version", "check_manifest",
           "check_shard_name"]

import re
import warnings
from typing import Any

import numpy as np

# FORMAT_VERSION: the format this attnviz writes and the newest it can read.
from attnviz.capture import ARRAY_FIELDS, FORMAT_VERSION, INTEGER_ARRAYS, MODALITIES

_STR, _INT, _BOOL = "str", "int", "bool"
# Metadata keys of a Capture and the JSON type each must have (None allowed where marked).
META_TYPES: dict[str, tuple[str, bool]] = {
    "model_name": (_STR, False), "model_fingerprint": (_STR, False), "model_type": (_STR, False),
    "num_layers": (_INT, False), "num_heads": (_INT, False), "hidden_size": (_INT, False),
    "layers": ("ints", False), "heads": ("ints", False),
    "decoder_layers": ("ints", True), "num_decoder_layers": (_INT, True),
    "is_encoder_decoder": (_BOOL, False), "is_decoder": (_BOOL, False),
    "attn_implementation": (_STR, False), "dtype": (_STR, False),
    "queries": ("any", True), "reduce_heads": (_STR, True), "id2label": ("id2label", True),
    "transformers_version": (_STR, False), "torch_version": (_STR, False),
    "attnviz_version": (_STR, False), "created": (_STR, False), "extra": ("dict", False),
}
# Example record keys (the non-array fields of an Example).
RECORD_TYPES: dict[str, tuple[str, bool]] = {
    "tokens": ("strs", False), "display_tokens": ("strs", True), "special_mask": ("bools", True),
    "text": (_STR, True), "text_pair": (_STR, True), "word_ids": ("optints", True),
    "offsets": ("pairs", True), "decoder_tokens": ("strs", True), "decoder_display_tokens": ("strs", True),
    "decoder_special_mask": ("bools", True), "decoder_text": (_STR, True), "predicted_label": (_INT, True),
    "predicted_label_name": (_STR, True), "prompt_length": (_INT, True), "query_positions": ("ints", True),
    "modality": (_STR, True), "patch_grid": ("ints", True), "patch_positions": ("ints", True),
}


class CaptureFormatError(ValueError):
    """A capture file (or its metadata) is not a valid attnviz capture; the message says why.

    Example:
        >>> issubclass(CaptureFormatError, ValueError)
        True
    """


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _type_ok(kind: str, v: Any) -> bool:
    if kind == _STR:
        return isinstance(v, str)
    if kind == _INT:
        return _is_int(v)
    if kind == _BOOL:
        return isinstance(v, bool)
    if kind == "dict":
        return isinstance(v, dict)
    if kind == "any":
        return True
    if not isinstance(v, list):
        return kind == "id2label" and isinstance(v, dict) and all(
            isinstance(k, str) and re.fullmatch(r"-?\d{1,18}", k) and isinstance(x, str) for k, x in v.items())
    if kind == "id2label":
        return False
    check = {"ints": _is_int, "strs": lambda x: isinstance(x, str), "bools": lambda x: isinstance(x, bool),
             "optints": lambda x: x is None or _is_int(x),
             "pairs": lambda x: isinstance(x, (list, tuple)) and len(x) == 2 and all(_is_int(y) for y in x)}[kind]
    return all(check(x) for x in v)


_KIND_TEXT = {"str": "a string", "int": "an integer", "bool": "true or false", "dict": "an object",
              "ints": "a list of integers", "strs": "a list of strings", "bools": "a list of true/false",
              "optints": "a list of integers or nulls", "pairs": "a list of [start, end] pairs",
              "id2label": "an object of label names keyed by integer ids"}


def _json_type(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def _checked(values: dict, types: dict, where: str, source: str) -> dict:
    out: dict[str, Any] = {}
    unknown = [k for k in values if k not in types]
    if unknown:
        warnings.warn(f"{source}: {where} has key(s) this attnviz does not know ({', '.join(map(repr, unknown[:5]))}), "
                      "perhaps written by a newer attnviz; they are ignored (upgrade attnviz to use them)",
                      UserWarning, stacklevel=3)
    for key, value in values.items():
        if key not in types:
            continue
        kind, nullable = types[key]
        if value is None and nullable:
            out[key] = None
            continue
        if not _type_ok(kind, value):
            raise CaptureFormatError(f"{source}: {where}: {key!r} must be {_KIND_TEXT[kind]}"
                                     f"{' or null' if nullable else ''}, not {_json_type(value)}: "
                                     "the file is damaged or not an attnviz capture; extract it again")
        out[key] = value
    return out


def check_format_version(version: Any, *, source: str) -> int:
    """Return the capture format version as an int; raise for one this attnviz cannot read.

    Example:
        >>> check_format_version("1", source="f")
        1
        >>> check_format_version("999", source="f")
        Traceback (most recent call last):
        attnviz.validation.CaptureFormatError: f was written in capture format 999, newer than this attnviz reads (up to 1): upgrade attnviz (pip install -U attnviz)
    """
    text = str(version).strip() if isinstance(version, (str, int)) and not isinstance(version, bool) else None
    if text is None or not re.fullmatch(r"\d{1,6}", text) or int(text) < 1:
        raise CaptureFormatError(f"{source} has an invalid capture format version {version!r} "
                                 f"(this attnviz writes {FORMAT_VERSION}): it is damaged or not an attnviz capture")
    if int(text) > FORMAT_VERSION:
        raise CaptureFormatError(f"{source} was written in capture format {int(text)}, newer than this attnviz "
                                 f"reads (up to {FORMAT_VERSION}): upgrade attnviz (pip install -U attnviz)")
    return int(text)


def _index_list(values: list[int], total: int, name: str, source: str) -> None:
    if len(set(values)) != len(values):
        raise CaptureFormatError(f"{source}: metadata {name} {values} lists an index twice: the file is damaged")
    bad = [v for v in values if v < 0 or (total > 0 and v >= total)]
    if bad:
        raise CaptureFormatError(f"{source}: metadata {name} has index {bad[0]}, outside 0..{total - 1} "
                                 f"(the model's count): the file is damaged; extract it again")


def check_capture_header(meta: dict, records: list, shapes: dict[str, tuple], *, source: str,
                         format_version: Any = None) -> dict:
    """Validate a capture's metadata, example records and array shapes; return the cleaned metadata.

    Args:
        meta: the Capture metadata (``Capture.provenance()`` as read back from JSON).
        records: one dict per example (the non-array fields of each Example). Each record is
            replaced in the list by its cleaned copy (unknown keys dropped, offsets as tuples).
        shapes: array shapes by tensor name, ``"<example>.<field>"`` (``"0.attentions"``).
        source: the file's name, for messages.
        format_version: the header's ``attnviz_format`` value, checked when given (also
            read from ``meta["attnviz_format"]``).

    Returns the metadata with known keys only (unknown keys warn), ``id2label`` keyed by int.
    Raises :class:`CaptureFormatError` naming the problem.

    Example:
        >>> check_capture_header({"layers": "0"}, [], {}, source="c.safetensors")
        Traceback (most recent call last):
        attnviz.validation.CaptureFormatError: c.safetensors: metadata: 'layers' must be a list of integers, not a string: the file is damaged or not an attnviz capture; extract it again
    """
    source = str(source)
    if not isinstance(meta, dict):
        raise CaptureFormatError(f"{source}: its metadata is {_json_type(meta)}, not an object: "
                                 "the file is damaged or not an attnviz capture")
    meta = dict(meta)
    if "attnviz_format" in meta:
        format_version = meta.pop("attnviz_format")
    if format_version is not None:
        check_format_version(format_version, source=source)
    if not isinstance(records, list):
        raise CaptureFormatError(f"{source}: its example list is {_json_type(records)}, not a list: "
                                 "the file is damaged or not an attnviz capture")
    if not isinstance(shapes, dict):
        raise CaptureFormatError(f"{source}: array shapes must be a dict of name -> shape")
    clean = _checked(meta, META_TYPES, "metadata", source)
    for key in ("num_layers", "num_heads", "hidden_size", "num_decoder_layers"):
        if clean.get(key) is not None and clean[key] < 0:
            raise CaptureFormatError(f"{source}: metadata {key} is {clean[key]}, below 0: the file is damaged")
    if clean.get("reduce_heads") not in (None, "mean", "max"):
        raise CaptureFormatError(f"{source}: metadata reduce_heads is {clean['reduce_heads']!r}; "
                                 "it must be 'mean', 'max' or null")
    if clean.get("id2label") is not None:
        clean["id2label"] = {int(k): v for k, v in clean["id2label"].items()}
    layers, heads = clean.get("layers"), clean.get("heads")
    if layers is not None:
        _index_list(layers, clean.get("num_layers", 0), "layers", source)
    if heads is not None:
        _index_list(heads, clean.get("num_heads", 0), "heads", source)
    if clean.get("decoder_layers") is not None:
        _index_list(clean["decoder_layers"], clean.get("num_decoder_layers") or 0, "decoder_layers", source)

    # Tensor names: "<example>.<field>", each for an existing example.
    present: dict[str, set[int]] = {name: set() for name in ARRAY_FIELDS}
    for name, shape in shapes.items():
        m = re.fullmatch(r"(0|[1-9]\d{0,9})\.([a-z_]+)", str(name))
        if m is None or m.group(2) not in ARRAY_FIELDS:
            raise CaptureFormatError(f"{source}: it holds an array named {str(name)[:80]!r}, which is not "
                                     "'<example>.<field>' of an attnviz capture: the file is damaged or of another kind")
        i = int(m.group(1))
        if i >= len(records):
            raise CaptureFormatError(f"{source}: it holds array {name!r} but only {len(records)} example record(s): "
                                     "the file is damaged (records and arrays disagree); extract it again")
        if not isinstance(shape, (tuple, list)) or not all(_is_int(d) and d >= 0 for d in shape):
            raise CaptureFormatError(f"{source}: array {name!r} has an invalid shape {shape!r}")
        present[m.group(2)].add(i)
    for name, have in present.items():
        if have and len(have) != len(records):
            missing = min(set(range(len(records))) - have)
            raise CaptureFormatError(f"{source}: example {missing} has no {name} array but others do "
                                     f"({len(have)} of {len(records)} examples): the file is damaged "
                                     "(records and arrays disagree); extract it again")

    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise CaptureFormatError(f"{source}: example record {i} is {_json_type(record)}, not an object: "
                                     "the file is damaged or not an attnviz capture")
        where = f"example {i}"
        clashing = [k for k in record if k in ARRAY_FIELDS]
        if clashing:
            raise CaptureFormatError(f"{source}: {where}: {clashing[0]!r} belongs in an array, not in the JSON "
                                     "record: the file is damaged")
        rec = _checked(record, RECORD_TYPES, where, source)
        if "tokens" not in rec or rec["tokens"] is None:
            raise CaptureFormatError(f"{source}: {where} has no tokens: the file is damaged; extract it again")
        if rec.get("offsets") is not None:
            rec["offsets"] = [tuple(int(x) for x in o) for o in rec["offsets"]]
        _check_record(rec, {f: shapes.get(f"{i}.{f}") for f in ARRAY_FIELDS}, clean, f"{source}: {where}")
        records[i] = rec
    return clean


def _check_record(rec: dict, shapes: dict, meta: dict, where: str) -> None:
    n = len(rec["tokens"])
    if n == 0:
        raise CaptureFormatError(f"{where} has no tokens (an empty list): the file is damaged; extract it again")
    for key in ("display_tokens", "special_mask", "word_ids", "offsets"):
        if rec.get(key) is not None and len(rec[key]) != n:
            raise CaptureFormatError(f"{where}: {key} has {len(rec[key])} entries but there are {n} tokens: "
                                     "the file is damaged; extract it again")
    dec = rec.get("decoder_tokens")
    m = len(dec) if dec is not None else None
    for key in ("decoder_display_tokens", "decoder_special_mask"):
        if rec.get(key) is not None and (m is None or len(rec[key]) != m):
            raise CaptureFormatError(f"{where}: {key} has {len(rec[key])} entries but there are "
                                     f"{m or 0} decoder tokens: the file is damaged; extract it again")
    rows = n
    if rec.get("query_positions") is not None:
        qp = rec["query_positions"]
        bad = [p for p in qp if not 0 <= p < n]
        if bad or not qp:
            raise CaptureFormatError(f"{where}: query_positions {qp[:8]} must be positions 0..{n - 1} "
                                     "(at least one): the file is damaged; extract it again")
        rows = len(qp)
    _check_image_fields(rec, shapes.get("image"), n, where)
    if rec.get("prompt_length") is not None and not 0 <= rec["prompt_length"] <= max(n, m or 0):
        raise CaptureFormatError(f"{where}: prompt_length {rec['prompt_length']} is outside 0..{max(n, m or 0)}")
    nl = len(meta["layers"]) if meta.get("layers") else None
    nh = 1 if meta.get("reduce_heads") else (len(meta["heads"]) if meta.get("heads") else None)
    dl = meta.get("decoder_layers")
    ndl = len(dl) if dl else None

    def expect(field: str, want: tuple, dims: str) -> None:
        shape = shapes.get(field)
        if shape is None:
            return
        shape = tuple(int(d) for d in shape)
        ok = len(shape) == len(want) and all(w is None or s == w for s, w in zip(shape, want))
        if not ok:
            said = tuple("?" if w is None else w for w in want)
            raise CaptureFormatError(
                f"{where}: {field} has shape {shape}, but its tokens say {said} ({dims}): "
                "the file is inconsistent; extract it again".replace("'?'", "?"))

    hidden = meta.get("hidden_size") or None
    expect("attentions", (nl, nh, rows, n), "layer, head, query, key")
    expect("hidden_states", (None, n, hidden), "layer + 1, position, hidden")
    if (shapes.get("decoder_attentions") or shapes.get("cross_attentions") or shapes.get("decoder_hidden_states")) \
            and m is None:
        raise CaptureFormatError(f"{where} has decoder arrays but no decoder_tokens: the file is damaged")
    if m is not None:
        if (shapes.get("decoder_attentions") or shapes.get("cross_attentions")) and not dl:
            raise CaptureFormatError(f"{where} has decoder maps but the metadata lists no decoder_layers: "
                                     "the file is damaged; extract it again")
        if m == 0:
            raise CaptureFormatError(f"{where} has an empty decoder_tokens list: the file is damaged")
        expect("decoder_attentions", (ndl, nh, m, m), "layer, head, decoder query, decoder key")
        expect("cross_attentions", (ndl, nh, m, n), "layer, head, decoder query, encoder key")
        expect("decoder_hidden_states", (None, m, hidden), "layer + 1, position, hidden")
    expect("logits", (None,), "label")
    for field in ("attentions", "hidden_states", "decoder_attentions", "cross_attentions", "decoder_hidden_states"):
        shape = shapes.get(field)
        if shape is not None and int(shape[0]) == 0:
            raise CaptureFormatError(f"{where}: {field} has no layers (shape {tuple(shape)}): the file is damaged")
        if field in ("attentions", "decoder_attentions", "cross_attentions") and shape is not None and int(shape[1]) == 0:
            raise CaptureFormatError(f"{where}: {field} has no heads (shape {tuple(shape)}): the file is damaged")


def _check_image_fields(rec: dict, image: Any, n: int, where: str) -> None:
    """An image example's modality, patch grid and positions agree with each other and with its tokens."""
    modality = rec.get("modality")
    if modality is not None and modality not in MODALITIES:
        raise CaptureFormatError(f"{where}: modality {modality!r} is not one of {MODALITIES}: the file is damaged")
    grid, positions = rec.get("patch_grid"), rec.get("patch_positions")
    if (grid is None) != (positions is None):
        raise CaptureFormatError(f"{where}: it has patch_grid or patch_positions but not both: the file is damaged")
    if grid is not None and positions is not None:
        if len(grid) != 2 or min(grid) < 1 or grid[0] * grid[1] != len(positions):
            raise CaptureFormatError(f"{where}: patch_grid {grid} does not hold its {len(positions)} patch "
                                     "positions: the file is damaged; extract it again")
        if any(not 0 <= p < n for p in positions):
            raise CaptureFormatError(f"{where}: patch_positions must be positions 0..{n - 1}: the file is damaged")
    if image is not None and (len(image) != 3 or int(image[2]) != 3):
        raise CaptureFormatError(f"{where}: image has shape {tuple(image)}, not (height, width, 3): the file "
                                 "is damaged")


def check_array_dtype(name: str, array: Any, *, source: str) -> None:
    """Raise a CaptureFormatError unless ``array`` is a floating-point numpy array.

    Example:
        >>> check_array_dtype("0.attentions", np.zeros(2, "int64"), source="f")
        Traceback (most recent call last):
        attnviz.validation.CaptureFormatError: f: array '0.attentions' has dtype int64, not a floating-point type: the file is damaged or not an attnviz capture
    """
    wanted = INTEGER_ARRAYS.get(name.rsplit(".", 1)[-1])
    if isinstance(array, np.ndarray) and wanted is not None and array.dtype == np.dtype(wanted):
        return
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        dtype = getattr(array, "dtype", type(array).__name__)
        raise CaptureFormatError(f"{source}: array {name!r} has dtype {dtype}, not a floating-point type: "
                                 "the file is damaged or not an attnviz capture")


def check_finite(name: str, array: Any, *, source: str) -> None:
    """Raise a CaptureFormatError when ``array`` holds NaN or infinite values.

    NaN or Inf in a saved map means the run overflowed (often float16) or the file is
    damaged; every metric and figure downstream would be NaN, so it is flagged on load.

    Example:
        >>> check_finite("0.attentions", np.array([0.5, np.nan]), source="f")
        Traceback (most recent call last):
        attnviz.validation.CaptureFormatError: f: array '0.attentions' holds 1 NaN/Inf value(s) of 2: the run overflowed (try dtype='float32' or a float32 model) or the file is damaged; extract it again
    """
    values = np.asarray(array)
    if values.dtype.kind not in "fc":
        return
    finite = np.isfinite(values)
    if not finite.all():
        bad = int(values.size - np.count_nonzero(finite))
        raise CaptureFormatError(f"{source}: array {name!r} holds {bad} NaN/Inf value(s) of {values.size}: the run "
                                 "overflowed (try dtype='float32' or a float32 model) or the file is damaged; "
                                 "extract it again")


# --- capture folders: the manifest ---------------------------------------------------------------
#: What a shard's file name may look like: a plain name inside the folder (no separator, no "..").
SHARD_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}\.safetensors")
_MANIFEST_FIX = "extract again into a new folder (or restore the folder's files as their writer left them)"


def check_shard_name(name: Any, *, source: str, entry: str) -> str:
    """Return ``name`` when it is a plain shard file name inside the folder; else raise CaptureFormatError.

    A manifest names its shards by plain file names (``shard-00000.safetensors``): no
    separators, no ``..``, no absolute paths, nothing hidden, so a crafted manifest can
    never make :func:`attnviz.load` read a file outside the folder.

    Example:
        >>> check_shard_name("shard-00000.safetensors", source="cap", entry="shards[0]")
        'shard-00000.safetensors'
        >>> check_shard_name("/etc/x.safetensors", source="cap", entry="shards[0]")
        Traceback (most recent call last):
        attnviz.validation.CaptureFormatError: cap: manifest shards[0]: file '/etc/x.safetensors' is not a plain shard file name inside the folder (no '/', '\\', '..' or absolute paths; a name like 'shard-00000.safetensors'): extract again into a new folder (or restore the folder's files as their writer left them)
    """
    if not isinstance(name, str):
        raise CaptureFormatError(f"{source}: manifest {entry}: file must be a string, not {_json_type(name)}: "
                                 f"{_MANIFEST_FIX}")
    if not SHARD_NAME.fullmatch(name) or ".." in name:
        raise CaptureFormatError(f"{source}: manifest {entry}: file {name[:120]!r} is not a plain shard file name "
                                 "inside the folder (no '/', '\\', '..' or absolute paths; a name like "
                                 f"'shard-00000.safetensors'): {_MANIFEST_FIX}")
    return name


def check_manifest(manifest: Any, *, source: str, folder_format: str = "attnviz-capture-folder",
                   folder_version: int = 1) -> dict:
    """Validate a capture folder's manifest (the parsed ``manifest.json``); return a cleaned copy.

    Checked as a capture file's header is (:func:`check_capture_header`): the JSON type of
    every key, the format and its version, ``texts_sha256`` (64 hex digits), ``num_examples``
    and ``shard_size``; each shard entry an object with a plain ``file`` name inside the
    folder (:func:`check_shard_name`), integer ``start``/``stop`` on the shard grid
    (``start = k * shard_size``, ``stop = min(start + shard_size, num_examples)``), each
    file and each range listed once, ``bytes`` a size; a ``complete`` manifest covers
    ``0..num_examples`` without a gap; ``meta`` is checked as a file's metadata is.
    The shards come back sorted by ``start``. Every problem raises
    :class:`CaptureFormatError` naming ``source`` (the folder), the entry and the fix.
    What lies on disk (the files, symlinks, the shards' own headers) is checked by
    :func:`attnviz.store.open_capture`.

    Example:
        >>> m = {"format": "attnviz-capture-folder", "format_version": 1, "texts_sha256": "0" * 64,
        ...      "num_examples": 2, "shard_size": 1, "complete": True, "meta": {},
        ...      "shards": [{"file": "shard-00001.safetensors", "start": 1, "stop": 2},
        ...                 {"file": "shard-00000.safetensors", "start": 0, "stop": 1}]}
        >>> [s["start"] for s in check_manifest(m, source="cap")["shards"]]
        [0, 1]
        >>> m["shards"] = "x"
        >>> check_manifest(m, source="cap")
        Traceback (most recent call last):
        attnviz.validation.CaptureFormatError: cap: manifest 'shards' must be a list of shard entries, not a string: extract again into a new folder (or restore the folder's files as their writer left them)
    """
    source = str(source)

    def fail(what: str) -> CaptureFormatError:
        return CaptureFormatError(f"{source}: manifest {what}: {_MANIFEST_FIX}")

    if not isinstance(manifest, dict):
        raise fail(f"is {_json_type(manifest)}, not an object")
    if manifest.get("format") != folder_format:
        raise fail(f"'format' is {str(manifest.get('format'))[:80]!r}, not {folder_format!r} (not an attnviz "
                   "capture folder)")
    version = manifest.get("format_version", 1)
    if not _is_int(version) or version < 1:
        raise fail(f"'format_version' must be a positive integer, not {version!r:.80}")
    if version > folder_version:
        raise CaptureFormatError(f"{source}: its manifest was written in folder format {version}, newer than this "
                                 f"attnviz reads ({folder_version}): upgrade attnviz (pip install -U attnviz)")
    for key in ("texts_sha256", "num_examples", "shard_size", "shards", "meta"):
        if key not in manifest:
            raise fail(f"has no {key!r}")
    digest = manifest["texts_sha256"]
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise fail(f"'texts_sha256' must be 64 hex digits, not {str(digest)[:80]!r}")
    n, size = manifest["num_examples"], manifest["shard_size"]
    if not _is_int(n) or n < 0:
        raise fail(f"'num_examples' must be an integer >= 0, not {n!r:.80}")
    if not _is_int(size) or size < 1:
        raise fail(f"'shard_size' must be an integer >= 1, not {size!r:.80}")
    num_shards = -(-int(n) // int(size))
    for key, kind in (("complete", _BOOL), ("attnviz_version", _STR), ("num_shards", _INT)):
        if key in manifest and not _type_ok(kind, manifest[key]):
            raise fail(f"{key!r} must be {_KIND_TEXT[kind]}, not {_json_type(manifest[key])}")
    if "num_shards" in manifest and manifest["num_shards"] != num_shards:
        raise fail(f"'num_shards' is {manifest['num_shards']}, but {n} example(s) in shards of {size} make "
                   f"{num_shards}")
    shards = manifest["shards"]
    if not isinstance(shards, list):
        raise fail(f"'shards' must be a list of shard entries, not {_json_type(shards)}")
    if len(shards) > num_shards:
        raise fail(f"lists {len(shards)} shards, but {n} example(s) in shards of {size} make {num_shards}")
    clean: list[dict] = []
    for i, shard in enumerate(shards):
        entry = f"shards[{i}]"
        if not isinstance(shard, dict):
            raise fail(f"{entry} is {_json_type(shard)}, not an object with file, start and stop")
        for key in ("file", "start", "stop"):
            if key not in shard:
                raise fail(f"{entry} has no {key!r}")
        name = check_shard_name(shard["file"], source=source, entry=entry)
        start, stop = shard["start"], shard["stop"]
        if not _is_int(start) or not _is_int(stop):
            raise fail(f"{entry} ({name}): start and stop must be integers, not {start!r:.40} and {stop!r:.40}")
        if start < 0 or start % size or start >= n or stop != min(start + size, n):
            raise fail(f"{entry} ({name}): examples {start}..{stop} are not a shard of this folder (shard k holds "
                       f"k * {size} up to min((k + 1) * {size}, {n}))")
        if "bytes" in shard and (not _is_int(shard["bytes"]) or shard["bytes"] < 8):
            raise fail(f"{entry} ({name}): bytes must be the file's size in bytes, not {shard['bytes']!r:.40}")
        unknown = sorted(set(shard) - {"file", "start", "stop", "bytes", "texts_sha256"})
        if unknown:
            raise fail(f"{entry} ({name}) has key(s) {', '.join(map(repr, unknown[:5]))} that no attnviz writes")
        if "texts_sha256" in shard and (not isinstance(shard["texts_sha256"], str)
                                        or not re.fullmatch(r"[0-9a-f]{64}", shard["texts_sha256"])):
            raise fail(f"{entry} ({name}): texts_sha256 must be 64 hex digits")
        clean.append({k: int(v) if _is_int(v) else v for k, v in shard.items()})
    files = [s["file"] for s in clean]
    for key, values in (("file", files), ("range", [s["start"] for s in clean])):
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            i = values.index(twice[0], values.index(twice[0]) + 1)
            raise fail(f"shards[{i}] ({clean[i]['file']}) lists the same {key} as an earlier entry (each shard "
                       "must be listed once)")
    clean.sort(key=lambda s: s["start"])
    if manifest.get("complete") and len(clean) != num_shards:
        have = {s["start"] for s in clean}
        gap = next(k * size for k in range(num_shards) if k * size not in have)
        raise fail(f"says complete but has no shard for examples {gap}..{min(gap + size, n)} "
                   f"({len(clean)} of {num_shards} shards listed)")
    meta = manifest["meta"]
    if not isinstance(meta, dict):
        raise fail(f"'meta' must be an object (the capture's metadata), not {_json_type(meta)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown keys: the shards' own headers warn about them
        meta = check_capture_header(meta, [], {}, source=f"{source}: manifest meta")
    out = dict(manifest)
    out.update(format_version=int(version), num_examples=int(n), shard_size=int(size), shards=clean, meta=meta)
    return out
