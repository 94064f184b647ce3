"""Captures on disk: a folder of safetensors shards plus a JSON manifest, read lazily.

A capture folder holds ``manifest.json`` and ``shard-00000.safetensors``,
``shard-00001.safetensors``, ... Each shard is an ordinary single-file capture (what
:meth:`attnviz.Capture.save` writes) of ``shard_size`` consecutive examples. The manifest
records the folder format version, the attnviz version, the SHA-256 digest of the texts,
the number of examples, the shard list with each shard's example range, and the capture's
metadata (model, layers, heads, dtype, ...).

:class:`CaptureWriter` writes one shard at a time, atomically, and rewrites the manifest
after each, so a crash leaves every finished shard usable; a writer opened again on the
same folder with the same texts skips the finished shards (resuming), and a folder that
holds a capture of other texts is refused with :class:`CaptureExistsError`: nothing is
ever overwritten silently.

:func:`open_capture` (what ``attnviz.load(path, lazy=True)`` calls) reads only the headers:
the examples' arrays are :class:`LazyArray` objects, and indexing one reads only that
example, layer or head (safetensors ``safe_open(...).get_slice``). :func:`count_reads`
counts what was read.

Example:
    >>> import tempfile, pathlib
    >>> import attnviz
    >>> from attnviz.testing import tiny_model
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "cap"
    >>> model, tok = tiny_model("bert")
    >>> cap = attnviz.extract(model, ["the cat sat", "a dog"], out=folder, shard_size=1, tokenizer=tok)
    >>> sorted(p.name for p in folder.iterdir())
    ['manifest.json', 'shard-00000.safetensors', 'shard-00001.safetensors']
    >>> with count_reads() as reads:
    ...     one_head = cap[1].attentions[0, 2]
    >>> reads.reads, one_head.shape
    (1, (4, 4))
"""
from __future__ import annotations

__all__ = ["CaptureExistsError", "CaptureFileChangedError", "CaptureWriter", "LazyArray", "ReadCounter",
           "check_shard", "count_reads", "open_capture", "read_manifest", "save_folder", "settings_diff", "shard_digest",
           "shard_file", "texts_digest"]

import contextlib
import dataclasses
import hashlib
import json
import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from attnviz.atomic import atomic_folder, atomic_path, atomic_write_text
from attnviz.capture import (
    ARRAY_FIELDS,
    FORMAT_VERSION,
    Capture,
    Example,
    capture_from_header,
    install_storage,
    json_field,
)
from attnviz.validation import (
    CaptureFormatError,
    check_array_dtype,
    check_capture_header,
    check_finite,
    check_manifest,
    check_shard_name,
)

MANIFEST = "manifest.json"
FOLDER_FORMAT = "attnviz-capture-folder"
FOLDER_VERSION = 1
#: Settings that must agree between a folder's capture and a writer resuming it, and between
#: the folder's metadata and each of its shards. ``model_fingerprint`` (a digest of the weights,
#: :func:`attnviz.modeling.model_fingerprint`) tells a checkpoint overwritten in place from the one
#: the folder was made with; an empty value (a capture made by hand, an older attnviz) is not compared.
SETTINGS = ("model_name", "model_fingerprint", "model_type", "layers", "heads", "decoder_layers", "dtype", "queries",
            "reduce_heads")
_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
           "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


class CaptureExistsError(ValueError):
    """The output path already holds something that writing there would overwrite.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "notes.txt").write_text("mine")
        >>> CaptureWriter(folder, texts=["a"])  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        CaptureExistsError: ... already holds files and is not an attnviz capture folder ...
    """


class CaptureFileChangedError(ValueError):
    """A lazily opened capture file was deleted, truncated or rewritten after it was opened.

    Example:
        >>> import tempfile, pathlib, os, attnviz
        >>> cap = attnviz.Capture([attnviz.Example(tokens=["a"], attentions=np.ones((1, 1, 1, 1), "float32"))])
        >>> path = cap.save(pathlib.Path(tempfile.mkdtemp()) / "c.safetensors")
        >>> lazy = attnviz.load(path, lazy=True); os.remove(path)
        >>> lazy[0].attentions[0]  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        CaptureFileChangedError: ... was deleted after the capture was opened ...
    """


# --- counting reads ----------------------------------------------------------------------
@dataclass
class ReadCounter:
    """What lazy arrays read while a :func:`count_reads` block ran.

    Attributes:
        reads: number of slice reads; nbytes: bytes of array data read; names: ``"file:tensor"`` of each read.

    Example:
        >>> ReadCounter().reads
        0
    """

    reads: int = 0
    nbytes: int = 0
    names: list[str] = field(default_factory=list)


_COUNTERS: list[ReadCounter] = []


@contextlib.contextmanager
def count_reads() -> Iterator[ReadCounter]:
    """Count the slices and bytes lazy captures read inside the block.

    Example:
        >>> with count_reads() as reads:
        ...     pass
        >>> reads.reads, reads.nbytes
        (0, 0)
    """
    counter = ReadCounter()
    _COUNTERS.append(counter)
    try:
        yield counter
    finally:
        _COUNTERS.remove(counter)


def _record(name: str, array: np.ndarray) -> None:
    """Count one read; ``name`` is ``"file:tensor"``."""
    for c in _COUNTERS:
        c.reads += 1
        c.nbytes += int(array.nbytes)
        c.names.append(name)


# --- lazy arrays -----------------------------------------------------------------------
class _ShardFile:
    """One safetensors file read lazily; checks before each read that it is the file that was opened."""

    _open: OrderedDict[str, Any] = OrderedDict()  # a few open handles, shared, most recent last
    MAX_OPEN = 16

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.signature = self._signature()

    def _signature(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return st.st_size, st.st_mtime_ns, st.st_ino

    def _check(self) -> None:
        try:
            now = self._signature()
        except FileNotFoundError:
            raise CaptureFileChangedError(
                f"{self.path} was deleted after the capture was opened, so its maps cannot be read: "
                "restore the file, or extract again (extract(..., out=...) resumes a capture folder)") from None
        if now != self.signature:
            what = "truncated" if now[0] < self.signature[0] else "rewritten"
            raise CaptureFileChangedError(
                f"{self.path} was {what} after the capture was opened ({self.signature[0]} bytes then, "
                f"{now[0]} now): load it again with attnviz.load, or extract again if it is damaged")

    def read(self, name: str, key: tuple) -> np.ndarray:
        from safetensors import safe_open

        self._check()
        handle_key = f"{self.path}:{self.signature}"
        try:
            handle = self._open.pop(handle_key, None) or safe_open(str(self.path), framework="numpy")
            self._open[handle_key] = handle
            while len(self._open) > self.MAX_OPEN:
                self._open.popitem(last=False)
            sl = handle.get_slice(name)
            array = sl[key] if key else sl[:]
        except Exception as exc:  # safetensors raises several error types for a damaged file
            self._open.pop(handle_key, None)
            raise CaptureFileChangedError(
                f"cannot read {name} from {self.path} ({type(exc).__name__}: {str(exc)[:200]}): the file is "
                "damaged or changed; load it again, or extract again") from exc
        array = np.asarray(array)
        _record(f"{self.path.name}:{name}", array)
        return array


class LazyArray:
    """An array in a capture file, read on demand: indexing reads only the slice asked for.

    Has ``shape``, ``dtype``, ``ndim``, ``size``, ``nbytes`` and ``len()`` without reading
    anything. ``a[i]``, ``a[i, j]``, ``a[i:j]`` (ints and slices on the leading axes) read
    just that slice; an integer array on axis 0 (``np.ix_`` indexing) reads only the listed
    entries of axis 0; anything else, and ``np.asarray(a)``, reads the whole array.

    Example:
        >>> import tempfile, pathlib
        >>> import attnviz
        >>> cap = attnviz.Capture([attnviz.Example(tokens=["a", "b"], attentions=np.ones((2, 3, 2, 2), "float32"))])
        >>> lazy = attnviz.load(cap.save(pathlib.Path(tempfile.mkdtemp()) / "c.safetensors"), lazy=True)
        >>> a = lazy[0].attentions
        >>> a.shape, a[1, 2].shape, np.asarray(a).sum()
        ((2, 3, 2, 2), (2, 2), np.float32(24.0))
    """

    __array_priority__ = 10.0

    def __init__(self, file: _ShardFile, name: str, shape: Sequence[int], dtype: str) -> None:
        self._file = file
        self.name = name
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(_DTYPES.get(dtype, dtype))

    # --- metadata without reading ------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def path(self) -> Path:
        """The file this array lives in."""
        return self._file.path

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"LazyArray({self.name!r}, shape={self.shape}, dtype={self.dtype}, file={self._file.path.name!r})"

    # --- reading -------------------------------------------------------------------------
    def read(self) -> np.ndarray:
        """The whole array, read from disk.

        Example:
            >>> import tempfile, pathlib, attnviz
            >>> cap = attnviz.Capture([attnviz.Example(tokens=["a"], attentions=np.ones((1, 1, 1, 1), "float32"))])
            >>> attnviz.load(cap.save(pathlib.Path(tempfile.mkdtemp()) / "c.safetensors"), lazy=True)[0].attentions.read().shape
            (1, 1, 1, 1)
        """
        return self._file.read(self.name, ())

    def __array__(self, dtype=None, copy=None):
        array = self.read()
        return array if dtype is None else array.astype(dtype, copy=False)

    def astype(self, dtype, copy: bool = True) -> np.ndarray:
        return self.read().astype(dtype, copy=copy)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        if key and _is_int_array(key[0]):
            return self._take_first(key)
        basic: list = []
        for k, n in zip(key, self.shape[:len(key)], strict=True):  # the key may address fewer axes
            if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
                i = int(k)
                if not -n <= i < n:
                    raise IndexError(f"index {i} is out of range for axis {len(basic)} of {self.name} "
                                     f"(size {n})")
                basic.append(i % n)
            elif isinstance(k, slice) and k.step in (None, 1):
                start, stop, _ = k.indices(n)
                basic.append(slice(start, max(start, stop)))
            else:
                break
        rest = key[len(basic):]
        if not basic:
            return self.read()[key]
        if any(isinstance(b, slice) and b.start == b.stop for b in basic):  # an empty selection
            return self.read()[key]
        array = self._file.read(self.name, tuple(basic))
        if rest:
            kept = sum(isinstance(b, slice) for b in basic)
            array = array[(slice(None),) * kept + rest]
        return array

    def _take_first(self, key: tuple) -> np.ndarray:
        """Fancy index on axis 0 (np.ix_): read each listed entry of axis 0 once."""
        first = np.asarray(key[0])
        n = self.shape[0]
        if first.size and (first.min() < -n or first.max() >= n):
            raise IndexError(f"index out of range for axis 0 of {self.name} (size {n})")
        first = first % n if n else first
        wanted = np.unique(first)
        if wanted.size == 0:
            return self.read()[key]
        stacked = np.stack([self._file.read(self.name, (int(i),)) for i in wanted])
        return stacked[(np.searchsorted(wanted, first),) + tuple(key[1:])]

    # arithmetic and reductions a caller might try on a whole array read it whole
    def __getattr__(self, name: str):
        if name.startswith("_") or name in ("name", "shape", "dtype"):
            raise AttributeError(name)
        value = getattr(np.ndarray, name, None)
        if value is None:
            raise AttributeError(f"'LazyArray' object has no attribute {name!r}")
        return getattr(self.read(), name)


def _is_int_array(k: Any) -> bool:
    if isinstance(k, (list, np.ndarray)):
        a = np.asarray(k)
        return a.dtype.kind in "iu"
    return False


# --- the single-file format --------------------------------------------------------------
def save_capture(capture: Capture, path: str | os.PathLike, *, shard_size: int = 32) -> Path:
    """What :meth:`attnviz.Capture.save` does: one ``.safetensors`` file, or a folder (:func:`save_folder`).

    A path that is an existing folder or has no suffix becomes a capture folder of shards of
    ``shard_size`` examples; any other path one file: the arrays as tensors named
    ``"{example}.{field}"`` and, in the header's metadata, the format version, the capture's
    provenance and the examples' other fields (JSON). Written atomically.

    Example:
        >>> import tempfile, pathlib
        >>> p = save_capture(Capture([Example(tokens=["a"])]), pathlib.Path(tempfile.mkdtemp()) / "c.safetensors")
        >>> load(p)[0].tokens
        ['a']
    """
    path = Path(path)
    if path.is_dir() or not path.suffix:
        return save_folder(capture, path, shard_size=shard_size)
    tensors: dict[str, np.ndarray] = {}
    records = []
    for i, ex in enumerate(capture.examples):
        record = {}
        for f in dataclasses.fields(ex):
            value = getattr(ex, f.name)
            if f.name in ARRAY_FIELDS:
                if value is not None:  # numpy or lazy arrays: each is read when it is written
                    tensors[f"{i}.{f.name}"] = value
            else:
                record[f.name] = json_field(value)
        records.append(record)
    header = {
        "attnviz_format": str(FORMAT_VERSION),
        "meta": json.dumps(capture.provenance()),
        "examples": json.dumps(records),
    }
    with atomic_path(path, suffix=".tmp") as tmp:
        _write_safetensors(tmp, tensors, header)
    return path


_ST_DTYPES = {np.dtype(v).name: k for k, v in _DTYPES.items()}  # numpy dtype name -> safetensors code


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


def _unreadable(path: Path, exc: Exception) -> ValueError:
    return CaptureFormatError(
        f"{path} is not a readable attnviz capture ({type(exc).__name__}: {str(exc)[:200]}); it may be "
        "truncated or corrupted: extract again and save it with Capture.save"
    )


# --- opening -------------------------------------------------------------------------------
def open_capture(path: str | os.PathLike, *, lazy: bool = True) -> Capture:
    """Open a capture file or folder; with ``lazy`` its arrays are :class:`LazyArray` objects.

    What ``attnviz.load`` calls for folders and for ``lazy=True``. A folder whose writer did
    not finish loads its finished shards, with a warning that says how to complete it.

    Example:
        >>> import tempfile, pathlib, attnviz
        >>> p = attnviz.Capture([attnviz.Example(tokens=["hi"])]).save(pathlib.Path(tempfile.mkdtemp()) / "cap")
        >>> len(open_capture(p))
        1
    """
    path = Path(path)
    if not path.is_dir():
        return _open_file(path, lazy)
    manifest = read_manifest(path)
    if manifest is None:
        raise FileNotFoundError(f"{path} is a folder without {MANIFEST}, so not an attnviz capture folder: "
                                "pass a capture file or folder (made by Capture.save or extract(..., out=...))")
    examples: list[Example] = []
    for i, shard in enumerate(manifest["shards"]):
        shard_path = shard_file(path, shard, entry=f"shards[{i}]")
        if shard_path is None:
            raise FileNotFoundError(f"{path / shard['file']} is listed in {path / MANIFEST} but missing: restore it, "
                                    "or extract again into this folder (extract(..., out=...) rewrites missing shards)")
        part = _open_file(shard_path, lazy)
        check_shard(path, shard, part, manifest["meta"], entry=f"shards[{i}]")
        examples.extend(part.examples)
    if manifest.get("complete", False) and len(examples) == manifest["num_examples"]:
        _check_texts(path, manifest, examples)
    if not manifest.get("complete", False) or len(examples) != manifest["num_examples"]:
        warnings.warn(f"{path} holds {len(examples)} of {manifest['num_examples']} examples (its writer did not "
                      "finish): run the same extract(..., out=...) again to complete it", UserWarning, stacklevel=3)
    return Capture(examples=examples, **_capture_meta(manifest["meta"]))


def _check_texts(folder: Path, manifest: dict, examples: list[Example]) -> None:
    """Where the examples record plain texts, their digest must be the manifest's (shards not swapped or replaced)."""
    if any(ex.text is None or ex.text_pair is not None or ex.decoder_text is not None
           or getattr(ex, "modality", "text") != "text" for ex in examples):
        return  # pairs, decoder targets, images or texts not recorded: the digest cannot be rebuilt from the examples
    if texts_digest([ex.text for ex in examples]) != manifest["texts_sha256"]:
        raise CaptureFormatError(
            f"{folder}: the shards hold other texts, or the same texts in another order, than the manifest's "
            "texts_sha256 records: shards were swapped or replaced; extract again into a new folder")


def _inside(folder: Path, name: str, entry: str) -> Path:
    """``folder / name``, refused with a CaptureFormatError when a symlink takes it out of ``folder``."""
    target = folder / name
    real, home = os.path.realpath(target), os.path.realpath(folder)
    if os.path.dirname(real) != home:
        raise CaptureFormatError(
            f"{folder}: {entry} {name!r} is a symlink to {real}, outside the folder: attnviz reads only the files "
            f"inside a capture folder; copy the file into {folder} in place of the link (or extract again)")
    return target


def shard_file(folder: str | os.PathLike, shard: dict, *, entry: str = "shard") -> Path | None:
    """The path of a manifest's shard inside ``folder``, or None when the file is missing.

    The name must be a plain file name (:func:`attnviz.validation.check_shard_name`) and the
    file must lie in the folder itself: a symlink to a file elsewhere is refused with a
    :class:`~attnviz.validation.CaptureFormatError`, before anything is opened. A file whose
    size differs from the one the manifest recorded (``bytes``) is refused too: it was
    truncated or replaced after its writer finished.

    Example:
        >>> import tempfile
        >>> shard_file(tempfile.mkdtemp(), {"file": "shard-00000.safetensors"}) is None
        True
    """
    folder = Path(folder)
    name = check_shard_name(shard.get("file"), source=str(folder), entry=f"manifest {entry}")
    target = _inside(folder, name, f"manifest {entry}")
    if not os.path.lexists(target) or (target.is_symlink() and not target.exists()):
        return None
    if not target.is_file():
        raise CaptureFormatError(f"{folder}: manifest {entry} {name!r} is not a file (a folder or a device): "
                                 f"remove it and extract again into {folder}")
    size = target.stat().st_size
    if "bytes" in shard and size != shard["bytes"]:
        raise CaptureFormatError(
            f"{folder}: manifest {entry} {name!r} has {size} bytes, but its writer wrote {shard['bytes']}: it was "
            f"truncated or replaced by another file; delete {target} and run the same extract(..., out=...) again "
            "to rewrite it")
    return target


def check_shard(folder: str | os.PathLike, shard: dict, part: Capture, meta: dict, *, entry: str = "shard") -> None:
    """Raise :class:`~attnviz.validation.CaptureFormatError` unless ``part`` (a shard, opened) belongs to the folder.

    Its number of examples must be the manifest's ``stop - start``, its settings
    (:data:`SETTINGS`, layer and head counts) those of the folder's ``meta``, and its
    texts those the manifest recorded for it (``texts_sha256``, when present): a shard
    copied in from another capture, of another model, checkpoint or texts, is refused.

    Example:
        >>> cap = Capture([Example(tokens=["a"], text="a")], model_name="m")
        >>> check_shard("cap", {"file": "shard-00000.safetensors", "start": 0, "stop": 1}, cap, {"model_name": "x"})
        Traceback (most recent call last):
        attnviz.validation.CaptureFormatError: cap: shard shard-00000.safetensors does not belong to this capture folder (model_name: 'x' in the manifest, 'm' in the shard): it comes from another capture; delete it and run the same extract(..., out=...) again to rewrite it
    """
    where = f"{folder}: {'shard' if entry == 'shard' else 'manifest ' + entry} {shard['file']}"
    fix = "delete it and run the same extract(..., out=...) again to rewrite it"
    want = shard["stop"] - shard["start"]
    if len(part) != want:
        raise CaptureFormatError(f"{where} holds {len(part)} example(s), but the manifest lists examples "
                                 f"{shard['start']}..{shard['stop']} ({want}): {fix}")
    have = _jsonable(part.provenance())
    diff = settings_diff(meta, have, SETTINGS + ("num_layers", "num_heads", "num_decoder_layers"))
    if diff:
        shown = ", ".join(f"{k}: {meta[k]!r:.80} in the manifest, {have[k]!r:.80} in the shard" for k in diff)
        raise CaptureFormatError(f"{where} does not belong to this capture folder ({shown}): it comes from "
                                 f"another capture; {fix}")
    if "texts_sha256" in shard and shard_digest(part.examples) != shard["texts_sha256"]:
        raise CaptureFormatError(f"{where} holds other texts than the manifest recorded for examples "
                                 f"{shard['start']}..{shard['stop']}: it comes from another capture; {fix}")


def settings_diff(old: dict, new: dict, keys: Sequence[str] = SETTINGS) -> list[str]:
    """The ``keys`` whose values differ between two capture metadata dicts (a key missing or empty on a side is skipped).

    Example:
        >>> settings_diff({"dtype": "float32", "model_fingerprint": ""}, {"dtype": "float16", "model_fingerprint": "ab"})
        ['dtype']
    """
    def known(d: dict, k: str) -> bool:
        return k in d and not (k == "model_fingerprint" and not d[k])

    return [k for k in keys if known(old, k) and known(new, k) and old[k] != new[k]]


def shard_digest(examples: Sequence[Example]) -> str:
    """SHA-256 of a shard's texts (each example's text, text pair and decoder text), recorded in the manifest.

    Example:
        >>> len(shard_digest([Example(tokens=["a"], text="a")]))
        64
    """
    return texts_digest([[ex.text, ex.text_pair, ex.decoder_text] for ex in examples])


def _capture_meta(meta: dict) -> dict:
    meta = dict(meta)
    if meta.get("id2label") is not None:
        meta["id2label"] = {int(k): v for k, v in meta["id2label"].items()}
    return meta


def _open_file(path: Path, lazy: bool) -> Capture:
    if not lazy:
        return load(path, lazy=False)
    meta, records, tensors = read_header(path)
    file = _ShardFile(path)
    arrays = {name: LazyArray(file, name, shape, dtype) for name, (shape, dtype) in tensors.items()}
    return capture_from_header(meta, records, arrays)


def read_manifest(folder: str | os.PathLike) -> dict | None:
    """The manifest of a capture folder, checked (:func:`attnviz.validation.check_manifest`), or None when it has none.

    A ``manifest.json`` that is a symlink out of the folder, not JSON, or not a valid
    manifest raises :class:`~attnviz.validation.CaptureFormatError` naming the fix.

    Example:
        >>> import tempfile
        >>> read_manifest(tempfile.mkdtemp()) is None
        True
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not os.path.lexists(path):
        return None
    _inside(folder, MANIFEST, "")
    if not path.is_file():
        raise CaptureFormatError(f"{path} is not a file: remove it, or extract again into a new folder")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise CaptureFormatError(f"{path} is not a readable attnviz capture manifest (not JSON: {str(exc)[:120]}): "
                                 "extract again into a new folder") from None
    return check_manifest(manifest, source=str(folder), folder_format=FOLDER_FORMAT, folder_version=FOLDER_VERSION)


# --- writing ---------------------------------------------------------------------------------
def texts_digest(texts: Any) -> str:
    """SHA-256 of the texts (any JSON value), what tells one capture folder from another.

    Example:
        >>> texts_digest(["a", "b"]) == texts_digest(["a", "b"]) != texts_digest(["a"])
        True
    """
    blob = json.dumps(texts, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class CaptureWriter:
    """Write a capture folder shard by shard; resume a folder of the same texts.

    Args:
        out_dir: the folder (created if missing; an empty folder is fine).
        texts: the inputs (a list of strings, or any JSON value): their SHA-256 tells a
            capture of these texts from one of others.
        meta: the capture's metadata (``Capture.provenance()``); default: taken from the
            first Capture given to :meth:`add_shard`.
        shard_size: examples per shard (a folder being resumed keeps its own).

    Shard ``k`` holds examples ``k * shard_size`` to ``(k + 1) * shard_size - 1``. Each shard
    is written atomically and the manifest is rewritten after it, so a crash leaves the
    finished shards usable and a new writer with the same texts skips them (:meth:`done`).
    A folder holding a capture of other texts, or of these texts with other settings
    (layers, heads, dtype, ...), or other files, raises :class:`CaptureExistsError`.

    Example:
        >>> import tempfile, pathlib, attnviz
        >>> folder = pathlib.Path(tempfile.mkdtemp()) / "cap"
        >>> exs = [attnviz.Example(tokens=[t]) for t in "abc"]
        >>> with CaptureWriter(folder, texts=["a", "b", "c"], meta={}, shard_size=2) as w:
        ...     _ = w.add_shard(exs[:2], 0)
        ...     w.done(0), w.done(1)
        (True, False)
        >>> with CaptureWriter(folder, texts=["a", "b", "c"], meta={}) as w:  # resume
        ...     _ = w.add_shard(exs[2:], 1)
        >>> [ex.tokens[0] for ex in attnviz.load(folder)]
        ['a', 'b', 'c']
    """

    def __init__(self, out_dir: str | os.PathLike, *, texts: Any, meta: dict | None = None,
                 shard_size: int = 32) -> None:
        if not isinstance(shard_size, (int, np.integer)) or shard_size < 1:
            raise ValueError(f"shard_size must be a positive number of examples, got {shard_size!r}")
        self.path = Path(out_dir)
        texts = list(texts) if not isinstance(texts, (str, dict)) else texts
        self.num_examples = len(texts) if isinstance(texts, list) else 1
        if isinstance(texts, dict) and "texts" in texts:
            self.num_examples = len(texts["texts"])
        self.digest = texts_digest(texts)
        self.meta = None if meta is None else _jsonable(meta)
        self.shards: dict[int, dict] = {}
        self.shard_size = int(shard_size)
        self._buffer: list[Example] = []
        self._cursor = 0
        if self.path.exists() and not self.path.is_dir():
            raise CaptureExistsError(f"{self.path} is a file, not a capture folder: write to another path "
                                     "(a folder), or delete the file first")
        manifest = read_manifest(self.path) if self.path.is_dir() else None
        if manifest is None:
            if self.path.is_dir() and any(not p.name.startswith(".") for p in self.path.iterdir()):
                raise CaptureExistsError(
                    f"{self.path} already holds files and is not an attnviz capture folder: write to a new or "
                    "empty folder, or delete its contents first")
            self.path.mkdir(parents=True, exist_ok=True)
        else:
            self._resume(manifest)

    # --- resuming ----------------------------------------------------------------------
    def _resume(self, manifest: dict) -> None:
        if manifest["texts_sha256"] != self.digest or manifest["num_examples"] != self.num_examples:
            raise CaptureExistsError(
                f"{self.path} already holds a capture of other texts ({manifest['num_examples']} example(s), "
                f"texts digest {manifest['texts_sha256'][:12]}...): write to another folder, or delete "
                f"{self.path} to replace it")
        if self.meta is not None:
            self._check_settings(manifest["meta"])
        self.meta = self.meta or manifest["meta"]
        self.shard_size = int(manifest["shard_size"])
        for i, shard in enumerate(manifest["shards"]):
            f = shard_file(self.path, shard, entry=f"shards[{i}]")
            if f is None:  # missing: written again
                continue
            check_shard(self.path, shard, _open_file(f, lazy=True), manifest["meta"], entry=f"shards[{i}]")
            self.shards[shard["start"] // self.shard_size] = shard

    def check_settings(self, settings: dict) -> None:
        """Raise :class:`CaptureExistsError` when the folder's capture was made with other ``settings``.

        Only the keys given (and not None) are compared, e.g. ``{"layers": [0, 1], "dtype": "float32"}``.
        """
        if self.meta is not None:
            new = {k: v for k, v in _jsonable(settings).items() if v is not None}
            self._check_settings(self.meta, new)

    def _check_settings(self, old: dict, new: dict | None = None) -> None:
        new = (self.meta or {}) if new is None else new
        diff = settings_diff(old, new)
        if "model_fingerprint" in diff:
            raise CaptureExistsError(
                f"{self.path} already holds a capture of these texts made with other weights of "
                f"{new.get('model_name') or 'the model'} (model fingerprint {old['model_fingerprint'][:12]}... there, "
                f"{new['model_fingerprint'][:12]}... now): the checkpoint changed since (trained further or "
                f"overwritten at the same path?); write to another folder, or delete {self.path} to replace it")
        if diff:
            shown = ", ".join(f"{k}: {old[k]!r} there, {new[k]!r} now" for k in diff)
            raise CaptureExistsError(
                f"{self.path} already holds a capture of these texts made with other settings ({shown}): "
                f"write to another folder, or delete {self.path} to replace it")

    # --- plan ------------------------------------------------------------------------------
    @property
    def num_shards(self) -> int:
        """How many shards the folder will hold."""
        return -(-self.num_examples // self.shard_size)

    def shard_range(self, index: int) -> tuple[int, int]:
        """``(start, stop)`` example indices of shard ``index``."""
        if not 0 <= index < self.num_shards:
            raise IndexError(f"shard {index} is out of range: this capture has {self.num_shards} shard(s)")
        return index * self.shard_size, min(self.num_examples, (index + 1) * self.shard_size)

    def done(self, index: int) -> bool:
        """True when shard ``index`` is already on disk (resuming skips it)."""
        return index in self.shards

    @property
    def complete(self) -> bool:
        """True when every shard is on disk."""
        return len(self.shards) == self.num_shards

    # --- writing ---------------------------------------------------------------------------
    def add_shard(self, examples: Capture | Sequence[Example], index: int) -> Path:
        """Write shard ``index`` (its examples, or a Capture of them) atomically; rewrite the manifest."""
        start, stop = self.shard_range(index)
        if isinstance(examples, Capture):
            meta = _jsonable(examples.provenance())
            if self.meta is None:
                self.meta = meta
            else:
                old, self.meta = self.meta, meta
                self._check_settings(old)
            examples = examples.examples
        examples = list(examples)
        if len(examples) != stop - start:
            raise ValueError(f"shard {index} holds examples {start} to {stop - 1} ({stop - start}), "
                             f"but {len(examples)} were given")
        if self.meta is None:
            raise ValueError("the writer has no capture metadata: pass meta= or give add_shard a Capture")
        name = f"shard-{index:05d}.safetensors"
        target = self.path / name
        Capture(examples=examples, **_capture_meta(self.meta)).save(target)
        self.shards[index] = {"file": name, "start": start, "stop": stop, "bytes": target.stat().st_size,
                              "texts_sha256": shard_digest(examples)}
        self.write_manifest()
        return target

    def add(self, example: Example) -> None:
        """Append the next example (in order); a full shard is written at once."""
        self._buffer.append(example)
        self._cursor += 1
        index = (self._cursor - 1) // self.shard_size
        start, stop = self.shard_range(index)
        if self._cursor == stop:
            buffer, self._buffer = self._buffer, []
            if not self.done(index):
                self.add_shard(buffer, index)

    def write_manifest(self) -> Path:
        """Write ``manifest.json`` (atomically) for the shards written so far."""
        from attnviz._version import __version__

        manifest = {
            "format": FOLDER_FORMAT, "format_version": FOLDER_VERSION, "attnviz_version": __version__,
            "texts_sha256": self.digest, "num_examples": self.num_examples, "shard_size": self.shard_size,
            "num_shards": self.num_shards, "complete": self.complete,
            "shards": [self.shards[k] for k in sorted(self.shards)], "meta": self.meta or {},
        }
        return atomic_write_text(self.path / MANIFEST, json.dumps(manifest, indent=1) + "\n")

    def close(self) -> Path:
        """Write what is buffered and the final manifest; return the folder."""
        if self._buffer:
            raise ValueError(f"{len(self._buffer)} example(s) were added but their shard is not full: add the "
                             f"rest (the capture has {self.num_examples} examples)")
        if self.meta is not None or self.shards:
            self.write_manifest()
        return self.path

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()


def _jsonable(meta: dict) -> dict:
    return json.loads(json.dumps(meta, default=str))


def save_folder(capture: Capture, path: str | os.PathLike, *, shard_size: int = 32) -> Path:
    """Save ``capture`` as a capture folder at ``path`` (what ``Capture.save`` does for folders).

    The whole folder is written beside ``path`` and moved into place at the end. ``path``
    must not exist or be an empty folder: anything else raises :class:`CaptureExistsError`.

    Example:
        >>> import tempfile, pathlib, attnviz
        >>> p = save_folder(attnviz.Capture([attnviz.Example(tokens=["a"])]), pathlib.Path(tempfile.mkdtemp()) / "c")
        >>> (p / "manifest.json").is_file()
        True
    """
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise CaptureExistsError(f"{path} already exists and is not an empty folder: save to a new path, "
                                 f"or delete {path} first (captures are never overwritten silently)")
    if not path.parent.exists():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist; create it first")
    texts = [ex.text if ex.text is not None else ex.tokens for ex in capture.examples]
    with atomic_folder(path) as staging:
        writer = CaptureWriter(staging, texts=texts, meta=capture.provenance(), shard_size=shard_size)
        for k in range(writer.num_shards):
            start, stop = writer.shard_range(k)
            writer.add_shard(capture.examples[start:stop], k)
        writer.close()
    return path


install_storage(save=save_capture, load=load)
