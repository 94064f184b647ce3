"""Arguments and helpers shared by the subcommands: model, texts, output.

Example:
    >>> import argparse
    >>> p = argparse.ArgumentParser(); add_input_args(p)
    >>> texts_from(p.parse_args(["--text", "a", "--text", "b"]))
    ['a', 'b']
"""
from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path
from typing import Any

from attnviz.capture import check_kind
from attnviz.modeling import default_model_path, load_model


def add_input_args(parser: argparse.ArgumentParser, *, texts: bool = True, images: bool = False) -> None:
    """Add ``--model`` (default: the packaged MiniLM) and ``--text``/``--data``; with ``images=True``
    also ``--image PATH`` (repeatable) and ``--images DIR`` (a vision model's inputs, or with texts a
    vision-language model's: one image per text).

    Example:
        >>> p = argparse.ArgumentParser(); add_input_args(p, images=True)
        >>> a = p.parse_args(["--image", "cat.png", "--image", "dog.jpg"]); a.model, a.image
        (None, ['cat.png', 'dog.jpg'])
    """
    parser.add_argument("--model", metavar="PATH", default=None,
                        help="local model folder (default: the packaged all-MiniLM-L6-v2)")
    if texts:
        parser.add_argument("--text", action="append", metavar="TEXT", default=None,
                            help="an input text; repeat for several")
        parser.add_argument("--data", metavar="FILE", default=None,
                            help="a text file (one text per line), CSV or JSONL with a 'text' column")
        add_batch_args(parser)
    if images:
        parser.add_argument("--image", action="append", metavar="PATH", default=None,
                            help="an input image file (a vision model, or with --text a vision-language "
                                 "model: one image per text); repeat for several")
        parser.add_argument("--images", metavar="DIR", default=None,
                            help="a folder of images (.png, .jpg, ...), read in name order, after any --image")


def images_from(args: argparse.Namespace) -> list[str]:
    """The image paths of ``--image`` (repeatable) and ``--images DIR`` (its image files by name); [] for none.

    Example:
        >>> images_from(argparse.Namespace(image=None, images=None))
        []
        >>> images_from(argparse.Namespace(image=None, images="/no/such/dir"))
        Traceback (most recent call last):
        FileNotFoundError: --images /no/such/dir is not a folder: pass a folder of image files
    """
    from attnviz.extraction.images import IMAGE_SUFFIXES

    paths = list(getattr(args, "image", None) or [])
    folder = getattr(args, "images", None)
    if folder:
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"--images {folder} is not a folder: pass a folder of image files")
        found = sorted(str(p) for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise ValueError(f"--images {folder} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        paths += found
    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"--image {path}: no such file; check the path")
    return paths


def add_batch_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--text-column``, ``--batch-size`` (default 8) and ``--max-length`` (default: none).

    Example:
        >>> p = argparse.ArgumentParser(); add_batch_args(p)
        >>> p.parse_args(["--batch-size", "2"]).batch_size
        2
    """
    parser.add_argument("--text-column", default="text", help="column of --data holding the texts")
    parser.add_argument("--batch-size", type=positive_int, default=8, help="texts per forward pass (default 8)")
    parser.add_argument("--max-length", type=positive_int, default=None, help="truncate longer inputs to N tokens")


def add_subcommand(subparsers, name: str, *, help: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """Add the subcommand ``name``; ``epilog`` (its examples) is printed as written.

    Example:
        >>> sub = argparse.ArgumentParser().add_subparsers()
        >>> add_subcommand(sub, "x", help="h", description="d", epilog="e").prog.endswith(" x")
        True
    """
    return subparsers.add_parser(name, help=help, description=description, epilog=epilog,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)


def model_from(args: argparse.Namespace, **kwargs: Any):
    """``(model, tokenizer)`` for ``--model`` (the packaged MiniLM when not given).

    Example:
        >>> model_from(argparse.Namespace(model="/no/such/dir"))  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        FileNotFoundError: no model at /no/such/dir ...
    """
    path = args.model or default_model_path()
    return load_model(path, **kwargs)


def texts_from(args: argparse.Namespace, *, default: list[str] | None = None) -> list[str]:
    """The texts of ``--text`` (repeatable) or ``--data FILE``.

    A .csv/.jsonl file gives its ``--text-column``; any other file one text per
    non-empty line.

    Example:
        >>> texts_from(argparse.Namespace(text=["x"], data=None))
        ['x']
    """
    texts = list(args.text or [])
    data = getattr(args, "data", None)
    if data:
        texts += read_texts(data, getattr(args, "text_column", "text"))
    if not texts:
        if default is not None:
            return default
        raise ValueError('no input text: pass --text "some text" (repeatable) or --data FILE')
    for i, t in enumerate(texts):
        if not t.strip():
            raise ValueError(f"text {i + 1} is empty: give --text some words")
    return texts


def read_texts(path: str | os.PathLike, column: str = "text") -> list[str]:
    """Texts from a .txt (one per line), .csv or .jsonl file (see attnviz.metrics.sources).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.txt"; _ = p.write_text("a\\n\\nb\\n")
        >>> read_texts(p)
        ['a', 'b']
    """
    from attnviz.data.files import iter_file_texts

    return list(iter_file_texts(Path(path), column))


def output_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) if needed and return it.

    Example:
        >>> import tempfile, pathlib
        >>> output_dir(pathlib.Path(tempfile.mkdtemp()) / "a" / "b").is_dir()
        True
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"--out {path} is a file, not a folder: pass a folder path")
    path.mkdir(parents=True, exist_ok=True)
    return path


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1, with a message that says so.

    Example:
        >>> positive_int("3")
        3
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number: give an integer of at least 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small: give an integer of at least 1")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0.

    Example:
        >>> positive_float("2.5")
        2.5
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number: give a number above 0") from None
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text} is not a number above 0: give a positive number")
    return value


def check_output_dir(path: str | os.PathLike) -> Path:
    """Check (without creating it) that ``--out`` can be a folder; return it as a Path.

    Example:
        >>> check_output_dir("no-such-folder-yet").name
        'no-such-folder-yet'
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"--out {path} is a file, not a folder: pass a folder path")
    return path


def check_layer_head(model: Any, *, layer: int | None = None, head: Any = None,
                     layers: list[int] | None = None, heads: list[int] | None = None,
                     kind: str = "self") -> None:
    """Check ``--layer``/``--head`` (and ``--layers``/``--heads``) against the model's config,
    before any text is run: a clear error in a second instead of after the extraction.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> check_layer_head(tiny_model("bert")[0], layer=5)
        Traceback (most recent call last):
        ValueError: layer 5 is out of range (--layer): this model has 2 layer(s), numbered 0 to 1
    """
    from attnviz.families import model_dims

    dims = model_dims(model.config)
    n_layers = dims["decoder_layers"] if check_kind(kind) != "self" and dims["decoder_layers"] else dims["layers"]
    n_heads = dims["heads"]
    checks = [("--layer", [layer] if layer is not None else [], n_layers, "layer"),
              ("--layers", layers or [], n_layers, "layer"),
              ("--head", [head] if isinstance(head, int) else [], n_heads, "head"),
              ("--heads", heads or [], n_heads, "head")]
    for flag, values, total, what in checks:
        for v in values:
            if v < 0 or (total is not None and v >= total):
                upper = f", numbered 0 to {total - 1}" if total else ""
                raise ValueError(f"{what} {v} is out of range ({flag}): this model has {total} {what}(s){upper}")


def show_warnings_briefly() -> None:
    """Print warnings as one line each (no source line) on the terminal.

    Example:
        >>> show_warnings_briefly()
    """
    warnings.formatwarning = lambda msg, cat, *a, **k: f"attnviz: warning: {msg}\n"


# --- what to keep, and reading a saved capture instead of running the model ------------------
def int_list(text: str) -> list[int]:
    """Parse "0,2,5-7" into [0, 2, 5, 6, 7] (layers, heads).

    Example:
        >>> int_list("0,2,5-7")
        [0, 2, 5, 6, 7]
    """
    out: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                out.extend(range(int(lo), int(hi) + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of numbers: write e.g. 0,2,4 or 0-3") from None
    if not out:
        raise argparse.ArgumentTypeError("empty list: write e.g. 0,2,4 or 0-3")
    return out


def query_spec(text: str) -> str | list[int] | slice:
    """Parse ``--queries``: "last", a comma list of positions (negative from the end) or start:stop.

    Example:
        >>> query_spec("last"), query_spec("0,-1"), query_spec("2:"), query_spec("-3:")
        ('last', [0, -1], slice(2, None, None), slice(-3, None, None))
    """
    text = text.strip()
    if text == "last":
        return "last"
    try:
        if ":" in text:
            start, stop = (p.strip() for p in text.split(":", 1))
            return slice(int(start) if start else None, int(stop) if stop else None)
        positions = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        positions = []
    if not positions and ":" not in text:
        raise argparse.ArgumentTypeError(f"--queries {text!r}: write last, a list of positions such as 0,-1 "
                                         "(negative counts from the end), or start:stop such as 0:8")
    return positions


LAYERS_HELP = "keep only these layers, e.g. 0,2,4 or 0-3 (default: all)"
HEADS_HELP = "keep only these heads, e.g. 0-5 (default: all)"


def add_layers_heads(parser: argparse.ArgumentParser, layers_help: str = LAYERS_HELP,
                     heads_help: str = HEADS_HELP) -> None:
    """Add ``--layers`` and ``--heads`` (lists such as 0,2,4 or 0-3; default None: all).

    Example:
        >>> p = argparse.ArgumentParser(); add_layers_heads(p)
        >>> p.parse_args(["--heads", "1-2"]).heads
        [1, 2]
    """
    parser.add_argument("--layers", type=int_list, default=None, metavar="LIST", help=layers_help)
    parser.add_argument("--heads", type=int_list, default=None, metavar="LIST", help=heads_help)


def add_selection_args(parser: argparse.ArgumentParser, *, layers: bool = True, queries: bool = True,
                       sources: bool = True, layers_help: str | None = None, heads_help: str | None = None) -> None:
    """Add ``--layers``/``--heads`` (unless the subcommand has its own; ``layers_help``/``heads_help``
    say what they mean there), ``--queries``, and (unless ``sources`` is False) ``--capture``, ``--save-capture``.

    Example:
        >>> p = argparse.ArgumentParser(); add_input_args(p); add_selection_args(p)
        >>> a = p.parse_args(["--layers", "0-2", "--queries", "last"]); a.layers, a.queries
        ([0, 1, 2], 'last')
    """
    if layers:
        add_layers_heads(parser, layers_help or LAYERS_HELP, heads_help or HEADS_HELP)
    if queries:
        parser.add_argument("--queries", type=query_spec, default=None, metavar="SPEC",
                            help="keep only some query rows: last, positions such as 0,-1, or start:stop")
    if not sources:
        return
    parser.add_argument("--capture", metavar="FILE|DIR", default=None,
                        help="read a saved capture (a .safetensors file or a capture folder) instead of "
                             "running the model; only what is shown is read from disk")
    parser.add_argument("--save-capture", metavar="DIR", default=None,
                        help="write the capture to this folder while extracting (resumes a folder of the "
                             "same texts; refuses one of other texts)")


def example_capture(args: argparse.Namespace, *, check: Any = None, **options: Any):
    """:func:`capture_from_args` for a command that shows one text (``--example``, ``--decoder-text``).

    ``--example`` is checked against the texts before the model loads and against the capture
    after; ``--decoder-text`` goes to :func:`attnviz.extract` as ``decoder_texts``.

    Example:
        >>> example_capture(argparse.Namespace(capture=None, text=["a"], data=None, example=1))
        Traceback (most recent call last):
        ...
        ValueError: --example 1 is out of range: 1 text(s) given, so use 0 to 0
    """
    if not args.capture:
        images = images_from(args)
        inputs = texts_from(args) if not images or args.text or getattr(args, "data", None) else images
        what = "text(s)" if inputs is not images else "image(s)"
        if not 0 <= args.example < len(inputs):
            raise ValueError(f"--example {args.example} is out of range: {len(inputs)} {what} given, "
                             f"so use 0 to {len(inputs) - 1}")
    if getattr(args, "decoder_text", None):
        options["decoder_texts"] = args.decoder_text
    cap = capture_from_args(args, check=check, **options)
    if not 0 <= args.example < len(cap):
        raise ValueError(f"--example {args.example} is out of range: the capture has {len(cap)} example(s), "
                         f"so use 0 to {len(cap) - 1}")
    return cap


def capture_from_args(args: argparse.Namespace, *, check: Any = None, **options: Any):
    """The Capture to work on: ``--capture`` opened lazily, or the model run on the texts.

    ``--layers``/``--heads``/``--queries`` go to :func:`attnviz.extract`; with ``--capture`` the
    layers and heads asked for must be in the capture. ``check(model)`` runs once the model is
    loaded, before any text is (e.g. :func:`check_layer_head`).

    Example:
        >>> capture_from_args(argparse.Namespace(capture="/no/such/cap"))  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        FileNotFoundError: no capture file at /no/such/cap ...
    """
    import attnviz

    layers, heads = getattr(args, "layers", None), getattr(args, "heads", None)
    if getattr(args, "capture", None):
        given = [flag for flag, name in (("--text", "text"), ("--data", "data"), ("--model", "model"),
                                         ("--image", "image"), ("--images", "images"),
                                         ("--queries", "queries"), ("--save-capture", "save_capture"),
                                         ("--decoder-text", "decoder_text")) if getattr(args, name, None)]
        if given:
            raise ValueError(f"--capture reads a saved capture, so {', '.join(given)} cannot apply: drop them, "
                             "or drop --capture to run the model")
        cap = attnviz.load(args.capture, lazy=True)
        for layer in layers or ():
            cap.layer_position(layer)  # a clear error naming the capture's layers
        for head in heads or ():
            cap.head_position(head)
        return cap
    images = images_from(args)
    if images:
        return _capture_of_images(args, images, check, layers, heads, options)
    texts = texts_from(args)
    model, tok = model_from(args)
    if check is not None:
        check(model)
    return attnviz.extract(model, texts, batch_size=args.batch_size, max_length=args.max_length,
                           layers=layers, heads=heads, queries=getattr(args, "queries", None),
                           out=getattr(args, "save_capture", None), **options, tokenizer=tok)


def _capture_of_images(args: argparse.Namespace, images: list[str], check: Any, layers: Any, heads: Any,
                       options: dict) -> Any:
    """:func:`capture_from_args` for ``--image``/``--images``: a vision model, or with texts a vision-language one."""
    from attnviz.extraction.images import extract_images, load_image_model, model_modality

    if not args.model:
        raise ValueError("--image/--images need --model: the folder of a vision model (ViT, DeiT, DINOv2, CLIP, "
                         "SigLIP) or of a vision-language model, with its processor saved beside it")
    texts = texts_from(args) if getattr(args, "text", None) or getattr(args, "data", None) else None
    if model_modality(args.model) == "text":
        raise ValueError(f"--model {args.model} is a text model: --image/--images need a vision or "
                         "vision-language model")
    model = load_image_model(args.model)
    if check is not None:
        check(model)
    options = {k: v for k, v in options.items() if k != "decoder_texts"}
    common = dict(batch_size=args.batch_size, layers=layers, heads=heads, queries=getattr(args, "queries", None),
                  out=getattr(args, "save_capture", None), **options)
    return extract_images(model, images, texts=texts, **common)


# --- engine: this process or a Ray cluster -----------------------------------------------------
def add_engine_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--engine local|ray``, ``--address``, ``--num-workers`` and ``--gpus-per-worker``.

    Example:
        >>> p = argparse.ArgumentParser(); add_engine_args(p)
        >>> engine_options(p.parse_args(["--engine", "ray", "--num-workers", "4", "--gpus-per-worker", "1"]))
        {'engine': 'ray', 'num_workers': 4, 'worker_resources': {'num_gpus': 1.0}, 'address': None}
    """
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="local: this process (default); ray: Ray workers that each load the model once "
                             "(pip install 'attnviz[ray]')")
    parser.add_argument("--address", default=None,
                        help="Ray cluster to join: auto (started here with `ray start --head`) or "
                             "ray://HOST:10001 (default: a local Ray)")
    parser.add_argument("--num-workers", type=int, default=None, metavar="N",
                        help="Ray workers (default: as many as the cluster holds)")
    parser.add_argument("--gpus-per-worker", type=float, default=None, metavar="G",
                        help="GPUs per Ray worker, e.g. 1 or 0.5 (default: none, one CPU each)")


def engine_options(args: argparse.Namespace) -> dict:
    """Keyword arguments for ``dataset_stats`` / ``extract_dataset`` from the engine flags.

    Example:
        >>> engine_options(argparse.Namespace(engine="local", address=None, num_workers=None, gpus_per_worker=None))
        {'engine': 'local'}
    """
    ray_flags = [flag for flag, value in (("--address", args.address), ("--num-workers", args.num_workers),
                                          ("--gpus-per-worker", args.gpus_per_worker)) if value is not None]
    if args.engine == "local":
        if ray_flags:
            raise ValueError(f"{', '.join(ray_flags)} only apply with --engine ray: add it, or drop them")
        return {"engine": "local"}
    if args.num_workers is not None and args.num_workers < 1:
        raise ValueError(f"--num-workers must be at least 1, got {args.num_workers}")
    resources = {"num_gpus": float(args.gpus_per_worker)} if args.gpus_per_worker else None
    return {"engine": "ray", "num_workers": args.num_workers, "worker_resources": resources, "address": args.address}
