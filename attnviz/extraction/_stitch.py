"""Stitching the step-by-step outputs of ``model.generate`` into whole maps.

``generate(..., output_attentions=True, return_dict_in_generate=True)`` returns one
entry per generation step, each a tuple over layers of (batch, head, query, key)
tensors. With the key/value cache the first step covers the prompt (query = key =
prompt length) and every later step one new query row (query = 1); without the
cache every step recomputes the full square map. :func:`stitch_rows` handles both:
each step contributes the rows of positions not seen in an earlier step.

The last generated token is never fed back by ``generate``; :func:`final_step`
runs the one extra forward step that feeds it (with the cache when there is one),
so that the stitched maps cover the whole sequence and equal one teacher-forced
forward pass over it.

Example:
    >>> import numpy as np
    >>> prompt = np.ones((1, 1, 2, 2), "float32")          # step 0: rows 0-1
    >>> step = np.full((1, 1, 1, 3), 2.0, "float32")        # step 1: row 2 (cached)
    >>> stitch_rows([prompt, step], [2, 3])[0, 0]
    array([[1., 1., 0.],
           [1., 1., 0.],
           [2., 2., 2.]], dtype=float32)
"""
from __future__ import annotations

__all__ = ["cache_argument", "final_step", "stitch_rows", "step_maps", "step_states"]

import inspect
from typing import Any, Sequence

import numpy as np

from attnviz.modeling import check_attentions


def stitch_rows(steps: Sequence[np.ndarray], ends: Sequence[int], width: int | None = None) -> np.ndarray:
    """Stack the query rows of generation steps into one (..., position, width) array.

    ``steps[s]`` has shape (..., q_s, k_s) and holds the rows of positions
    ``ends[s] - q_s`` to ``ends[s] - 1``; positions already filled by an earlier step
    are skipped (a step without the cache repeats them). Columns beyond a step's
    ``k_s`` stay 0 (the causal mask). ``width`` defaults to the last ``ends``.

    Example:
        >>> import numpy as np
        >>> full = [np.ones((1, 1, 1, 1)), np.full((1, 1, 2, 2), 3.0)]  # no cache
        >>> stitch_rows(full, [1, 2])[0, 0].tolist()
        [[1.0, 0.0], [3.0, 3.0]]
    """
    total = int(ends[-1])
    width = total if width is None else int(width)
    out = np.zeros(steps[0].shape[:-2] + (total, width), dtype=np.float32)
    filled = 0
    for s, (step, end) in enumerate(zip(steps, ends)):
        rows = step.shape[-2]
        if end - rows > filled or end <= filled:
            raise RuntimeError(
                f"generation step {s} covers positions {end - rows} to {end - 1}, but positions up to "
                f"{filled - 1} were filled before: the steps do not form one sequence (beam search or "
                "assisted decoding reorder them); use greedy decoding or sampling")
        out[..., filled:end, :step.shape[-1]] = step[..., rows - (end - filled):, :]
        filled = end
    return out


def step_maps(layers: Any, model: Any, what: str) -> np.ndarray:
    """One step's per-layer tuple of (1, head, q, k) tensors as a (layer, head, q, k) float32 array.

    Example:
        >>> import torch
        >>> step_maps((torch.ones(1, 2, 1, 3),), None, "attentions").shape
        (1, 2, 1, 3)
    """
    import torch

    check_attentions(layers, model, what)
    return torch.stack([a[0].to("cpu", torch.float32) for a in layers]).numpy()


def step_states(layers: Any) -> np.ndarray:
    """One step's per-layer tuple of (1, q, hidden) tensors as a (layer + 1, q, hidden) array.

    Example:
        >>> import torch
        >>> step_states((torch.ones(1, 2, 4), torch.ones(1, 2, 4))).shape
        (2, 2, 4)
    """
    import torch

    return torch.stack([h[0].to("cpu", torch.float32) for h in layers]).numpy()


def cache_argument(model: Any) -> str:
    """Name of the forward argument that takes the key/value cache ("cache" in transformers >= 5.2x).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> cache_argument(tiny_model("gpt2", head="lm")[0]) in ("cache", "past_key_values")
        True
    """
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def final_step(model: Any, sequence: Any, cache: Any, hidden: bool, *, encoder_inputs: dict | None = None):
    """Feed the last generated token (never fed by ``generate``) and return the model output.

    ``sequence`` is the (1, T) decoder sequence. With a ``cache`` of the first T - 1
    positions only the last token is fed; without one, the whole sequence is (and the
    caller keeps the last row). For an encoder-decoder model ``encoder_inputs`` are
    the encoder's ``input_ids``/``attention_mask``; the encoder runs again (eval mode:
    identical output).

    Example:
        >>> import torch
        >>> from attnviz.testing import tiny_model
        >>> from attnviz.modeling import inspection_mode
        >>> model, _ = tiny_model("gpt2", head="lm")
        >>> with inspection_mode(model):
        ...     out = final_step(model, torch.tensor([[1, 2, 3]]), None, False)
        >>> tuple(out.attentions[0].shape)
        (1, 4, 3, 3)
    """
    import torch

    feed = sequence if cache is None else sequence[:, -1:]
    kwargs: dict[str, Any] = dict(output_attentions=True, output_hidden_states=hidden, return_dict=True,
                                  use_cache=cache is not None)
    if cache is not None:
        kwargs[cache_argument(model)] = cache
    if encoder_inputs is None:
        mask = torch.ones_like(sequence)
        return model(input_ids=feed, attention_mask=mask, **kwargs)
    encoder = model.get_encoder()
    encoded = encoder(**encoder_inputs, return_dict=True)
    return model(encoder_outputs=encoded, attention_mask=encoder_inputs.get("attention_mask"),
                 decoder_input_ids=feed, **kwargs)
