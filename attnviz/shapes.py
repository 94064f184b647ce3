"""Shape reports: one row per layer and tensor, with named axes, dtype, memory and statistics.

:func:`shape_report` accepts a :class:`~attnviz.Capture` or a raw Hugging Face
``ModelOutput`` (what a tutorial user gets from ``model(**batch, output_attentions=True,
output_hidden_states=True)``). Attention rows report the row-sum check (max |sum - 1|),
the mean row entropy in nats, the largest weight and the count of NaN/Inf values;
hidden-state rows report mean, std, min, max and the mean L2 norm of the token vectors.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_capture
    >>> report = attnviz.shape_report(tiny_capture("bert", "the cat sat"))
    >>> [row.axes for row in report.rows[:1]]
    [('example', 'head', 'query', 'key')]
    >>> "attentions[1]" in str(report)
    True
"""
from __future__ import annotations

__all__ = ["ShapeReport", "ShapeRow", "shape_report"]

import json
import os
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import numpy as np

from attnviz.atomic import atomic_write_text
from attnviz.capture import Capture
from attnviz.results import ResultIO, frame

ATTENTION_FIELDS = ("attentions", "encoder_attentions", "decoder_attentions", "cross_attentions")
HIDDEN_FIELDS = ("hidden_states", "encoder_hidden_states", "decoder_hidden_states")
ATTENTION_AXES = ("head", "query", "key")
HIDDEN_AXES = ("position", "hidden")


@dataclass
class ShapeRow:
    """One tensor of one layer: its shape with named axes, storage and statistics.

    ``shape`` holds an int per axis, or a ``[min, max]`` pair where the examples of a
    Capture differ in length.

    Example:
        >>> ShapeRow("attentions[0]", "attention", 0, ("head",), (2,), "float32", "cpu", 8, {}).shape_text
        'head=2'
    """

    name: str
    kind: str
    layer: int
    axes: tuple[str, ...]
    shape: tuple[Any, ...]
    dtype: str
    device: str
    nbytes: int
    stats: dict[str, float] = field(default_factory=dict)

    @property
    def shape_text(self) -> str:
        """The shape as ``axis=size`` pairs, ranges written ``min–max``.

        Example:
            >>> ShapeRow("h", "hidden", 0, ("position",), ([3, 5],), "float32", "cpu", 0).shape_text
            'position=3–5'
        """
        parts = []
        for axis, size in zip(self.axes, self.shape, strict=True):
            text = f"{size[0]}–{size[1]}" if isinstance(size, (list, tuple)) else str(size)
            parts.append(f"{axis}={text}")
        return " × ".join(parts)


@dataclass
class ShapeReport(ResultIO):
    """The rows of a shape report, with text, Markdown, JSON and pandas views.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_capture
        >>> rep = attnviz.shape_report(tiny_capture("gpt2", "hello world"))
        >>> rep.to_dict()["rows"][0]["stats"]["row_sum_max_error"] < 1e-5
        True
    """

    rows: list[ShapeRow]
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def _cells(self) -> list[list[str]]:
        table = []
        for r in self.rows:
            stats = ", ".join(f"{k}={_fmt(v)}" for k, v in r.stats.items())
            table.append([r.name, r.shape_text, r.dtype, r.device, _human_bytes(r.nbytes), stats])
        return table

    HEADER = ["tensor", "shape", "dtype", "device", "memory", "statistics"]

    def __str__(self) -> str:
        table = [self.HEADER] + self._cells()
        widths = [max(len(row[i]) for row in table) for i in range(len(self.HEADER) - 1)]
        lines = [f"Shape report: {self.source}"] if self.source else []
        for n, row in enumerate(table):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1])
            if n == 0:
                lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 10)
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"ShapeReport({len(self.rows)} rows, source={self.source!r})"

    def to_markdown(self) -> str:
        """A GitHub-flavoured Markdown table.

        Example:
            >>> ShapeReport([]).to_markdown().splitlines()[0]
            '| tensor | shape | dtype | device | memory | statistics |'
        """
        lines = ["| " + " | ".join(self.HEADER) + " |", "|" + "---|" * len(self.HEADER)]
        for row in self._cells():
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
        lines += ["", *[f"> note: {n}" for n in self.notes]] if self.notes else []
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``{"source", "notes", "rows": [...]}``.

        Example:
            >>> json.dumps(ShapeReport([], source="x").to_dict())
            '{"source": "x", "notes": [], "rows": []}'
        """
        rows = []
        for r in self.rows:
            d = asdict(r)
            d["axes"], d["shape"] = list(r.axes), [list(s) if isinstance(s, tuple) else s for s in r.shape]
            d["stats"] = {k: float(v) for k, v in r.stats.items()}
            rows.append(d)
        return {"source": self.source, "notes": list(self.notes), "rows": rows}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ShapeReport:
        """Inverse of :meth:`to_dict`.

        Example:
            >>> ShapeReport.from_dict(ShapeReport([], source="x").to_dict()).source
            'x'
        """
        rows = [ShapeRow(name=r["name"], kind=r["kind"], layer=r["layer"], axes=tuple(r["axes"]),
                         shape=tuple(tuple(v) if isinstance(v, list) else v for v in r["shape"]), dtype=r["dtype"],
                         device=r["device"], nbytes=int(r["nbytes"]), stats=dict(r.get("stats") or {}))
                for r in doc.get("rows", [])]
        return cls(rows, source=doc.get("source", ""), notes=list(doc.get("notes", [])))

    def to_json(self, path: str | os.PathLike | None = None, **kwargs: Any):
        """``json.dumps(self.to_dict(), **kwargs)``; with ``path``, that text written there (atomically), the Path.

        Example:
            >>> ShapeReport([]).to_json()[:10]
            '{"source":'
        """
        text = json.dumps(self.to_dict(), **kwargs)
        return text if path is None else atomic_write_text(path, text + "\n")

    def records(self) -> list[dict[str, Any]]:
        """The rows of :meth:`to_frame`: one dict per tensor and layer.

        Example:
            >>> ShapeReport([ShapeRow("h", "hidden", 0, ("position",), (3,), "float32", "cpu", 12)]).records()[0]["bytes"]
            12
        """
        records = []
        for r in self.rows:
            rec = {"tensor": r.name, "kind": r.kind, "layer": r.layer, "shape": r.shape_text,
                   "dtype": r.dtype, "device": r.device, "bytes": r.nbytes}
            rec.update(r.stats)
            records.append(rec)
        return records

    def to_frame(self):
        """A pandas DataFrame, one row per tensor and layer (needs pandas).

        Example:
            >>> ShapeReport([]).to_frame().shape[0]  # doctest: +SKIP
            0
        """
        return frame(self.records(), "ShapeReport")

    def plot(self, *, ax=None, **kwargs: Any):
        """Memory per tensor as horizontal bars (MiB); returns the Axes. kwargs go to ``barh``.

        Example:
            >>> rep = ShapeReport([ShapeRow("h", "hidden", 0, ("position",), (3,), "float32", "cpu", 2 ** 20)])
            >>> [round(float(p.get_width()), 3) for p in rep.plot().patches]
            [1.0]
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, max(1.5, 0.25 * len(self.rows) + 1)))
        names = [r.name for r in self.rows]
        ax.barh(range(len(names)), [r.nbytes / 2 ** 20 for r in self.rows], **kwargs)
        ax.set_yticks(range(len(names)), names)
        ax.invert_yaxis()
        ax.set_xlabel("memory (MiB)")
        if self.source:
            ax.set_title(self.source)
        return ax


def shape_report(obj: Any) -> ShapeReport:
    """Summarise every layer's attention and hidden-state tensors of a Capture or ModelOutput.

    Example:
        >>> import torch
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("bert", attn_implementation="eager")
        >>> out = model(**tok(["a cat"], return_tensors="pt"), output_attentions=True,
        ...             output_hidden_states=True)
        >>> shape_report(out).rows[0].axes
        ('batch', 'head', 'query', 'key')
    """
    if isinstance(obj, Capture):
        return _from_capture(obj)
    if hasattr(obj, "keys") and any(k in obj.keys() for k in ATTENTION_FIELDS + HIDDEN_FIELDS) or \
            any(getattr(obj, k, None) is not None for k in ATTENTION_FIELDS + HIDDEN_FIELDS):
        return _from_model_output(obj)
    raise TypeError(
        f"shape_report() takes a Capture or a model output with attentions/hidden_states, not "
        f"{type(obj).__name__}: run the model with output_attentions=True, output_hidden_states=True")


# --- Capture ---------------------------------------------------------------------------
_CAPTURE_FIELDS = (("attentions", "attention"), ("decoder_attentions", "attention"),
                   ("cross_attentions", "attention"), ("hidden_states", "hidden"),
                   ("decoder_hidden_states", "hidden"))


def _from_capture(cap: Capture) -> ShapeReport:
    rows: list[ShapeRow] = []
    notes = []
    for name, kind in _CAPTURE_FIELDS:
        arrays = [getattr(ex, name) for ex in cap.examples]
        if not arrays or arrays[0] is None:
            continue
        if kind == "attention":
            layer_ids = cap.kind_layers("self" if name == "attentions" else "decoder")
        else:
            layer_ids = list(range(arrays[0].shape[0]))
        for pos, layer in enumerate(layer_ids):
            per_example = [a[pos] for a in arrays]
            rows.append(_row(f"{name}[{layer}]", kind, layer, per_example, "cpu", ("example",)))
    if not cap.has_attentions:
        notes.append("this capture holds no attention maps")
    if len(cap.heads) != cap.num_heads or len(cap.layers) != cap.num_layers:
        notes.append(f"subset kept: layers {cap.layers}, heads {cap.heads}")
    source = f"{cap.model_name} ({cap.model_type}), {len(cap)} example(s), attention: {cap.attn_implementation}"
    return ShapeReport(rows, source=source, notes=notes)


# --- ModelOutput -----------------------------------------------------------------------
def _from_model_output(out: Any) -> ShapeReport:
    rows, notes = [], []
    for name in ATTENTION_FIELDS + HIDDEN_FIELDS:
        value = getattr(out, name, None)
        if value is None:
            continue
        kind = "attention" if name in ATTENTION_FIELDS else "hidden"
        if len(value) == 0 and name == "cross_attentions" and getattr(out, "decoder_attentions", None) is None:
            continue  # encoder-only models (BERT) report an empty cross_attentions: nothing is missing
        if len(value) == 0:
            note = (f"{name} is empty: the model ran with sdpa/flash attention, which returns no weights; "
                    "load it with attn_implementation='eager' or use attnviz.extract")
            notes.append(note)
            warnings.warn(note, UserWarning, stacklevel=3)
            continue
        for layer, tensor in enumerate(value):
            t = tensor.detach()
            rows.append(_row(f"{name}[{layer}]", kind, layer, [x.float().cpu().numpy() for x in t],
                             str(t.device), ("batch",), dtype=str(t.dtype).replace("torch.", ""),
                             nbytes=t.element_size() * t.nelement()))
    notes.append("raw model output: padded positions are included in the statistics")
    return ShapeReport(rows, source=type(out).__name__, notes=notes)


def _row(name, kind, layer, arrays: list[np.ndarray], device, lead, dtype=None, nbytes=None) -> ShapeRow:
    axes = lead + (ATTENTION_AXES if kind == "attention" else HIDDEN_AXES)
    shape = (len(arrays),) + tuple(_span([a.shape[d] for a in arrays]) for d in range(arrays[0].ndim))
    stats = _attention_stats(arrays) if kind == "attention" else _hidden_stats(arrays)
    return ShapeRow(name, kind, layer, axes, shape, dtype or str(arrays[0].dtype), device,
                    nbytes if nbytes is not None else sum(a.nbytes for a in arrays), stats)


def _span(sizes: list[int]):
    lo, hi = min(sizes), max(sizes)
    return lo if lo == hi else (lo, hi)


def _attention_stats(arrays: Iterable[np.ndarray]) -> dict[str, float]:
    err, ent_sum, rows, top, bad = 0.0, 0.0, 0, 0.0, 0
    for a in arrays:
        a = a.astype(np.float64)
        finite = np.isfinite(a)
        bad += int((~finite).sum())
        a = np.where(finite, a, 0.0)
        err = max(err, float(np.abs(a.sum(-1) - 1.0).max()))
        with np.errstate(divide="ignore", invalid="ignore"):
            ent = -np.where(a > 0, a * np.log(a), 0.0).sum(-1)
        ent_sum += float(ent.sum())
        rows += ent.size
        top = max(top, float(a.max()))
    return {"row_sum_max_error": err, "mean_entropy": ent_sum / max(rows, 1), "max_weight": top,
            "nan_inf": float(bad)}


def _hidden_stats(arrays: list[np.ndarray]) -> dict[str, float]:
    flat = np.concatenate([a.reshape(-1, a.shape[-1]).astype(np.float64) for a in arrays])
    return {"mean": float(flat.mean()), "std": float(flat.std()), "min": float(flat.min()),
            "max": float(flat.max()), "mean_l2_norm": float(np.linalg.norm(flat, axis=-1).mean()),
            "nan_inf": float((~np.isfinite(flat)).sum())}


def _fmt(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.3g}"


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
