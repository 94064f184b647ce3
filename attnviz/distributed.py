"""Data-set statistics on a Ray cluster (``dataset_stats(..., engine="ray")``).

The driver reads the texts (a list, a file, a ``datasets.Dataset`` or a
``ray.data.Dataset``) and cuts them into numbered chunks of ``batch_size *
WINDOW_BATCHES`` texts, the very windows the local engine uses. Ray Data sends the
chunks to ``num_workers`` actors (``map_batches`` with a class): each actor loads the
model once, from a folder every node can read, and turns each chunk into partial
statistics (count, mean and sum of squared deviations per layer x head, see
:class:`~attnviz.metrics.online.RunningStats`). The driver keeps one partial per chunk
id and merges them with Chan's formula, in chunk order, so the result equals the local
engine up to float64 rounding, however the chunks were spread over the workers.

Faults: Ray Data restarts an actor whose process died and retries its task; a chunk
whose partial arrives twice is counted once (partials are keyed by chunk id).

Memory: the driver holds the texts (numbered chunks of strings, about 100 MB per 10^6
short texts) and the partials (a few layer x head arrays per chunk), never an attention
map; each worker holds one chunk's maps at a time.

Ray is an optional extra: ``pip install 'attnviz[ray]'``.

Example:
    >>> from attnviz.metrics import dataset_stats
    >>> from attnviz.testing import tiny_model
    >>> model, tok = tiny_model("bert")
    >>> stats = dataset_stats(model, ["a text", "another text"], engine="ray",
    ...                       num_workers=1, progress=False, tokenizer=tok)  # doctest: +SKIP
    >>> stats.num_examples  # doctest: +SKIP
    2
"""
from __future__ import annotations

__all__ = ["ENGINES", "extract_dataset", "model_folder", "ray_dataset_stats", "require_ray", "start_ray"]

import contextlib
import itertools
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from attnviz.modeling import ModelLike, Tokenizer, model_data_call

ENGINES = ("local", "ray")
RAY_EXTRA = "engine='ray' needs Ray: pip install 'attnviz[ray]' (it installs ray[data])"


def require_ray():
    """Import and return ``ray``, or fail with one line naming the extra to install.

    Example:
        >>> require_ray().__name__  # doctest: +SKIP
        'ray'
    """
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ImportError(RAY_EXTRA) from None
    return ray


def check_engine(engine: str) -> str:
    """``engine`` if it is "local" or "ray", else a ValueError naming the choices.

    Example:
        >>> check_engine("ray")
        'ray'
    """
    if engine not in ENGINES:
        raise ValueError(f"engine={engine!r} is not supported: use 'local' (one process, the default) or 'ray'")
    return engine


def start_ray(address: str | None = None, **init_kwargs: Any):
    """Connect to Ray: the running session if any, else ``ray.init(address=address)``.

    ``address=None`` starts (or joins, with ``RAY_ADDRESS`` set) a local Ray;
    ``"auto"`` joins the cluster started on this machine with ``ray start``; a
    ``"ray://host:10001"`` address connects a client to a remote head node. Ray stays up
    for later calls; ``ray.shutdown()`` stops it.

    Example:
        >>> start_ray(num_cpus=2)  # doctest: +SKIP
    """
    ray = require_ray()
    if not ray.is_initialized():
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # a local Ray's workers inherit it
        init_kwargs.setdefault("log_to_driver", False)
        ray.init(address=address, **init_kwargs)
    return ray


@contextlib.contextmanager
def model_folder(model: Any, tokenizer: Any) -> Iterator[tuple[str, str | None, str]]:
    """``(model folder, tokenizer folder or None, display name)`` for workers to load from.

    A path is used as it is (on a cluster it must be readable on every node). A model
    object is saved to a temporary folder for the time of the run (with its tokenizer),
    which only a Ray on this machine can read: on a cluster, pass a shared path.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> with model_folder(*tiny_model("bert")) as (path, tok, name):
        ...     (Path(path) / "config.json").exists(), tok == path
        (True, True)
    """
    if isinstance(model, (str, os.PathLike)):
        path = Path(model).expanduser()
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"no model folder at {path}: engine='ray' loads the model in each worker "
                                    "from a folder written by save_pretrained() (with config.json)")
        with contextlib.ExitStack() as stack:
            tok_dir = None
            if tokenizer is not None:
                tok_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="attnviz-tok-"))
                tokenizer.save_pretrained(tok_dir)
            yield str(path), tok_dir, str(path)
        return
    name = str(getattr(model, "name_or_path", "") or type(model).__name__)
    with tempfile.TemporaryDirectory(prefix="attnviz-model-") as tmp:
        model.save_pretrained(tmp)
        if tokenizer is None:
            from attnviz.modeling import tokenizer_for

            tokenizer = tokenizer_for(model)
        tokenizer.save_pretrained(tmp)
        yield tmp, tmp, name


def _chunks(texts: Iterator[str], size: int) -> Iterator[dict]:
    for k in itertools.count():
        chunk = list(itertools.islice(texts, size))
        if not chunk:
            return
        yield {"chunk": k, "texts": chunk}


def _worker_model(model_dir: str, tokenizer_dir: str | None, device: str | None):
    """(model, tokenizer) of a Ray worker: loaded once from the folders, on ``device`` (default: cuda if any)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from attnviz.modeling import load_model

    hf_logging.set_verbosity_error()
    model: Any
    model, tok = load_model(model_dir)   # Any: transformers types .to() with a wrapper mypy cannot call
    if tokenizer_dir is not None:
        tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else None
    return (model.to(device) if device else model), tok


class StatsWorker:
    """A Ray Data actor: loads the model once, turns chunks of texts into partial statistics.

    Each input row is ``{"chunk": id, "texts": [...]}``; each output row holds the
    chunk id, its number of texts (``seen``), of truncated texts (``cut``), and per
    statistic ``count:<m>``, ``mean:<m>`` and ``m2:<m>`` (see RunningStats.state).
    The same chunk always gives the same row, so a retried chunk is harmless.
    """

    def __init__(self, model_dir: str, tokenizer_dir: str | None, metrics: tuple[str, ...], batch_size: int,
                 max_length: int | None, device: str | None = None, custom: dict | None = None) -> None:
        from attnviz.modeling import max_positions

        if custom:  # statistics registered in the driver travel with the task (cloudpickled functions)
            from attnviz.metrics.definitions import install

            install(custom)

        model, tok = _worker_model(model_dir, tokenizer_dir, device)
        self.model, self.tokenizer, self.metrics, self.batch_size = model, tok, tuple(metrics), batch_size
        self.limit = max_length or max_positions(model, tok)
        self.pid = os.getpid()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import time

        from attnviz.metrics.stream import Stream

        rows, cpu = [], []
        for chunk, texts in zip(batch["chunk"], batch["texts"], strict=True):
            started = time.process_time()
            stream = Stream(self.model, self.tokenizer, self.metrics, self.limit)
            with stream.mode:  # layer by layer under the attnviz attention, restored after
                for _ in stream.run_window([str(t) for t in texts], self.batch_size):
                    pass
            rows.append((int(chunk), stream))
            cpu.append(time.process_time() - started)
        out: dict[str, Any] = {"chunk": np.array([c for c, _ in rows], np.int64),
                               "seen": np.array([s.seen for _, s in rows], np.int64),
                               "cut": np.array([s.cut_texts for _, s in rows], np.int64),
                               "pid": np.array([self.pid] * len(rows), np.int64),
                               "peak_mib": np.array([_peak_mib()] * len(rows), np.float64),
                               "cpu_s": np.array(cpu, np.float64)}
        for m in self.metrics:
            states = [s.running()[m].state() for _, s in rows]
            out[f"count:{m}"] = np.array([c for c, _, _ in states], np.int64)
            out[f"mean:{m}"] = np.stack([mean for _, mean, _ in states])
            out[f"m2:{m}"] = np.stack([m2 for _, _, m2 in states])
        return out


def _peak_mib() -> float:
    """This process's peak resident memory so far, in MiB (0 where unknown)."""
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except (ImportError, OSError):  # pragma: no cover
        return 0.0


def _worker_args(worker_resources: dict | None) -> tuple[dict, float]:
    resources = dict(worker_resources or {})
    known = {"num_cpus", "num_gpus", "memory", "resources", "accelerator_type"}
    unknown = sorted(set(resources) - known)
    if unknown:
        raise ValueError(f"worker_resources has unknown key(s) {', '.join(unknown)}: use "
                         f"{', '.join(sorted(known))} (as in ray.remote)")
    resources.setdefault("num_cpus", 1)
    return resources, float(resources.get("num_gpus", 0) or 0)


def default_workers(ray: Any, resources: dict) -> int:
    """Actors the cluster can hold at once with ``resources`` each (at least 1).

    Example:
        >>> default_workers(require_ray(), {"num_cpus": 1})  # doctest: +SKIP
        2
    """
    total = ray.cluster_resources()
    gpus = float(resources.get("num_gpus", 0) or 0)
    if gpus:
        return max(1, int(total.get("GPU", 0) // gpus))
    return max(1, int(total.get("CPU", 1) // float(resources.get("num_cpus", 1) or 1)))


@contextlib.contextmanager
def _quiet_ray_data(ray: Any):
    """No Ray Data progress bars or per-dataset log lines (attnviz shows its own bar)."""
    import logging

    ctx = ray.data.DataContext.get_current()
    logger = logging.getLogger("ray.data")
    saved = ctx.enable_progress_bars, logger.level
    ctx.enable_progress_bars = False
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        ctx.enable_progress_bars = saved[0]
        logger.setLevel(saved[1])


def ray_dataset_stats(model: Any, tokenizer: Any, data: Any, *, batch_size: int, metrics: tuple[str, ...],
                      max_length: int | None, text_column: str, progress: bool | None,
                      num_workers: int | None = None, worker_resources: dict | None = None,
                      address: str | None = None):
    """The Ray engine of :func:`~attnviz.metrics.dataset_stats` (see there and this module's notes).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> s = ray_dataset_stats(*tiny_model("bert"), ["a b"], batch_size=4, metrics=("cls",),
        ...                       max_length=None, text_column="text", progress=False)  # doctest: +SKIP
    """
    ray = require_ray()
    from tqdm.auto import tqdm

    from attnviz.metrics.definitions import custom_metrics
    from attnviz.metrics.online import RunningStats
    from attnviz.metrics.sources import iter_texts
    from attnviz.metrics.stats import HeadStats
    from attnviz.metrics.stream import WINDOW_BATCHES

    if num_workers is not None and num_workers < 1:
        raise ValueError(f"num_workers must be at least 1, got {num_workers}")
    resources, gpus = _worker_args(worker_resources)
    texts, total = iter_texts(data, text_column=text_column)
    chunks = list(_chunks(texts, batch_size * WINDOW_BATCHES))
    if not chunks:
        raise ValueError("no texts to compute statistics on: pass at least one non-empty text")
    start_ray(address)
    workers = min(num_workers or default_workers(ray, resources), len(chunks))
    parts: dict[int, dict] = {}
    with model_folder(model, tokenizer) as (model_dir, tok_dir, name), _quiet_ray_data(ray):
        ds = ray.data.from_items(chunks, override_num_blocks=len(chunks))
        out = ds.map_batches(StatsWorker, batch_size=1, batch_format="numpy",
                             compute=ray.data.ActorPoolStrategy(size=workers),
                             fn_constructor_kwargs=dict(model_dir=model_dir, tokenizer_dir=tok_dir, metrics=metrics,
                                                        batch_size=batch_size, max_length=max_length,
                                                        device="cuda" if gpus else None,
                                                        custom=custom_metrics(metrics)),
                             **resources)
        n = sum(len(c["texts"]) for c in chunks)
        with tqdm(total=n, desc="dataset_stats (ray)", unit="text", leave=False,
                  disable=progress is False if progress is not None else None) as bar:
            for row in out.iter_rows():
                chunk = int(row["chunk"])
                if chunk not in parts:  # a retried chunk counts once
                    parts[chunk] = row
                    bar.update(int(row["seen"]))
    missing = sorted(set(range(len(chunks))) - set(parts))
    if missing:
        raise RuntimeError(f"{len(missing)} chunk(s) came back from no worker (first: {missing[0]}): rerun")
    accs = None
    seen = cut = 0
    for k in range(len(chunks)):
        row = parts[k]
        seen += int(row["seen"])
        cut += int(row["cut"])
        part = {m: RunningStats.from_state(row[f"count:{m}"], row[f"mean:{m}"], row[f"m2:{m}"]) for m in metrics}
        if accs is None:
            accs = part
        else:
            for m in metrics:
                accs[m].merge(part[m])
    assert accs is not None, "chunks is not empty"
    if cut:
        limit = max_length if max_length else "the model's maximum"
        warnings.warn(f"{cut} of {seen} text(s) were longer than {limit} tokens and were truncated; pass a "
                      "larger max_length if the model allows it, or shorten them", UserWarning, stacklevel=3)
    layers, heads = np.shape(next(iter(accs.values())).mean)
    stats = HeadStats(values={m: a.result for m, a in accs.items()}, std={m: a.std for m, a in accs.items()},
                      counts={m: a.count for m, a in accs.items()}, layers=list(range(layers)),
                      heads=list(range(heads)), num_examples=seen, kind="self", model_name=name)
    peaks: dict[int, float] = {}
    for p in parts.values():
        peaks[int(p["pid"])] = max(peaks.get(int(p["pid"]), 0.0), float(p["peak_mib"]))
    stats.extra["engine"] = {"name": "ray", "workers": workers, "chunks": len(chunks),
                             "worker_pids": sorted(peaks), "worker_peak_mib": peaks,
                             "worker_cpu_s": float(sum(float(p["cpu_s"]) for p in parts.values()))}
    return stats


# --- extract_dataset -------------------------------------------------------------------------
#: extract() options extract_dataset passes on (texts only: no pairs or decoder targets).
EXTRACT_OPTIONS = ("batch_size", "max_length", "layers", "heads", "hidden_states", "dtype", "padding_side",
                   "queries", "reduce_heads")


@model_data_call("data", none_is_data=True)
def extract_dataset(model: ModelLike, data: Any, out: str | os.PathLike, *, tokenizer: Tokenizer = None,
                    engine: str = "local", shard_size: int = 32, text_column: str = "text",
                    progress: bool | None = None, num_workers: int | None = None,
                    worker_resources: dict | None = None, address: str | None = None, **extract_options: Any):
    """Extract a capture of every text of ``data`` into the capture folder ``out``; resumable.

    ``out`` becomes a capture folder (:mod:`attnviz.store`): ``manifest.json`` plus one
    safetensors shard per ``shard_size`` texts, in the input order. Each shard is written
    atomically as soon as it is computed and recorded in the manifest, so after a crash (of
    the driver or a worker) the finished shards stay usable and running the same call again
    computes only the missing ones. The result is ``attnviz.load(out, lazy=True)``: one lazy
    Capture over all shards.

    Args:
        model: a model folder (what every Ray node loads) or a loaded model.
        data: texts: a list, a .txt/.csv/.jsonl/.parquet file, a ``datasets.Dataset`` or a
            ``ray.data.Dataset`` (read into the driver: the texts' digest names the capture).
        out: the capture folder (new, empty, or one this call started before).
        tokenizer: the tokenizer (default: saved beside the model).
        engine: "local" (this process) or "ray" (Ray Data actors that each load the model
            once and write whole shards into ``out``, which must then be on storage every
            node can write: a shared file system).
        shard_size: texts per shard (a resumed folder keeps its own).
        num_workers / worker_resources / address: as for :func:`~attnviz.metrics.dataset_stats`.
        **extract_options: passed to :func:`attnviz.extract` (``layers``, ``heads``,
            ``queries``, ``reduce_heads``, ``hidden_states``, ``dtype``, ``batch_size``, ...).

    Example:
        >>> import tempfile, pathlib, attnviz
        >>> from attnviz.testing import tiny_model
        >>> folder = pathlib.Path(tempfile.mkdtemp()) / "caps"
        >>> cap = attnviz.extract_dataset(tiny_model("bert")[0], ["the cat sat", "a dog", "hello"],
        ...                               folder, tokenizer=tiny_model("bert")[1], shard_size=2, progress=False)
        >>> len(cap), sorted(p.name for p in folder.iterdir())
        (3, ['manifest.json', 'shard-00000.safetensors', 'shard-00001.safetensors'])
    """
    from attnviz.metrics.sources import iter_texts

    check_engine(engine)
    unknown = sorted(set(extract_options) - set(EXTRACT_OPTIONS))
    if unknown:
        raise TypeError(f"extract_dataset got unknown option(s) {', '.join(unknown)}: it passes on "
                        f"{', '.join(EXTRACT_OPTIONS)} to extract()")
    texts = list(iter_texts(data, text_column=text_column)[0])
    if not texts:
        raise ValueError("no texts to extract: pass at least one non-empty text")
    if engine == "local":
        from attnviz.extraction.extract import extract

        return extract(model, texts, out=out, shard_size=shard_size, progress=progress,
                       **extract_options, tokenizer=tokenizer)
    return _ray_extract(model, tokenizer, texts, out, shard_size=shard_size, progress=progress,
                        num_workers=num_workers, worker_resources=worker_resources, address=address,
                        options=extract_options)


def _settings(model_dir: str, name: str, options: dict) -> dict:
    """What a resumed folder must agree with (see CaptureWriter.check_settings), from the config alone."""
    from transformers import AutoConfig

    from attnviz.extraction.inputs import select_indices
    from attnviz.extraction.streaming import query_spec_json
    from attnviz.families import model_dims

    dims = model_dims(AutoConfig.from_pretrained(model_dir))
    layers = select_indices(options.get("layers"), dims["layers"], "layer")
    heads = select_indices(options.get("heads"), dims["heads"], "head")
    return {"model_name": name, "dtype": options.get("dtype", "float32"), "reduce_heads": options.get("reduce_heads"),
            "queries": query_spec_json(options.get("queries")),
            "layers": layers or (list(range(dims["layers"])) if dims["layers"] else None),
            "heads": heads or (list(range(dims["heads"])) if dims["heads"] else None)}


def _fingerprint(model: Any, model_dir: str) -> str:
    """The model's :func:`~attnviz.modeling.model_fingerprint`; a model given as a folder is loaded once, here."""
    from attnviz.modeling import load_model, model_fingerprint

    if not isinstance(model, (str, os.PathLike)):
        return model_fingerprint(model)
    loaded = load_model(model_dir)[0]
    try:
        return model_fingerprint(loaded)
    finally:
        del loaded


class ExtractWorker:
    """A Ray Data actor: loads the model once; extracts whole shards and writes them into the folder.

    Input rows ``{"shard": k, "texts": [...]}``; output rows: the shard index, its file
    name and size, and the capture's metadata as JSON. Writing a shard twice (a retry)
    writes the same file again, atomically.
    """

    def __init__(self, model_dir: str, tokenizer_dir: str | None, name: str, out: str, options: dict,
                 device: str | None = None, fingerprint: str = "") -> None:
        model, tok = _worker_model(model_dir, tokenizer_dir, device)
        model.name_or_path = name  # provenance names the model, not the temporary folder
        self.model, self.tokenizer, self.out, self.options = model, tok, Path(out), dict(options)
        self.fingerprint = fingerprint  # the driver's (of the model it was given), recorded in every shard

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import json

        from attnviz.extraction.extract import extract

        files, sizes, metas = [], [], []
        for shard, texts in zip(batch["shard"], batch["texts"], strict=True):
            cap = extract(self.model, [str(t) for t in texts], progress=False, **self.options, tokenizer=self.tokenizer)
            cap.model_fingerprint = self.fingerprint or cap.model_fingerprint
            name = f"shard-{int(shard):05d}.safetensors"
            cap.save(self.out / name)
            files.append(name)
            sizes.append((self.out / name).stat().st_size)
            metas.append(json.dumps(cap.provenance(), default=str))
        return {"shard": np.asarray(batch["shard"], np.int64), "file": np.array(files), "bytes": np.array(sizes),
                "meta": np.array(metas)}


def _ray_extract(model: Any, tokenizer: Any, texts: list[str], out: str | os.PathLike, *, shard_size: int,
                 progress: bool | None, num_workers: int | None, worker_resources: dict | None,
                 address: str | None, options: dict):
    import json

    from tqdm.auto import tqdm

    from attnviz.store import CaptureWriter, check_shard, load, open_capture, shard_file, texts_digest

    ray = require_ray()
    if num_workers is not None and num_workers < 1:
        raise ValueError(f"num_workers must be at least 1, got {num_workers}")
    resources, gpus = _worker_args(worker_resources)
    writer = CaptureWriter(out, texts=texts, shard_size=shard_size)
    out_dir = str(Path(out).resolve())
    with model_folder(model, tokenizer) as (model_dir, tok_dir, name):
        fingerprint = _fingerprint(model, model_dir)
        writer.check_settings({**_settings(model_dir, name, options), "model_fingerprint": fingerprint})
        todo: list[dict[str, Any]] = [{"shard": k, "texts": texts[slice(*writer.shard_range(k))]}
                for k in range(writer.num_shards) if not writer.done(k)]
        if todo:
            start_ray(address)
            workers = min(num_workers or default_workers(ray, resources), len(todo))
            with _quiet_ray_data(ray), tqdm(total=len(texts), initial=len(texts) - sum(len(t["texts"]) for t in todo),
                                            desc="extract_dataset (ray)", unit="text", leave=False,
                                            disable=progress is False if progress is not None else None) as bar:
                ds = ray.data.from_items(todo, override_num_blocks=len(todo))
                done = ds.map_batches(ExtractWorker, batch_size=1, batch_format="numpy",
                                      compute=ray.data.ActorPoolStrategy(size=workers),
                                      fn_constructor_kwargs=dict(model_dir=model_dir, tokenizer_dir=tok_dir, name=name,
                                                                 out=out_dir, options=options, fingerprint=fingerprint,
                                                                 device="cuda" if gpus else None),
                                      **resources)
                for row in done.iter_rows():
                    k = int(row["shard"])
                    if writer.done(k):  # a retried shard: already recorded
                        continue
                    meta = json.loads(str(row["meta"]))
                    if writer.meta is None:
                        writer.meta = meta
                    start, stop = writer.shard_range(k)
                    entry = {"file": str(row["file"]), "start": start, "stop": stop, "bytes": int(row["bytes"])}
                    # the same checks as a load: a plain name in the folder, its size, its header, this run's
                    # settings and texts (a shard from another run is refused, never recorded)
                    path = shard_file(writer.path, entry, entry=f"shard {k}")
                    if path is None:
                        raise FileNotFoundError(f"a Ray worker reported {entry['file']} written, but it is not in "
                                                f"{writer.path}: out must be on storage every node can write")
                    entry["texts_sha256"] = texts_digest([[t, None, None] for t in texts[start:stop]])
                    check_shard(writer.path, entry, open_capture(path), writer.meta, entry=f"shard {k}")
                    writer.shards[k] = entry
                    writer.write_manifest()  # the shard counts as finished from here on
                    bar.update(stop - start)
    return load(writer.close(), lazy=True)
