"""Relevance: which tokens a prediction depends on, from attention combined with gradients or values.

All three methods run the model through attnviz's own attention function in its differentiable
mode (:class:`attnviz.extraction.gradients.GradientSession`): every layer's output is computed
from its eager attention weights, which stay in the autograd graph, and the value states are kept.
The target is the predicted class (a ``*ForSequenceClassification``) or the predicted next token
(a causal language model), or the one given by ``target=``; its logit is differentiated.

* ``chefer`` (Chefer, Gur & Wolf 2021, "Generic Attention-model Explainability for Interpreting
  Bi-Modal and Encoder-Decoder Transformers", eq. 5-8, as in their code): ``R = I``; for each
  layer ``Abar = mean_heads((dA * A)^+)`` and ``R += Abar @ R``. The token relevance is R's row of
  the position the prediction reads ([CLS] for a BERT-like classifier, the last token for a
  language model or a decoder classifier). ``maps`` holds R after each layer (one "head").
* ``grad_attention``: ``dA * A`` per layer and head (signed); token scores: the target row,
  mean over layers and heads.
* ``value_norm`` (Kobayashi et al. 2020, "Attention is Not Only a Weight"): ``||alpha_ij f(x_j)||``
  per layer and head with ``f(x) = (x W_V + b_V) W_O^h`` (the head's slice of the attention output
  projection, ``Family.attention_output``); no gradient. Token scores: the target row, mean over
  layers and heads.

Example:
    >>> from attnviz.testing import tiny_model
    >>> model, tok = tiny_model("bert", head="sequence-classification")
    >>> rel = relevance(model, "a good film", tokenizer=tok)
    >>> rel.maps[0].shape[:2], len(rel.scores[0]) == len(rel.tokens[0])
    ((2, 1), True)
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from attnviz.capture import Capture, Example
from attnviz.families import family_of, is_causal, layer_modules, model_dims
from attnviz.modeling import ModelLike, Tokenizer, model_task, resolve_model
from attnviz.results import ResultIO

__all__ = ["METHODS", "Relevance", "relevance"]

METHODS = ("chefer", "grad_attention", "value_norm")
FORMAT = "attnviz.relevance/1"


@dataclass(eq=False)
class Relevance(ResultIO):
    """Per-token relevance of each text for its target, and per-layer maps shaped like attention maps.

    Attributes:
        method: "chefer", "grad_attention" or "value_norm".
        tokens: per text, its readable tokens; special: per text, True at special tokens.
        scores: per text, a (token,) array: the relevance of each token for the target.
        maps: per text, (layer, head or 1, query, key) float32: ``chefer``: R after each layer;
            ``grad_attention``: grad * attention per head; ``value_norm``: ||alpha f(x)|| per head.
        targets / target_names: per text, the class or token id differentiated, and its name.
        positions: per text, the query row the prediction reads (the row ``scores`` is taken from).
        layers, task ("classification" or "lm"), texts, model_name, model_type, extra.

    Example:
        >>> r = Relevance("chefer", [["a", "b"]], [np.array([0.2, 0.8])], [np.ones((1, 1, 2, 2), "float32")],
        ...               targets=[1], target_names=["pos"], positions=[0], layers=[0])
        >>> r.top(1)[0]["token"], Relevance.from_dict(r.to_dict()) == r
        ('b', True)
    """

    method: str
    tokens: list[list[str]]
    scores: list[np.ndarray]
    maps: list[np.ndarray]
    targets: list[int] = field(default_factory=list)
    target_names: list[str] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    layers: list[int] = field(default_factory=list)
    special: list[list[bool]] | None = None
    task: str = "classification"
    texts: list[str] | None = None
    model_name: str = ""
    model_type: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.special is None:
            self.special = [[False] * len(t) for t in self.tokens]

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        return f"Relevance(method={self.method!r}, {len(self)} text(s), layers={len(self.layers)}, task={self.task!r})"

    # --- tables ----------------------------------------------------------------------
    def records(self) -> list[dict[str, Any]]:
        """Rows ``{example, position, token, special, score, target}`` (for :meth:`to_frame`).

        Example:
            >>> Relevance("chefer", [["a"]], [np.array([1.0])], [np.ones((1, 1, 1, 1), "float32")],
            ...           targets=[0], target_names=["x"], positions=[0]).records()[0]["score"]
            1.0
        """
        special = self.special or []
        return [{"example": e, "position": i, "token": tok, "special": bool(special[e][i]),
                 "score": float(self.scores[e][i]), "target": self.target_names[e] if self.target_names else None}
                for e, toks in enumerate(self.tokens) for i, tok in enumerate(toks)]

    def top(self, n: int = 5, *, by: str = "score", example: int = 0, skip_special: bool = True,
            skip_target: bool = True) -> list[dict[str, Any]]:
        """The ``n`` most relevant tokens of one text, highest first (``by="score"``, or ``"abs"`` for |score|).

        Special tokens and the target row's own token (its identity term) are left out unless asked.

        Example:
            >>> r = Relevance("grad_attention", [["[CLS]", "bad", "film"]], [np.array([5.0, -2.0, 1.0])],
            ...               [np.zeros((1, 1, 3, 3), "float32")], positions=[0], special=[[True, False, False]])
            >>> [t["token"] for t in r.top(2, by="abs")]
            ['bad', 'film']
        """
        if by not in ("score", "abs"):
            raise ValueError(f"by={by!r}: use 'score' or 'abs'")
        rows = [r for r in self.records() if r["example"] == example
                and not (skip_special and r["special"])
                and not (skip_target and self.positions and r["position"] == self.positions[example])]
        key = (lambda r: abs(r["score"])) if by == "abs" else (lambda r: r["score"])
        return sorted(rows, key=key, reverse=True)[:n]

    # --- JSON -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: scores, maps (nested lists), tokens, targets and settings.

        Example:
            >>> Relevance("chefer", [["a"]], [np.array([1.0])], [np.ones((1, 1, 1, 1), "float32")]).to_dict()["format"]
            'attnviz.relevance/1'
        """
        return {"format": FORMAT, "method": self.method, "task": self.task, "tokens": [list(t) for t in self.tokens],
                "special": [[bool(s) for s in row] for row in (self.special or [])],
                "scores": [np.asarray(s, dtype=np.float64).tolist() for s in self.scores],
                "maps": [np.asarray(m, dtype=np.float32).tolist() for m in self.maps],
                "targets": [int(t) for t in self.targets], "target_names": list(self.target_names),
                "positions": [int(p) for p in self.positions], "layers": [int(v) for v in self.layers],
                "texts": None if self.texts is None else list(self.texts), "model_name": self.model_name,
                "model_type": self.model_type, "extra": dict(self.extra)}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Relevance:
        """Inverse of :meth:`to_dict` (and of :meth:`save`, via :meth:`load`)."""
        if doc.get("format") != FORMAT:
            raise ValueError(f"not a relevance result (format {doc.get('format')!r}, expected {FORMAT!r}): "
                             "load a file written by Relevance.save")
        return cls(method=doc["method"], tokens=[list(t) for t in doc["tokens"]],
                   scores=[np.array(s, dtype=np.float64) for s in doc["scores"]],
                   maps=[np.array(m, dtype=np.float32) for m in doc["maps"]],
                   targets=list(doc["targets"]), target_names=list(doc["target_names"]),
                   positions=list(doc["positions"]), layers=list(doc["layers"]),
                   special=[list(s) for s in doc["special"]], task=doc.get("task", "classification"),
                   texts=doc.get("texts"), model_name=doc.get("model_name", ""),
                   model_type=doc.get("model_type", ""), extra=dict(doc.get("extra") or {}))

    # --- views ----------------------------------------------------------------------
    def as_capture(self, *, part: str = "signed") -> Capture:
        """A :class:`~attnviz.Capture` whose attentions are the relevance maps, for ``token_heatmap``,
        ``head_grid`` and the HTML views (``extra["values"]`` names the method).

        ``part``: ``"signed"`` (the maps as they are), ``"abs"``, ``"positive"`` (``max(x, 0)``) or
        ``"negative"`` (``max(-x, 0)``). ``grad_attention`` maps are signed; the HTML views draw a
        0..max scale and refuse negative entries, so pass them one of the other parts.

        Example:
            >>> import attnviz
            >>> from attnviz.testing import tiny_model
            >>> model, tok = tiny_model("gpt2", head="lm")
            >>> cap = relevance(model, "the cat sat", tokenizer=tok, method="value_norm").as_capture()
            >>> ax = attnviz.plot.token_heatmap(cap, layer=1, head=0)
            >>> cap[0].attentions.shape[1], cap.extra["values"]
            (4, 'relevance:value_norm')
        """
        parts: dict[str, Callable[[np.ndarray], np.ndarray]] = {
            "signed": lambda m: m, "abs": np.abs, "positive": lambda m: np.maximum(m, 0),
            "negative": lambda m: np.maximum(-m, 0)}
        if part not in parts:
            raise ValueError(f"part={part!r}: use one of {sorted(parts)}")
        heads = self.maps[0].shape[1] if self.maps else 1
        examples = [Example(tokens=list(t), display_tokens=list(t),
                            attentions=parts[part](np.asarray(m, dtype=np.float32)),
                            special_mask=list(s), text=None if self.texts is None else self.texts[i])
                    for i, (t, m, s) in enumerate(zip(self.tokens, self.maps, self.special or [], strict=True))]
        total = max(self.layers) + 1 if self.layers else 0
        return Capture(examples, model_name=self.model_name, model_type=self.model_type, num_layers=total,
                       num_heads=heads, layers=list(self.layers), heads=list(range(heads)),
                       is_decoder=self.task == "lm", attn_implementation="attnviz",
                       extra={"values": f"relevance:{self.method}" + ("" if part == "signed" else f":{part}"),
                              "targets": list(self.target_names)})

    def plot(self, *, example: int = 0, ax=None, **kwargs: Any):
        """The tokens as a strip coloured by relevance (see :func:`attnviz.plot.relevance.relevance_strip`).

        Example:
            >>> r = Relevance("chefer", [["a", "b"]], [np.array([0.2, 0.8])], [np.ones((1, 1, 2, 2), "float32")])
            >>> r.plot().images[0].get_array().tolist()
            [[0.2, 0.8]]
        """
        from attnviz.plot.relevance import relevance_strip

        title = kwargs.pop("title", f"{self.method} relevance" + (
            f" for {self.target_names[example]!r}" if self.target_names else ""))
        return relevance_strip(self.scores[example], self.tokens[example], ax=ax, title=title, **kwargs)


# ----------------------------------------------------------------------------------------------------------
# computation


def _targets(target: Any, n: int, task: str, model: Any, tokenizer: Any) -> list[int | None]:
    """Per text: a class/token id, or None (the prediction)."""
    items = list(target) if isinstance(target, (list, tuple)) else [target] * n
    if len(items) != n:
        raise ValueError(f"target= gives {len(items)} targets for {n} texts: give one, or one per text")
    out: list[int | None] = []
    for t in items:
        if t is None or (isinstance(t, (int, np.integer)) and not isinstance(t, bool)):
            out.append(None if t is None else int(t))
        elif isinstance(t, str) and task == "classification":
            names = getattr(model.config, "label2id", None) or {}
            if t not in names:
                raise ValueError(f"target={t!r} is not a label of this model: use one of {sorted(names)} or an id")
            out.append(int(names[t]))
        elif isinstance(t, str):
            ids = tokenizer(t, add_special_tokens=False)["input_ids"]
            if len(ids) != 1:
                raise ValueError(f"target={t!r} is {len(ids)} tokens for this tokenizer: give one token "
                                 "(with its leading space where the tokenizer marks it) or a token id")
            out.append(int(ids[0]))
        else:
            raise TypeError(f"target={t!r}: use None (the prediction), an id, a label name or a token")
    return out


def _head_projections(model: Any, layers: list[int], heads: int) -> dict[int, Any]:
    """Per layer, W_O split per head: (head, head_dim, hidden) from ``Family.attention_output``."""
    found = layer_modules(model, "attention_output")
    if not found:
        raise ValueError(f"value_norm needs each layer's attention output projection, not found in this "
                         f"{model.config.model_type!r} model: add its family to attnviz.families.FAMILIES")
    out = {}
    for layer in layers:
        module = found[layer]
        w = module.weight
        w = w if type(module).__name__ == "Conv1D" else w.t()          # (in = heads * head_dim, out)
        out[layer] = w.reshape(heads, w.shape[0] // heads, w.shape[1])
    return out


def relevance(model: ModelLike, texts: str | Sequence[str], *, tokenizer: Tokenizer = None, method: str = "chefer",
              target: Any = None, batch_size: int = 8, max_length: int | None = 512) -> Relevance:
    """Per-token relevance of each text for the predicted (or given) class or next token.

    Args:
        model: a sequence classifier or a causal language model (loaded, or a local folder).
        texts: one text or several (batched ``batch_size`` at a time, padded on the right).
        method: ``"chefer"`` (Chefer et al. 2021), ``"grad_attention"`` (grad * attention per head)
            or ``"value_norm"`` (Kobayashi et al. 2020); see the module docstring.
        target: None (the model's prediction), a class id / label name (classifier) or a token id /
            one-token string (language model), or a list with one per text.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("llama", head="lm")
        >>> rel = relevance(model, ["the cat sat", "a dog"], tokenizer=tok, target=5)
        >>> rel.targets, rel.positions == [len(t) - 1 for t in rel.tokens]
        ([5, 5], True)
    """
    import torch

    from attnviz.extraction.gradients import GradientSession
    from attnviz.extraction.streaming import NAME, register
    from attnviz.extraction.tokens import display_token, display_tokens, is_byte_level, special_mask
    from attnviz.modeling import input_device, inspection_mode, model_name

    if method not in METHODS:
        raise ValueError(f"method={method!r}: use one of {', '.join(METHODS)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    model, tokenizer = resolve_model(model, tokenizer)
    task = model_task(model, needed_by="relevance")
    fam = family_of(model.config)
    if getattr(model.config, "is_encoder_decoder", False) or (fam is not None and fam.decoder_layers):
        raise ValueError("relevance supports encoder-only and decoder-only models; this is an encoder-decoder: "
                         "use a BERT-like classifier or a causal language model")
    texts = [texts] if isinstance(texts, str) else [str(t) for t in texts]
    if not texts:
        raise ValueError("texts is empty: pass at least one text")
    wanted = _targets(target, len(texts), task, model, tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    causal = task == "lm" or is_causal(model.config)  # a decoder's classifier reads the last token
    dims = model_dims(model.config)
    heads = int(dims["heads"] or 0)
    byte_level = is_byte_level(tokenizer)
    device = input_device(model)
    id2label = getattr(model.config, "id2label", None) or {}
    result: dict[str, list] = {k: [] for k in ("tokens", "special", "scores", "maps", "targets", "names", "rows")}
    layers: list[int] = []
    projections: dict[int, Any] = {}
    register()
    with contextlib.ExitStack() as stack:
        stack.enter_context(inspection_mode(model, implementation=NAME))
        stack.enter_context(torch.enable_grad())
        for start in range(0, len(texts), batch_size):
            chunk = texts[start:start + batch_size]
            enc = tokenizer(chunk, return_tensors="pt", padding=True, truncation=max_length is not None,
                            max_length=max_length, padding_side="right")
            inputs = {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
            mask = inputs["attention_mask"].bool()
            session = GradientSession(model)
            with session.require_input_grad(), session.active():
                logits = model(**inputs).logits
            layers = session.kept_layers("self")
            lengths = mask.sum(-1)
            rows = (lengths - 1) if causal else torch.zeros_like(lengths)
            picked = logits[torch.arange(len(chunk)), rows] if task == "lm" else logits
            ids: list[int] = []
            for b in range(len(chunk)):
                given = wanted[start + b]
                ids.append(int(picked[b].argmax()) if given is None else given)
            weights = [session.weights[("self", layer)] for layer in layers]
            if method == "value_norm":
                grads = None
                if not projections:
                    projections = _head_projections(model, layers, heads)
            else:
                score = picked[torch.arange(len(chunk)), torch.tensor(ids, device=picked.device)].sum()
                grads = torch.autograd.grad(score, weights)
            with torch.no_grad():
                for b in range(len(chunk)):
                    keep = mask[b].nonzero().flatten()
                    a = torch.stack([w[b][:, keep][:, :, keep].float() for w in weights])   # (layer, head, n, n)
                    row = int(rows[b])
                    if method == "value_norm":
                        per_layer = []
                        for i, layer in enumerate(layers):
                            v = session.values[("self", layer)][b][:, keep].float()         # (kv head, n, d)
                            v = v.repeat_interleave(heads // v.shape[0], dim=0)
                            f = torch.einsum("hnd,hdo->hno", v, projections[layer].float())
                            per_layer.append(a[i] * f.norm(dim=-1)[:, None, :])
                        maps = torch.stack(per_layer)
                        scores = maps[:, :, row].mean((0, 1))
                    else:
                        assert grads is not None
                        g = torch.stack([gr[b][:, keep][:, :, keep].float() for gr in grads])
                        ga = g * a
                        if method == "grad_attention":
                            maps = ga
                            scores = ga[:, :, row].mean((0, 1))
                        else:                                    # chefer, eq. 5-8
                            n = len(keep)
                            r = torch.eye(n, dtype=torch.float32, device=a.device)
                            steps = []
                            for abar in ga.clamp(min=0).mean(1):
                                r = r + abar @ r
                                steps.append(r)
                            maps = torch.stack(steps)[:, None]
                            scores = r[row]
                    ids_b = inputs["input_ids"][b][keep].tolist()
                    raw = tokenizer.convert_ids_to_tokens(ids_b)
                    result["tokens"].append(display_tokens(raw, byte_level=byte_level))
                    result["special"].append(special_mask(ids_b, tokenizer))
                    result["scores"].append(scores.double().cpu().numpy())
                    result["maps"].append(maps.cpu().numpy().astype(np.float32))
                    result["targets"].append(ids[b])
                    result["names"].append(str(id2label.get(ids[b], ids[b])) if task == "classification"
                                           else display_token(str(tokenizer.convert_ids_to_tokens(ids[b])),
                                                              byte_level=byte_level))
                    result["rows"].append(row)
            del session, weights, grads, logits
    return Relevance(method, result["tokens"], result["scores"], result["maps"], targets=result["targets"],
                     target_names=result["names"], positions=result["rows"], layers=layers,
                     special=result["special"], task=task, texts=texts, model_name=model_name(model),
                     model_type=str(getattr(model.config, "model_type", "")))
