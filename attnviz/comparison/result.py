"""The :class:`Comparison` result: per-head statistics before and after, tables, figures, files."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from attnviz.atomic import atomic_write_text
from attnviz.capture import Capture, Example
from attnviz.results import ResultIO, json_safe

__all__ = ["METRICS", "PLOT_VIEWS", "Comparison", "markdown_escape"]

PLOT_VIEWS = ("head", "map", "layers")
METRICS = {"change": "1 - cosine similarity", "cosine": "cosine similarity", "js": "JS divergence (nats)",
           "entropy_change": "entropy change (nats, after - before)"}


@dataclass
class Comparison(ResultIO):
    """Before/after statistics per layer and head (arrays of shape layers x heads).

    Attributes:
        before, after: the two captures compared.
        layers, heads: the model's layer and head numbers (rows and columns).
        cosine, js, entropy_before, entropy_after, entropy_change: (layers, heads).
        hidden_cosine: (layers + 1,) per hidden-state layer, embeddings first; None when
            a capture has no hidden states.
        intervals: with ``compare(..., bootstrap=N)``, statistic -> (layers, heads, 2)
            percentile bootstrap interval [low, high] of the mean over examples ("change",
            "cosine", "js", "entropy_change"); settings in ``extra["bootstrap"]``.
        noise: with ``compare(..., baseline=...)``, (layers, heads) 1 - cosine between the
            "after" checkpoint and one trained with another seed; see :attr:`flagged`.

    :attr:`same_weights` says whether the two sides come from the same weights (their
    ``Capture.model_fingerprint`` values agree): True for two captures of one checkpoint
    (e.g. saved at different paths, or a re-run), False for two checkpoints (even when one
    was overwritten in place at the same path), None when a capture records no fingerprint.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_capture
        >>> a = tiny_capture("bert", "the cat sat", seed=0)
        >>> b = tiny_capture("bert", "the cat sat", seed=1)
        >>> comp = attnviz.compare(a, b)
        >>> comp.cosine.shape, bool(comp.top(1)[0]["change"] == comp.change.max())
        ((2, 4), True)
    """

    before: Capture
    after: Capture
    layers: list[int]
    heads: list[int]
    cosine: np.ndarray
    js: np.ndarray
    entropy_before: np.ndarray
    entropy_after: np.ndarray
    hidden_cosine: np.ndarray | None = None
    names: tuple[str, str] = ("before", "after")
    extra: dict[str, Any] = field(default_factory=dict)
    intervals: dict[str, np.ndarray] | None = None
    noise: np.ndarray | None = None

    @property
    def flagged(self) -> np.ndarray | None:
        """(layers, heads) True where the change exceeds the seed-to-seed change (:attr:`noise`):
        the lower bootstrap bound of the change when intervals were computed, else the change itself.
        None without a baseline."""
        if self.noise is None:
            return None
        change = self.intervals["change"][..., 0] if self.intervals is not None else self.change
        return change > self.noise

    @property
    def same_weights(self) -> bool | None:
        """True when both captures come from the same weights (equal ``model_fingerprint``), False for
        two different checkpoints, None when a capture records no fingerprint (made by hand or by an
        older attnviz).

        Example:
            >>> import attnviz
            >>> from attnviz.testing import tiny_model
            >>> (m0, tok), (m1, _) = tiny_model("bert", seed=0), tiny_model("bert", seed=1)
            >>> a = attnviz.extract(m0, "the cat sat", tokenizer=tok)
            >>> b = attnviz.extract(m1, "the cat sat", tokenizer=tok)
            >>> attnviz.compare(a, a).same_weights, attnviz.compare(a, b).same_weights
            (True, False)
        """
        fa, fb = self.before.model_fingerprint, self.after.model_fingerprint
        return None if not fa or not fb else fa == fb

    @property
    def change(self) -> np.ndarray:
        """``1 - cosine`` per layer and head: 0 = unchanged (Kovaleva et al. 2019)."""
        return 1.0 - self.cosine

    @property
    def entropy_change(self) -> np.ndarray:
        """Entropy after minus before, per layer and head (nats)."""
        return self.entropy_after - self.entropy_before

    @property
    def js_bits(self) -> np.ndarray:
        """The JS divergence in bits (between 0 and 1)."""
        return self.js / np.log(2.0)

    @property
    def layer_cosine(self) -> np.ndarray:
        """Mean cosine similarity of each layer's heads, shape (layers,)."""
        return self.cosine.mean(axis=1)

    @property
    def layer_js(self) -> np.ndarray:
        """Mean JS divergence (nats) of each layer's heads."""
        return self.js.mean(axis=1)

    @property
    def layer_entropy_change(self) -> np.ndarray:
        """Mean entropy change (nats) of each layer's heads."""
        return self.entropy_change.mean(axis=1)

    @property
    def num_examples(self) -> int:
        """How many examples were averaged."""
        return len(self.before)

    def metric(self, name: str) -> np.ndarray:
        """One of "change", "cosine", "js", "entropy_change" as a (layers, heads) array.

        Example:
            >>> import attnviz
            >>> from attnviz.testing import tiny_capture
            >>> cap = tiny_capture("bert", "hi")
            >>> bool(attnviz.compare(cap, cap).metric("change").max() < 1e-6)
            True
        """
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}: use one of {', '.join(METRICS)}")
        return getattr(self, name)

    def top(self, n: int | None = 5, *, by: str = "change", lowest: bool = False) -> list[dict[str, Any]]:
        """The ``n`` heads with the largest ``by`` (``lowest=True``: smallest), one dict per head;
        ``n=None``: every head. ``by``: "change" (1 - cosine, the default), "cosine", "js", "entropy_change".

        Example:
            >>> import attnviz
            >>> from attnviz.testing import tiny_capture
            >>> cap = tiny_capture("bert", "hi")
            >>> sorted(attnviz.compare(cap, cap).top(1)[0])
            ['change', 'cosine', 'entropy_change', 'head', 'js', 'layer']
        """
        if by not in METRICS:
            raise ValueError(f"by={by!r}: rank by one of {sorted(METRICS)}")
        rows = self._rows()
        rows.sort(key=lambda r: r[by] if lowest else -r[by])
        return rows[:n] if n is not None else rows

    def _rows(self) -> list[dict[str, Any]]:
        """One dict per head, largest change first."""
        rows: list[dict[str, Any]]
        rows = [{"layer": self.layers[i], "head": self.heads[j], "change": float(self.change[i, j]),
                 "cosine": float(self.cosine[i, j]), "js": float(self.js[i, j]),
                 "entropy_change": float(self.entropy_change[i, j])}
                for i in range(len(self.layers)) for j in range(len(self.heads))]
        noise, flagged = self.noise, self.flagged
        for r in rows:
            i, j = self.layers.index(r["layer"]), self.heads.index(r["head"])
            if self.intervals is not None:
                r["change_low"], r["change_high"] = (float(v) for v in self.intervals["change"][i, j])
            if noise is not None and flagged is not None:
                r["noise"], r["flagged"] = float(noise[i, j]), bool(flagged[i, j])
        rows.sort(key=lambda r: -r["change"])
        return rows

    def layer_records(self) -> list[dict[str, Any]]:
        """One dict per layer: mean cosine, JS, entropy change and hidden-state cosine.

        Example:
            >>> import attnviz
            >>> from attnviz.testing import tiny_capture
            >>> cap = tiny_capture("bert", "hi")
            >>> attnviz.compare(cap, cap).layer_records()[0]["layer"]
            0
        """
        hidden = self.hidden_cosine
        rows = []
        for i, layer in enumerate(self.layers):
            row = {"layer": layer, "cosine": float(self.layer_cosine[i]), "js": float(self.layer_js[i]),
                   "entropy_change": float(self.layer_entropy_change[i])}
            if hidden is not None and layer + 1 < len(hidden):
                row["hidden_cosine"] = float(hidden[layer + 1])  # output of that layer
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready lists (the captures themselves are left out).

        Example:
            >>> import attnviz
            >>> from attnviz.testing import tiny_capture
            >>> cap = tiny_capture("bert", "hi")
            >>> attnviz.compare(cap, cap).to_dict()["units"]["js"]
            'nats'
        """

        flagged = self.flagged  # None exactly when self.noise is None
        noise = None if flagged is None else {"noise": self.noise, "flagged": flagged.tolist(),
                                              "definition": "noise = 1 - cosine between the after checkpoint "
                                                            "and one trained with another seed; flagged = "
                                                            "change (lower bootstrap bound if any) > noise"}
        intervals = None if self.intervals is None else {**self.extra.get("bootstrap", {}), **self.intervals}
        return json_safe({"before": self.names[0], "after": self.names[1], "num_examples": self.num_examples,
                "texts": [ex.text for ex in self.before], "layers": self.layers, "heads": self.heads,
                "units": {"js": "nats", "entropy": "nats"},
                "cosine": self.cosine.tolist(), "js": self.js.tolist(),
                "entropy_before": self.entropy_before.tolist(), "entropy_after": self.entropy_after.tolist(),
                "hidden_cosine": None if self.hidden_cosine is None else self.hidden_cosine.tolist(),
                "layer_summary": self.layer_records(), "ranked_heads": self.top(20),
                "intervals": intervals, "seed_baseline": noise})

    def records(self) -> list[dict[str, Any]]:
        """The per-head rows of :meth:`to_frame`: same as :meth:`ranked_heads`."""
        return self._rows()

    def to_frame(self):
        """The per-head table as a pandas DataFrame (needs pandas: ``pip install 'attnviz[pandas]'``).

        Example:
            >>> import attnviz
            >>> from attnviz.testing import tiny_model
            >>> model, tok = tiny_model("bert")
            >>> cap = attnviz.extract(model, "hi", tokenizer=tok)
            >>> len(attnviz.compare(cap, cap).to_frame())
            8
        """
        from attnviz.results import frame

        return frame(self._rows(), "Comparison")


    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Comparison:
        """A Comparison from :meth:`to_dict` / ``comparison.json``: every statistic; the captures
        hold the texts only (no maps), so ``plot(view="head")`` needs the original captures.

        Example:
            >>> import attnviz
            >>> from attnviz.testing import tiny_capture
            >>> cap = tiny_capture("bert", "hi")
            >>> Comparison.from_dict(attnviz.compare(cap, cap).to_dict()).cosine.shape
            (2, 4)
        """
        from attnviz.comparison.noise import INTERVAL_METRICS

        def arr(v: Any) -> np.ndarray:
            return np.array(v, dtype=np.float64)

        def optional(v: Any) -> np.ndarray | None:
            return None if v is None else arr(v)

        def captures():
            return Capture([Example(tokens=[], text=t) for t in doc.get("texts", [])],
                           layers=list(doc["layers"]), heads=list(doc["heads"]))

        intervals: dict[str, np.ndarray] | None = None
        extra: dict[str, Any] | None = None
        if doc.get("intervals"):
            intervals = {k: arr(v) for k, v in doc["intervals"].items() if k in INTERVAL_METRICS}
            extra = {"bootstrap": {k: v for k, v in doc["intervals"].items() if k not in INTERVAL_METRICS}}
        noise = (doc.get("seed_baseline") or {}).get("noise")
        return cls(before=captures(), after=captures(), layers=list(doc["layers"]), heads=list(doc["heads"]),
                   cosine=arr(doc["cosine"]), js=arr(doc["js"]), entropy_before=arr(doc["entropy_before"]),
                   entropy_after=arr(doc["entropy_after"]), hidden_cosine=optional(doc.get("hidden_cosine")),
                   names=(doc.get("before", "before"), doc.get("after", "after")), extra=extra or {},
                   intervals=intervals, noise=optional(noise))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Comparison:
        """Read what :meth:`save` wrote (its folder, or ``comparison.json``); see :meth:`from_dict`.

        Example:
            >>> import tempfile, attnviz
            >>> from attnviz.testing import tiny_model
            >>> model, tok = tiny_model("bert")
            >>> cap = attnviz.extract(model, "the cat", tokenizer=tok)
            >>> folder = tempfile.mkdtemp(); _ = attnviz.compare(cap, cap).save(folder)
            >>> Comparison.load(folder).num_examples
            1
        """
        path = Path(path)
        if path.is_dir():
            path = path / "comparison.json"
        if not path.is_file():
            raise FileNotFoundError(f"no comparison.json at {path}: pass the folder Comparison.save() wrote")
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def summary(self, top: int = 10) -> str:
        """A Markdown report: the per-layer table and the ``top`` most changed heads.

        Example:
            >>> import attnviz
            >>> from attnviz.testing import tiny_model
            >>> model, tok = tiny_model("bert")
            >>> cap = attnviz.extract(model, "hi", tokenizer=tok)
            >>> print(attnviz.compare(cap, cap).summary().splitlines()[0])
            # Attention change: before -> after (1 example(s))
        """
        hidden = self.hidden_cosine is not None
        out = [f"# Attention change: {markdown_escape(self.names[0])} -> {markdown_escape(self.names[1])} "
               f"({self.num_examples} example(s))", "",
               "Cosine similarity of the attention maps (Kovaleva et al. 2019), JS divergence of the rows "
               "(nats, max ln 2 = 0.693) and entropy change (after - before, nats), averaged over heads and "
               "examples" + ("; hidden: cosine similarity of the token representations after the layer." if hidden
                             else "."), "",
               *([{True: "Both captures come from the same weights (equal model fingerprints): any change is "
                       "from the inputs or settings, not from training.",
                       False: "The captures come from different weights (model fingerprints differ)."}
                      [self.same_weights], ""] if self.same_weights is not None else []),
               "| layer | cosine | JS (nats) | entropy change |" + (" hidden cosine |" if hidden else ""),
               "|------:|-------:|----------:|---------------:|" + ("--------------:|" if hidden else "")]
        for r in self.layer_records():
            line = f"| {r['layer']} | {r['cosine']:.4f} | {r['js']:.4f} | {r['entropy_change']:+.4f} |"
            out.append(line + (f" {r['hidden_cosine']:.4f} |" if "hidden_cosine" in r else ""))
        out += ["", f"Most changed heads (of {self.change.size}):", "",
                "| rank | layer | head | 1 - cosine | JS (nats) | entropy change |",
                "|-----:|------:|-----:|-----------:|----------:|---------------:|"]
        for rank, r in enumerate(self.top(top), 1):
            out.append(f"| {rank} | {r['layer']} | {r['head']} | {r['change']:.4f} | {r['js']:.4f} | "
                       f"{r['entropy_change']:+.4f} |")
        if self.intervals is not None:
            b = self.extra.get("bootstrap", {})
            out += ["", "Bootstrap intervals of 1 - cosine ({:.0%}, {} resamples of the examples): ".format(
                b.get("level", 0.95), b.get("n", "?")) + ", ".join(
                f"L{r['layer']}H{r['head']} [{r['change_low']:.4f}, {r['change_high']:.4f}]" for r in self.top(top))]
        if self.noise is not None:
            beyond = [f"L{r['layer']}H{r['head']}" for r in self._rows() if r["flagged"]]
            out += ["", f"Changed beyond the seed-to-seed change: {len(beyond)} of {self.change.size} heads"
                    + (": " + ", ".join(beyond) if beyond else ".")]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"Comparison({self.names[0]!r} -> {self.names[1]!r}, {self.num_examples} example(s), "
                f"{len(self.layers)} layers x {len(self.heads)} heads, min layer cosine "
                f"{self.layer_cosine.min():.4f})")

    def plot(self, view: str = "map", *, layer: int | None = None, head: int | None = None, example: int = 0,
             metric: str = "change", **kwargs: Any):
        """A figure: ``view`` "map" (layers x heads map of ``metric``), "layers" (per-layer lines) or
        "head" (before / after / difference of one head on one example; default: the most
        changed head). Always returns a figure object with ``.figure``, ``.axes``, ``.savefig()``.

        Example:
            >>> import attnviz
            >>> from attnviz.testing import tiny_capture
            >>> cap = tiny_capture("bert", "the cat")
            >>> len(attnviz.compare(cap, cap).plot("head", layer=1, head=0).axes)
            3
        """
        from attnviz.plot import compare as figures

        if view not in PLOT_VIEWS:
            raise ValueError(f"view={view!r}: use 'map' (layers x heads), 'layers' (per-layer line) or 'head'")
        if view == "map":
            return figures.change_figure(self, metric=metric, **kwargs)
        if view == "layers":
            return figures.layers_figure(self, **kwargs)
        if layer is None or head is None:
            top = self.top(1)[0]
            layer = top["layer"] if layer is None else layer
            head = top["head"] if head is None else head
        return figures.head_figure(self, layer=layer, head=head, example=example, **kwargs)

    # a Comparison saves a folder of files (see ResultIO's docstring), hence the list of paths
    def save(self, folder: str | os.PathLike, *, dpi: float = 200) -> list[Path]:  # type: ignore[override]
        """Write comparison.json, comparison.md and PNG figures (change and entropy-change maps,
        per-layer lines, the most changed head) into ``folder``; return the paths.

        Example:
            >>> import tempfile, attnviz
            >>> from attnviz.testing import tiny_model
            >>> model, tok = tiny_model("bert")
            >>> cap = attnviz.extract(model, "the cat", tokenizer=tok)
            >>> [p.name for p in attnviz.compare(cap, cap).save(tempfile.mkdtemp())][:2]
            ['comparison.json', 'comparison.md']
        """
        from attnviz.atomic import atomic_outputs
        from attnviz.plot.compare import save_figures

        out = Path(folder)
        with atomic_outputs(out) as tmp:  # all files or none: moved in only when complete
            text = json.dumps(json_safe(self.to_dict()), indent=2, allow_nan=False) + "\n"
            written = [atomic_write_text(tmp / "comparison.json", text),
                       atomic_write_text(tmp / "comparison.md", self.summary() + "\n"),
                       *save_figures(self, tmp, dpi=dpi)]
        return [out / Path(p).relative_to(tmp) for p in written]


def markdown_escape(text: str) -> str:
    """Escape Markdown's special characters so that a name shows literally in a report.

    Example:
        >>> print(markdown_escape("run_1/*best*"))
        run\\_1/\\*best\\*
    """
    return re.sub(r"([\\`*_\[\]#|<>~&])", r"\\\1", str(text)).replace("\n", " ")
