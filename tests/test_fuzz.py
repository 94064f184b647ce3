"""Property-based fuzzing (hypothesis) of the inputs attnviz takes from outside.

Over 500 crafted or mutated capture files, over 300 crafted capture folders (manifests and
layouts: missing, extra, duplicate, reordered, foreign and truncated shards, symlinks, wrong
types), and over 200 argument combinations for extract, load, head_grid, compare and the CLI.
Each gives a result or an attnviz error with a message; never a raw exception from numpy,
json, safetensors or Python internals. A folder is never read outside itself (an audit hook
on ``open`` and a wrapper around safetensors' ``safe_open`` record every file opened), and a
folder that loads holds only what its writer wrote (each example equal to the original).
derandomize=True keeps CI stable; the budgets keep the module at a few seconds.
"""
from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import attnviz  # noqa: E402
from attnviz.capture import Capture, Example  # noqa: E402
from attnviz.validation import META_TYPES, RECORD_TYPES, CaptureFormatError  # noqa: E402

PACKAGE = str(Path(attnviz.__file__).resolve().parent)
#: Example budgets per test (capture files: 400 + 260, some of them the same file twice; folders: 320;
#: arguments: 70 + 35 + 60 + 40 + 45).
BUDGET = {"structured": 400, "bytes": 260, "folders": 320, "extract": 70, "load": 35, "head_grid": 60, "compare": 40,
          "cli": 45}


#: ATTNVIZ_FUZZ_SCALE=20 runs twenty times the examples, with fresh random draws (a long local hunt).
SCALE = float(os.environ.get("ATTNVIZ_FUZZ_SCALE", "1"))


def fuzz(name: str):
    return settings(derandomize=SCALE == 1, deadline=None, database=None, print_blob=False,
                    suppress_health_check=list(HealthCheck), max_examples=int(BUDGET[name] * SCALE))
#: Errors an attnviz function may raise on a bad input (with a message that names the fix).
OURS = (ValueError, TypeError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
        IndexError, ImportError)
#: Messages of Python's own errors: never acceptable, even when raised inside attnviz code.
RAW = re.compile(r"object has no attribute|unsupported operand|not subscriptable|invalid literal for|"
                 r"out of bounds for (axis|size)|is not iterable|positional argument|unexpected keyword|"
                 r"'NoneType'|list index out of range|can't multiply|cannot reshape|operands could not|"
                 r"axis \d+ is out of bounds|zero-size array|must be real number|not supported between|"
                 r"argument must be|object cannot be interpreted|ParseException|too many indices")
COUNTS: dict[str, int] = {}
#: Digests of the distinct capture files the fuzz tests loaded (the issue asks for at least 500).
CRAFTED: set[str] = set()
OUTCOMES: dict[str, int] = {}
FIGURES = [0]
FIGURE_BUDGET = 12


def check_error(exc: BaseException, what: str) -> None:
    """Fail unless ``exc`` is an attnviz error with a message (raised by attnviz code)."""
    if isinstance(exc, CaptureFormatError):
        assert str(exc).strip()
        return
    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1].filename if frames else ""
    detail = f"{what}: {type(exc).__name__}: {exc} (raised in {last})"
    assert isinstance(exc, OURS), detail
    assert os.path.realpath(last).startswith(PACKAGE), detail
    message = str(exc)
    assert len(message) >= 20 and not RAW.search(message), detail


@contextlib.contextmanager
def ours(what: str):
    """Run a block: success, or an attnviz error (checked); anything else fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - the point is to inspect it
            check_error(exc, what)
            OUTCOMES[type(exc).__name__] = OUTCOMES.get(type(exc).__name__, 0) + 1
        else:
            OUTCOMES["ok"] = OUTCOMES.get("ok", 0) + 1


def count(name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


@pytest.fixture(scope="module", autouse=True)
def _report_counts():
    yield
    if COUNTS:
        print("\nfuzz cases:", dict(sorted(COUNTS.items())), "outcomes:", dict(sorted(OUTCOMES.items())),
              "distinct files loaded:", len(CRAFTED))
    if {"capture files (structured)", "capture files (bytes)"} <= set(COUNTS):  # both file fuzzers ran
        assert len(CRAFTED) >= 500, f"the fuzz loaded only {len(CRAFTED)} distinct crafted capture files"


# --- capture files ------------------------------------------------------------------------------
def base_capture(decoder: bool = False) -> Capture:
    rng = np.random.default_rng(0)

    def maps(*shape):
        a = rng.random(shape).astype("float32")
        return a / a.sum(-1, keepdims=True)

    examples = []
    for n in (3, 2):
        ex = Example(tokens=[f"t{i}" for i in range(n)], attentions=maps(2, 2, n, n),
                     hidden_states=rng.standard_normal((3, n, 4)).astype("float32"), text="t " * n,
                     special_mask=[True] + [False] * (n - 1), word_ids=[None] + list(range(n - 1)),
                     offsets=[(0, 0)] + [(i, i + 1) for i in range(n - 1)])
        if decoder:
            ex.decoder_tokens = ["d0", "d1"]
            ex.decoder_attentions = maps(1, 2, 2, 2)
            ex.cross_attentions = maps(1, 2, 2, n)
        examples.append(ex)
    return Capture(examples, model_name="m", model_type="bert", num_layers=2, num_heads=2, hidden_size=4,
                   layers=[0, 1], heads=[0, 1], decoder_layers=[0] if decoder else None,
                   num_decoder_layers=1 if decoder else None, is_encoder_decoder=decoder)


def parts(cap: Capture) -> tuple[dict, list, dict]:
    """(meta, records, tensors) of a capture, as Capture.save writes them."""
    from attnviz.capture import ARRAY_FIELDS

    tensors, records = {}, []
    for i, ex in enumerate(cap):
        rec = {}
        for key, value in vars(ex).items():
            if key in ARRAY_FIELDS:
                if value is not None:
                    tensors[f"{i}.{key}"] = value
            else:
                rec[key] = [list(o) for o in value] if key == "offsets" and value else value
        records.append(rec)
    return json.loads(json.dumps(cap.provenance())), records, tensors


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 12) | st.floats(allow_nan=True) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8)
meta_keys = st.sampled_from(sorted(META_TYPES) + ["attnviz_format", "future_key", ""])
record_keys = st.sampled_from(sorted(RECORD_TYPES) + ["attentions", "logits", "future_field"])
tensor_names = st.sampled_from(["0.attentions", "1.attentions", "0.hidden_states", "1.hidden_states",
                                "0.decoder_attentions", "0.cross_attentions", "0.logits", "2.attentions"])
shapes = st.lists(st.integers(0, 4), min_size=0, max_size=5).map(tuple)
mutation = st.one_of(
    st.tuples(st.just("meta_set"), meta_keys, json_values),
    st.tuples(st.just("meta_del"), meta_keys),
    st.tuples(st.just("rec_set"), st.integers(0, 2), record_keys, json_values),
    st.tuples(st.just("rec_del"), st.integers(0, 2), record_keys),
    st.tuples(st.just("rec_list"), st.sampled_from(["append", "pop", "dict", "str"])),
    st.tuples(st.just("tokens"), st.integers(0, 1), st.lists(st.text(max_size=3), max_size=5)),
    st.tuples(st.just("shape"), tensor_names, shapes),
    st.tuples(st.just("dtype"), tensor_names, st.sampled_from(["float16", "float64", "int32", "uint8", "bool"])),
    st.tuples(st.just("value"), tensor_names, st.sampled_from([np.nan, np.inf, -np.inf, -1.0, 1e30])),
    st.tuples(st.just("rename"), tensor_names, st.text(max_size=12) | tensor_names),
    st.tuples(st.just("drop"), tensor_names),
    st.tuples(st.just("format"), st.text(max_size=4) | st.sampled_from(["0", "1", "2", "999", "-1", " 1"])),
    st.tuples(st.just("raw"), st.sampled_from(["meta", "examples"]), st.text(max_size=20) | json_values.map(json.dumps)),
    st.tuples(st.just("header_del"), st.sampled_from(["meta", "examples", "attnviz_format"])),
)


def mutate(meta, records, tensors, header, op) -> None:
    kind = op[0]
    if kind == "meta_set":
        meta[op[1]] = op[2]
    elif kind == "meta_del":
        meta.pop(op[1], None)
    elif kind in ("rec_set", "rec_del") and records and isinstance(records, list):
        rec = records[op[1] % len(records)]
        if isinstance(rec, dict):
            if kind == "rec_set":
                rec[op[2]] = op[3]
            else:
                rec.pop(op[2], None)
    elif kind == "rec_list":
        if op[1] == "append":
            records.append(dict(records[0]) if records else {"tokens": ["x"]})
        elif op[1] == "pop" and records:
            records.pop()
        elif op[1] == "dict":
            header["examples"] = json.dumps({str(i): r for i, r in enumerate(records)})
        else:
            header["examples"] = json.dumps("records")
    elif kind == "tokens" and len(records) > op[1]:
        records[op[1]]["tokens"] = op[2]
    elif kind == "shape":
        size = math.prod(op[2]) if op[2] else 1
        tensors[op[1]] = np.full(op[2], 1.0 / max(size, 1), "float32")
    elif kind == "dtype" and op[1] in tensors:
        with np.errstate(all="ignore"):
            tensors[op[1]] = tensors[op[1]].astype(op[2])
    elif kind == "value" and op[1] in tensors and tensors[op[1]].size:
        t = tensors[op[1]].astype("float32").copy()
        t.flat[0] = op[2]
        tensors[op[1]] = t
    elif kind == "rename" and op[1] in tensors:
        tensors[op[2]] = tensors.pop(op[1])
    elif kind == "drop":
        tensors.pop(op[1], None)
    elif kind == "format":
        header["attnviz_format"] = op[1]
    elif kind == "raw":
        header[op[1]] = op[2]
    elif kind == "header_del":
        header.pop(op[1], None)


def write_capture(path: Path, meta, records, tensors, header_over) -> Path:
    from safetensors.numpy import save_file

    header = {"attnviz_format": "1", "meta": json.dumps(meta), "examples": json.dumps(records)}
    for key, value in header_over.items():
        if value is None:
            header.pop(key, None)
        else:
            header[key] = value
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    save_file(tensors, str(path), metadata=header)
    return path


def use_loaded(cap: Capture, what: str) -> None:
    """What a user does next with a loaded capture: each must work or raise an attnviz error."""
    from attnviz.plot.grid import head_grid
    from attnviz.shapes import shape_report

    with ours(f"{what}: shape_report"):
        str(shape_report(cap))
    if cap.has_attentions:
        with ours(f"{what}: compare"):
            attnviz.compare(cap, cap)
        FIGURES[0] += 1
        if FIGURES[0] > FIGURE_BUDGET:  # figures cost ~0.3 s each: the first few dozen loaded files
            return
        with ours(f"{what}: head_grid"):
            head_grid(cap)
        with ours(f"{what}: token_heatmap"):
            attnviz.plot.token_heatmap(cap, layer=cap.layers[0] if cap.layers else 0,
                                       head=cap.heads[0] if cap.heads else 0)


#: Loaders to fuzz: eager, and lazy where attnviz.load offers it (capture folders / store).
LAZY = "lazy" in inspect.signature(attnviz.load).parameters


def load_checked(path: Path, what: str) -> None:
    CRAFTED.add(hashlib.sha1(path.read_bytes()).hexdigest())
    for options in ({}, {"lazy": True}) if LAZY else ({},):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                cap = attnviz.load(path, **options)
            except Exception as exc:  # noqa: BLE001
                check_error(exc, f"{what} load{options}")
                OUTCOMES["load refused"] = OUTCOMES.get("load refused", 0) + 1
                continue
        OUTCOMES["load ok"] = OUTCOMES.get("load ok", 0) + 1
        use_loaded(cap, f"{what} load{options}")


@fuzz("structured")
@given(decoder=st.booleans(), ops=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_capture_files_load_or_raise_capture_format_error(folder, decoder, ops):
    meta, records, tensors = parts(base_capture(decoder))
    header: dict = {}
    for op in ops:
        mutate(meta, records, tensors, header, op)
    try:
        path = write_capture(folder / "m.safetensors", meta, records, tensors, header)
    except Exception:  # noqa: BLE001 - safetensors refused to write it: nothing to load
        return
    count("capture files (structured)")
    load_checked(path, f"mutations {ops!r}")


@pytest.fixture(scope="module")
def good_bytes(folder):
    return base_capture().save(folder / "good.safetensors").read_bytes()


@fuzz("bytes")
@given(edits=st.lists(st.tuples(st.sampled_from(["flip", "cut", "insert", "zero"]), st.floats(0, 1),
                                st.integers(0, 255)), min_size=1, max_size=3))
def test_byte_level_damage_raises_capture_format_error(folder, good_bytes, edits):
    data = bytearray(good_bytes)
    header_end = 8 + int.from_bytes(data[:8], "little")
    for op, where, byte in edits:
        # half the edits land in the header (JSON), where damage is most varied
        pos = int(where * (header_end if byte % 2 else len(data) - 1))
        pos = min(pos, len(data) - 1)
        if op == "flip":
            data[pos] ^= byte or 1
        elif op == "cut":
            del data[pos:]
            if not data:
                data = bytearray(b"\0")
        elif op == "insert":
            data[pos:pos] = bytes([byte])
        else:
            data[pos:pos + 8] = bytes(8)
    path = folder / "b.safetensors"
    path.write_bytes(bytes(data))
    count("capture files (bytes)")
    load_checked(path, f"byte edits {edits!r}")


# --- arguments ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bert():
    from attnviz.testing import tiny_model

    return tiny_model("bert")


@pytest.fixture(scope="module")
def bert_cap(bert):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return attnviz.extract(bert[0], ["the cat sat on the mat", "a dog"], tokenizer=bert[1])


@pytest.fixture(scope="module")
def heads_cap(bert):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return attnviz.extract(bert[0], ["the cat sat on the mat", "a dog"], heads=[0], tokenizer=bert[1])


anything = st.sampled_from([None, 0, -1, 1, 2, 5, 2.5, "0", "", "x", b"x", True, [], [0], [-1], [9], [0, 1],
                            [0.5], ["a"], {"a": 1}, (0,), np.int64(1), float("nan"), slice(0, 1)])
texts = st.sampled_from(["the cat", ["the cat", "a dog"], "", [""], [], None, b"the cat", [b"x"], [1], 3,
                         ["ok", None], {"t": "x"}, "x" * 300, ["  "], ("a", "b")])


@fuzz("extract")
@given(texts=texts, kwargs=st.dictionaries(
    st.sampled_from(["max_length", "batch_size", "layers", "heads", "dtype", "padding_side", "queries",
                     "reduce_heads", "hidden_states", "text_pairs", "decoder_texts", "progress"]),
    anything | st.sampled_from(["float16", "left", "right", "last", "mean", "max", False]), max_size=3),
    model=st.sampled_from(["model", None, "nope/dir", 3, b"model"]))
def test_extract_arguments(bert, texts, kwargs, model):
    m, tok = bert
    model = m if model == "model" else model
    count("arguments: extract")
    with ours(f"extract(model={model!r}, texts={texts!r}, **{kwargs!r})"):
        cap = attnviz.extract(model, texts, **kwargs, tokenizer=tok)
        assert len(cap) >= 1


@fuzz("load")
@given(path=st.sampled_from([None, 3, "", ".", "missing.safetensors", b"x", ["a"], "good", "dir", "text",
                             "empty", Path("missing")]) | st.text(max_size=12))
def test_load_arguments(folder, good_bytes, path):
    (folder / "g.safetensors").write_bytes(good_bytes)
    (folder / "t.safetensors").write_text("hello")
    (folder / "e.safetensors").write_bytes(b"")
    (folder / "d.safetensors").mkdir(exist_ok=True)
    path = {"good": folder / "g.safetensors", "text": folder / "t.safetensors", "dir": folder / "d.safetensors",
            "empty": folder / "e.safetensors"}.get(path, path) if isinstance(path, str) else path
    count("arguments: load")
    with ours(f"load({path!r})"):
        attnviz.load(path)


@fuzz("head_grid")
@given(kwargs=st.dictionaries(
    st.sampled_from(["example", "layers", "heads", "kind", "scale", "tokens", "width", "vmin", "vmax",
                     "hide_special", "title", "cmap"]),
    anything | st.sampled_from(["self", "cross", "row", "log", "auto", "page", "column", "$x$", "viridis"]),
    max_size=4), which=st.sampled_from(["capture", "capture", "none", "list"]))
def test_head_grid_arguments(bert_cap, kwargs, which):
    cap = {"capture": bert_cap, "none": None, "list": [bert_cap]}[which]
    count("arguments: head_grid")
    with ours(f"head_grid({which}, **{kwargs!r})"):
        grid = attnviz.plot.head_grid(cap, **kwargs)
        grid.figure.savefig(io.BytesIO(), format="png", dpi=20)


@fuzz("compare")
@given(before=st.sampled_from(["cap", "other", None, 3, "missing.safetensors", "nope/dir"]),
       after=st.sampled_from(["cap", "short", "heads"]),
       kwargs=st.dictionaries(st.sampled_from(["texts", "batch_size", "max_length", "names", "hidden_states"]),
                              anything | st.sampled_from([("a", "b"), ("a",), "ab"]), max_size=2))
def test_compare_arguments(bert, bert_cap, heads_cap, before, after, kwargs):
    model, tok = bert
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sides = {"cap": bert_cap, "other": model, "short": Capture(bert_cap.examples[:1], **{
            k: v for k, v in vars(bert_cap).items() if k != "examples"}),
            "heads": heads_cap}
    a = sides.get(before, before) if isinstance(before, str) else before
    b = sides[after]
    count("arguments: compare")
    with ours(f"compare({before!r}, {after!r}, **{kwargs!r})"):
        attnviz.compare(a, b, tokenizer=tok, **kwargs)


@pytest.fixture(scope="module")
def model_dir(folder):
    from attnviz.testing import save_tiny_model

    return save_tiny_model("bert", folder / "bert-model")


CLI_FLAGS = ["--layer", "--head", "--layers", "--heads", "--max-length", "--batch-size", "--example",
             "--dpi", "--width", "--kind", "--scale", "--top", "--max-new-tokens", "--metrics", "--maps"]
CLI_VALUES = ["0", "1", "-1", "9", "0,1", "x", "", "mean", "2.5", "cross", "log", "nan", "1e9", "cls"]


@fuzz("cli")
@given(command=st.sampled_from(["plot", "report", "compare", "stats", "html", "generate"]),
       flags=st.lists(st.tuples(st.sampled_from(CLI_FLAGS), st.sampled_from(CLI_VALUES)), max_size=2))
def test_cli_arguments(folder, model_dir, command, flags, capsys):
    out = folder / f"cli-{command}"
    argv = [command]
    if command == "compare":
        argv += [str(folder / "missing.safetensors"), str(model_dir)]
    else:
        argv += ["--model", str(model_dir)]
    argv += {"generate": ["--prompt", "hi"], "compare": ["--text", "the cat"]}.get(command, ["--text", "the cat"])
    argv += ["--out", str(out / ("f.png" if command == "plot" else "f.html" if command == "html" else "o"))]
    for flag, value in flags:
        argv += [flag, value]
    count("arguments: CLI")
    from attnviz.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            code = main(["--debug", *argv])
        except SystemExit as exit_:  # argparse: a usage error with its message
            assert exit_.code in (0, 2), argv
            assert "error:" in capsys.readouterr().err or exit_.code == 0
            return
    err = capsys.readouterr().err
    assert code in (0, 1), (argv, code)
    if code == 1:
        frames = re.findall(r'File "([^"]+)"', err)
        last_line = [line for line in err.splitlines() if line.startswith("attnviz ")][-1]
        detail = f"{argv}: {last_line} (raised in {frames[-1] if frames else '?'})"
        assert frames and os.path.realpath(frames[-1]).startswith(PACKAGE), detail
        assert not RAW.search(last_line), detail


def test_load_checked_counts_distinct_files(tmp_path):
    """The 500-file check counts files by content: the same bytes loaded twice count once."""
    before = len(CRAFTED)
    path = base_capture().save(tmp_path / "same.safetensors")
    load_checked(path, "the same file")
    load_checked(path, "the same file again")
    assert len(CRAFTED) == before + 1


# --- capture folders (issue 25) -----------------------------------------------------------------
FOLDER_TEXTS = ["t0 a", "t1 b c", "t2", "t3 d", "t4 e f"]
FINGERPRINT = "ab" * 32
#: Files opened while the audit is on: (what opened it, path).
OPENED: list[tuple[str, str]] = []
AUDIT = [False]


def _audit(event: str, args: tuple) -> None:
    if AUDIT[0] and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        OPENED.append(("open", os.fsdecode(args[0])))


sys.addaudithook(_audit)  # hooks cannot be removed: it records only while AUDIT[0] is set


def folder_capture(texts=FOLDER_TEXTS, *, seed: int = 0, layers=(0, 1), fingerprint: str = FINGERPRINT) -> Capture:
    rng = np.random.default_rng(seed)
    examples = []
    for text in texts:
        n = len(text.split())
        a = rng.random((len(layers), 2, n, n)).astype("float32")
        examples.append(Example(tokens=text.split(), text=text, attentions=a / a.sum(-1, keepdims=True)))
    return Capture(examples, model_name="m", model_fingerprint=fingerprint, model_type="bert", num_layers=2,
                   num_heads=2, layers=list(layers), heads=[0, 1])


@pytest.fixture(scope="module")
def folders():
    """Folders to copy: the good one, foreign ones to take shards from, and an 'outside' with valid files."""
    with tempfile.TemporaryDirectory() as d:
        base = Path(d)
        made = {"good": folder_capture(), "texts": folder_capture(["u0 a", "u1 b c", "u2", "u3 d", "u4 e f"]),
                "weights": folder_capture(seed=1, fingerprint="cd" * 32), "layers": folder_capture(layers=(1,))}
        for name, cap in made.items():
            cap.save(base / name, shard_size=2)
        outside = base / "outside"
        shutil.copytree(base / "good", outside)
        shutil.copy(outside / "shard-00000.safetensors", outside / "x.safetensors")
        (base / "cases").mkdir()
        yield base, made["good"]


names = st.sampled_from(["ABS_OUTSIDE", "REL_OUTSIDE", "sub/shard-00000.safetensors", "", ".", "..",
                         "shard-00009.safetensors", "manifest.json", ".hidden.safetensors", "shard-00000.safetensors",
                         "shard-00001.safetensors", "shard-00002.safetensors", "x.safetensors", "a\\b.safetensors",
                         "shard-00000.safetensors/", "shard\x00.safetensors"])
manifest_keys = st.sampled_from(["format", "format_version", "attnviz_version", "texts_sha256", "num_examples",
                                 "shard_size", "num_shards", "complete", "shards", "meta", "future"])
entry_keys = st.sampled_from(["file", "start", "stop", "bytes", "texts_sha256", "other"])
folder_op = st.one_of(
    st.tuples(st.just("m_set"), manifest_keys, json_values | st.integers(-2, 7)),
    st.tuples(st.just("m_del"), manifest_keys),
    st.tuples(st.just("s_set"), st.integers(0, 3), entry_keys, names | st.integers(-1, 6) | json_values),
    st.tuples(st.just("s_del"), st.integers(0, 3), entry_keys),
    st.tuples(st.just("s_list"), st.sampled_from(["dup", "pop", "pop0", "reverse", "swap", "clear", "junk", "extra"])),
    st.tuples(st.just("meta_set"), meta_keys, json_values),
    st.tuples(st.just("meta_del"), meta_keys),
    st.tuples(st.just("file"), st.integers(0, 2),
              st.sampled_from(["delete", "truncate", "texts", "weights", "layers", "symlink_out", "symlink_in",
                               "dir", "empty", "garbage", "swap", "outside_copy"]), st.floats(0, 1)),
    st.tuples(st.just("manifest_file"), st.sampled_from(["symlink_out", "not_json", "list", "delete", "dir", "empty",
                                                         "deep"])),
    st.tuples(st.just("extra"), st.sampled_from(["shard-00003.safetensors", "notes.txt", "shard-00000.safetensors.tmp"])),
)


def _shard_name(value, cap: Path, outside: Path):
    if value == "ABS_OUTSIDE":
        return str(outside / "x.safetensors")
    if value == "REL_OUTSIDE":
        return os.path.relpath(outside / "x.safetensors", cap)
    return value


def apply_folder_op(cap: Path, base: Path, manifest: dict, op) -> None:
    outside = base / "outside"
    kind = op[0]
    shards = manifest.get("shards")
    entries = shards if isinstance(shards, list) else []
    if kind == "m_set":
        manifest[op[1]] = op[2]
    elif kind == "m_del":
        manifest.pop(op[1], None)
    elif kind in ("s_set", "s_del") and entries:
        entry = entries[op[1] % len(entries)]
        if isinstance(entry, dict):
            if kind == "s_set":
                entry[op[2]] = _shard_name(op[3], cap, outside) if op[2] == "file" else op[3]
            else:
                entry.pop(op[2], None)
    elif kind == "s_list" and isinstance(shards, list):
        how = op[1]
        if how == "dup" and shards:
            shards.append(json.loads(json.dumps(shards[0])))
        elif how in ("pop", "pop0") and shards:
            shards.pop(-1 if how == "pop" else 0)
        elif how == "reverse":
            shards.reverse()
        elif how == "swap" and len(shards) > 1 and all(isinstance(x, dict) for x in shards[:2]):
            shards[0]["file"], shards[1]["file"] = shards[1].get("file"), shards[0].get("file")
        elif how == "clear":
            shards.clear()
        elif how == "junk":
            shards.append("shard-00003.safetensors")
        elif how == "extra":
            shards.append({"file": "shard-00003.safetensors", "start": 6, "stop": 8})
    elif kind in ("meta_set", "meta_del") and isinstance(manifest.get("meta"), dict):
        if kind == "meta_set":
            manifest["meta"][op[1]] = op[2]
        else:
            manifest["meta"].pop(op[1], None)
    elif kind == "file":
        target = cap / f"shard-0000{op[1]}.safetensors"
        if os.path.lexists(target):
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
        how = op[2]
        source = base / "good" / target.name
        if how == "truncate":
            data = source.read_bytes()
            target.write_bytes(data[:int(op[3] * (len(data) - 1))])
        elif how in ("texts", "weights", "layers"):
            shutil.copy(base / how / target.name, target)
        elif how == "symlink_out":
            target.symlink_to(outside / "x.safetensors")
        elif how == "symlink_in":
            shutil.copy(source, cap / "copy.safetensors")
            target.symlink_to("copy.safetensors")
        elif how == "dir":
            target.mkdir()
        elif how == "empty":
            target.write_bytes(b"")
        elif how == "garbage":
            target.write_bytes(bytes(range(256)) * 3)
        elif how == "swap":
            other = base / "good" / f"shard-0000{(op[1] + 1) % 3}.safetensors"
            shutil.copy(other, target)
        elif how == "outside_copy":
            shutil.copy(source, target)  # the same bytes again: harmless
    elif kind == "manifest_file":
        path = cap / "manifest.json"
        how = op[1]
        if how == "symlink_out":
            path.unlink()
            path.symlink_to(outside / "manifest.json")
        elif how == "not_json":
            path.write_text("{\"format\": ")
        elif how == "list":
            path.write_text("[1, 2]")
        elif how == "delete":
            path.unlink()
        elif how == "dir":
            path.unlink()
            path.mkdir()
        elif how == "empty":
            path.write_text("")
        elif how == "deep":
            path.write_text("[" * 100000 + "]" * 100000)
    elif kind == "extra":
        shutil.copy(base / "texts" / "shard-00000.safetensors", cap / op[1])


def _record_safe_open(real):
    def wrapper(path, *args, **kwargs):
        if AUDIT[0]:
            OPENED.append(("safe_open", os.fsdecode(path)))
        return real(path, *args, **kwargs)
    return wrapper


def _outside_reads(cap: Path, base: Path) -> list[str]:
    """Files opened that are capture data (.safetensors, .json) outside ``cap``, or anything in the 'outside' folder."""
    home, outside = os.path.realpath(cap), os.path.realpath(base / "outside")
    bad = []
    for _, path in OPENED:
        real = os.path.realpath(path)
        if real.startswith(outside + os.sep) or (real.endswith((".safetensors", ".json")) and real.startswith(
                os.path.realpath(base) + os.sep) and not real.startswith(home + os.sep)):
            bad.append(path)
    return bad


def _same_as_written(cap: Capture, good: Capture) -> None:
    """A folder that loads holds only what its writer wrote: every example equals the original of its text."""
    by_text = {ex.text: ex for ex in good}
    for ex in cap:
        assert ex.text in by_text, f"an example of another capture was loaded: {ex.text!r}"
        np.testing.assert_array_equal(np.asarray(ex.attentions), by_text[ex.text].attentions)


@fuzz("folders")
@given(ops=st.lists(folder_op, min_size=1, max_size=3))
def test_crafted_capture_folders_load_or_raise_and_never_read_outside(folders, ops):
    import safetensors

    from attnviz.store import CaptureWriter

    base, good = folders
    case = Path(tempfile.mkdtemp(dir=base / "cases"))
    cap = case / "cap"
    shutil.copytree(base / "good", cap)
    manifest = json.loads((cap / "manifest.json").read_text())
    for op in ops:
        if op[0] in ("file", "manifest_file", "extra"):
            if (cap / "manifest.json").is_file() and not (cap / "manifest.json").is_symlink():
                (cap / "manifest.json").write_text(json.dumps(manifest))
            apply_folder_op(cap, base, manifest, op)
            if op[0] == "manifest_file":
                manifest = None
                break
        else:
            apply_folder_op(cap, base, manifest, op)
    if manifest is not None and (cap / "manifest.json").is_file() and not (cap / "manifest.json").is_symlink():
        (cap / "manifest.json").write_text(json.dumps(manifest))
    count("capture folders")
    real_safe_open = safetensors.safe_open
    safetensors.safe_open = _record_safe_open(real_safe_open)
    OPENED.clear()
    AUDIT[0] = True
    try:
        for lazy in (True, False):
            with ours(f"folder {ops!r} load(lazy={lazy})"):
                loaded = attnviz.load(cap, lazy=lazy)
                for ex in loaded:
                    ex.attentions[0]
                _same_as_written(loaded, good)
        with ours(f"folder {ops!r} resume"):
            CaptureWriter(cap, texts=FOLDER_TEXTS, meta=good.provenance(), shard_size=2)
    finally:
        AUDIT[0] = False
        safetensors.safe_open = real_safe_open
    bad = _outside_reads(cap, base)
    COUNTS["reads outside the folder"] = COUNTS.get("reads outside the folder", 0) + len(bad)
    assert not bad, f"{ops!r} read outside the folder: {bad}"
    shutil.rmtree(case, ignore_errors=True)


def test_the_audit_sees_safetensors_reads(folders):
    """The read check can fail: a plain load of a file in 'outside' is recorded."""
    import safetensors

    base, _ = folders
    real = safetensors.safe_open
    safetensors.safe_open = _record_safe_open(real)
    OPENED.clear()
    AUDIT[0] = True
    try:
        attnviz.load(base / "outside")
    finally:
        AUDIT[0] = False
        safetensors.safe_open = real
    assert len(_outside_reads(base / "good", base)) >= 4  # the manifest and three shards
