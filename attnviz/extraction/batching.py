"""Batches for the model: padding, one forward pass with attentions, and per-example crops.

:class:`BatchRunner` pads tokenized texts itself (right padding, or left padding with
position ids so results equal unpadded input) and runs one forward pass. Normally that pass
runs under attnviz's own attention function (:mod:`.streaming`), which computes and keeps only
the selected layers, heads and rows of each example, never a padding row or column. Only for a
model whose attention bypasses transformers' attention interface does it fall back (with a
warning, :func:`.running.streaming_or_eager`) to ``output_attentions=True``, every layer's maps at
once, and cut every example's maps out of the batch. :func:`attnviz.extract` and
:func:`attnviz.metrics.dataset_stats` use it.

Example:
    >>> from attnviz.testing import tiny_model
    >>> from attnviz.modeling import inspection_mode
    >>> model, tok = tiny_model("bert")
    >>> runner = BatchRunner(model, tok, None, None, True, "float32", "right", tok.pad_token_id)
    >>> items = [{"input_ids": tok("the cat sat")["input_ids"]}, {"input_ids": tok("hi")["input_ids"]}]
    >>> with inspection_mode(model):
    ...     examples = runner(items, None)
    >>> [ex.attentions.shape[-1] for ex in examples] == [len(it["input_ids"]) for it in items]
    True
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Sequence

import numpy as np

from attnviz._version import __version__
from attnviz.capture import Capture, Example
from attnviz.extraction.streaming import resolve_queries
from attnviz.extraction.tokens import display_tokens, is_byte_level, special_mask
from attnviz.families import is_causal, position_offset
from attnviz.modeling import check_attentions, forward_parameters, input_device, model_fingerprint, model_name

__all__ = ["BatchRunner", "StreamingUnavailable", "capture_from", "reduce_heads"]

#: Storage dtypes of captured maps.
DTYPES = ("float32", "float16")


class StreamingUnavailable(RuntimeError):
    """The model's attention did not go through the attention interface (extract then uses eager).

    Example:
        >>> issubclass(StreamingUnavailable, RuntimeError)
        True
    """


def reduce_heads(block: np.ndarray, how: str | None) -> np.ndarray:
    """Mean or max over the head axis (axis 1), kept as an axis of length 1.

    Example:
        >>> reduce_heads(np.ones((2, 3, 4, 4), "float32"), "mean").shape
        (2, 1, 4, 4)
    """
    if how is None:
        return block
    if how == "mean":
        return block.mean(1, keepdims=True, dtype=np.float32).astype(block.dtype)
    return block.max(1, keepdims=True)


class BatchRunner:
    """Pads one batch, runs the model and turns the output into Examples (used by extract and
    by attnviz.metrics.dataset_stats, which only uses its padding).

    Call it inside :func:`attnviz.modeling.inspection_mode` (eager attention, no gradients).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("gpt2")
        >>> runner = BatchRunner(model, tok, [1], [0, 2], False, "float16", "left", 0)
        >>> inputs, starts, _ = runner.batch_inputs([{"input_ids": [5, 6, 7]}, {"input_ids": [8]}], None)
        >>> inputs["attention_mask"].tolist(), starts
        ([[1, 1, 1], [0, 0, 1]], [0, 2])
    """

    def __init__(self, model, tokenizer, layers, heads, hidden, dtype, side, pad_id, *,
                 queries=None, reduce_heads=None, streaming=False):
        self.queries, self.reduce, self.streaming, self.session = queries, reduce_heads, streaming, None
        self.model, self.tokenizer = model, tokenizer
        self.attention_root = model  # whose attention modules the session keeps (a VLM: its language model)
        self.layers, self.heads, self.hidden = layers, heads, hidden
        self.dtype, self.side, self.pad_id = np.dtype(dtype), side, pad_id
        import torch

        self.torch_dtype = getattr(torch, dtype)
        self.device = input_device(model)
        self.accepts = forward_parameters(model)
        self.byte_level = is_byte_level(tokenizer)
        self.offset = position_offset(model.config)
        self.num_layers = self.num_heads = self.num_decoder_layers = None

    def _pad(self, seqs: list[list[int]], value: int, side: str):
        import torch

        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), value, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        starts = []
        for row, seq in enumerate(seqs):
            start = width - len(seq) if side == "left" else 0
            ids[row, start:start + len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, start:start + len(seq)] = 1
            starts.append(start)
        return ids, mask, starts

    def batch_inputs(self, items, targets):
        """Pad one batch of tokenized items (and decoder targets) into model inputs on the device."""
        import torch

        ids, mask, starts = self._pad([it["input_ids"] for it in items], self.pad_id, self.side)
        inputs = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in items[0] and "token_type_ids" in self.accepts:
            inputs["token_type_ids"] = self._pad([it["token_type_ids"] for it in items], 0, self.side)[0]
        if self.side == "left":
            inputs["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0) + self.offset
        dec_starts = None
        if targets is not None:
            dec_ids, dec_mask, dec_starts = self._pad(targets, self.pad_id, "right")
            inputs.update(decoder_input_ids=dec_ids, decoder_attention_mask=dec_mask)
        if "use_cache" in self.accepts:
            inputs["use_cache"] = False
        if "logits_to_keep" in self.accepts:  # a language model's (batch, token, vocab) logits are never kept
            inputs["logits_to_keep"] = 1
        inputs = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
        return inputs, starts, dec_starts

    def _layers(self, maps, name):
        """CPU float32 tensors (batch, head, q, k) of the kept layers (no copy when already so)."""
        import torch

        check_attentions(maps, self.model, name)
        keep = self.layers if self.layers is not None else range(len(maps))
        keep = [l for l in keep if l < len(maps)]
        return [maps[l].to("cpu", torch.float32) for l in keep], list(keep), maps[0].shape[1]

    def _hidden(self, states):
        import torch

        if not self.hidden or states is None:
            return None
        return [h.to("cpu", torch.float32) for h in states]

    def _crop(self, layers: list, b: int, rows: slice, cols: slice | None = None,
              heads: bool = True) -> np.ndarray:
        """One example's (layer, [head,] rows[, cols]) block, copied once into the storage dtype.

        The copy runs in torch, which spreads large copies over the CPU's threads.
        """
        import torch

        pieces = [a[b] for a in layers]
        if heads and self.heads is not None:
            pieces = [p[self.heads] for p in pieces]
        index = (slice(None), rows, cols) if cols is not None else (rows,)
        first = pieces[0][index]
        out = torch.empty((len(pieces),) + tuple(first.shape), dtype=self.torch_dtype)
        for i, piece in enumerate(pieces):
            out[i].copy_(piece[index])
        return out.numpy()

    def __call__(self, items, targets):
        inputs, starts, dec_starts = self.batch_inputs(items, targets)
        enc_dec = targets is not None
        positions = [resolve_queries(self.queries, len(it["input_ids"])) for it in items]
        if self.streaming:
            out, maps = self._forward_streaming(inputs, items, targets, starts, dec_starts, positions)
        else:
            out, maps = self._forward_eager(inputs, items, targets, starts, dec_starts, positions)
        hid = self._hidden(out.encoder_hidden_states if enc_dec else out.hidden_states)
        dec_hid = self._hidden(out.decoder_hidden_states) if enc_dec else None
        logits = getattr(out, "logits", None)
        keep_logits = logits is not None and logits.ndim == 2
        if keep_logits:
            logits = logits.to("cpu").float().numpy()
        del out
        results = []
        for b, item in enumerate(items):
            s, e = starts[b], starts[b] + len(item["input_ids"])
            ex = self._example(item["input_ids"], item.get("word_ids"), item.get("offsets"))
            ex.attentions = maps("self", b)
            ex.query_positions = positions[b] if self.queries is not None else None
            ex.hidden_states = None if hid is None else self._crop(hid, b, slice(s, e), heads=False)
            if enc_dec:
                ds, de = dec_starts[b], dec_starts[b] + len(targets[b])
                ex.decoder_tokens = self.tokenizer.convert_ids_to_tokens(targets[b])
                ex.decoder_display_tokens = display_tokens(ex.decoder_tokens, byte_level=self.byte_level)
                ex.decoder_special_mask = special_mask(targets[b], self.tokenizer)
                ex.decoder_attentions = maps("decoder", b)
                ex.cross_attentions = maps("cross", b)
                ex.decoder_hidden_states = None if dec_hid is None else \
                    self._crop(dec_hid, b, slice(ds, de), heads=False)
            if keep_logits:
                self._label(ex, logits[b])
            results.append(ex)
        return results

    def _forward_streaming(self, inputs, items, targets, starts, dec_starts, positions):
        """One pass under the "attnviz" attention: only the kept weights are ever computed."""
        import torch

        from attnviz.extraction.streaming import EnoughLayers, Rows, Session

        if self.session is None:
            self.session = Session(self.attention_root, layers=self.layers, heads=self.heads, num_heads=None,
                                   reduce_heads=self.reduce, dtype=self.dtype.name)
        rows = {"self": [Rows(torch.tensor(p) + s, s, s + len(it["input_ids"]), self.queries is None)
                         for p, s, it in zip(positions, starts, items, strict=True)]}
        if targets is not None:
            dec = [(d, d + len(t)) for d, t in zip(dec_starts, targets, strict=True)]
            rows["decoder"] = [Rows(torch.arange(a, b), a, b, True) for a, b in dec]
            rows["cross"] = [Rows(torch.arange(a, b), s, s + len(it["input_ids"]), True)
                             for (a, b), s, it in zip(dec, starts, items, strict=True)]
        self.session.begin_batch(rows)
        # nothing after the last kept layer is read unless hidden states or a classifier's logits are kept
        name = type(self.model).__name__
        self.session.stop_early = not self.hidden and "Classification" not in name and "MultipleChoice" not in name
        try:
            with self.session.active():
                out = self.model(**inputs, output_hidden_states=self.hidden, return_dict=True)
        except EnoughLayers:
            out = SimpleNamespace(hidden_states=None, encoder_hidden_states=None, decoder_hidden_states=None)
        finally:
            self.session.stop_early = False
        self.session.layer_done()  # the last copies to host memory are complete, whichever path made them
        missing = self.session.missing()
        if missing:
            raise StreamingUnavailable(f"no attention call reached attnviz for {missing[0][0]} layer "
                                       f"{missing[0][1]} of this {type(self.model).__name__}")
        sess = self.session
        self.num_heads = sess.num_heads
        self.num_layers, self.kept_layers = sess.counts["self"], sess.kept_layers("self")
        if targets is not None:
            self.num_decoder_layers, self.kept_decoder_layers = sess.counts["decoder"], sess.kept_layers("decoder")
        return out, sess.result

    def _forward_eager(self, inputs, items, targets, starts, dec_starts, positions):
        """The last resort: every layer's weights at once (``output_attentions=True``), then cut."""
        out = self.model(**inputs, output_attentions=True, output_hidden_states=self.hidden, return_dict=True)
        enc_dec = targets is not None
        att, self.kept_layers, self.num_heads = self._layers(
            out.encoder_attentions if enc_dec else out.attentions, "attentions")
        self.num_layers = len(out.encoder_attentions if enc_dec else out.attentions)
        maps = {"self": att}
        if enc_dec:
            maps["decoder"], self.kept_decoder_layers, _ = self._layers(out.decoder_attentions, "decoder attentions")
            maps["cross"], _, _ = self._layers(out.cross_attentions, "cross attentions")
            self.num_decoder_layers = len(out.decoder_attentions)

        def cut(kind: str, b: int) -> np.ndarray:
            s, e = starts[b], starts[b] + len(items[b]["input_ids"])
            rows = slice(s, e)
            if kind != "self":
                ds = dec_starts[b]
                rows = slice(ds, ds + len(targets[b]))
            cols = rows if kind == "decoder" else slice(s, e)
            block = self._crop(maps[kind], b, rows, cols)
            if kind == "self" and self.queries is not None:
                block = block[:, :, positions[b]]
            return reduce_heads(block, self.reduce)

        return out, cut

    def _example(self, ids, word_ids, offsets) -> Example:
        tokens = self.tokenizer.convert_ids_to_tokens(ids)
        return Example(tokens=tokens, display_tokens=display_tokens(tokens, byte_level=self.byte_level),
                       special_mask=special_mask(ids, self.tokenizer), word_ids=word_ids, offsets=offsets)

    def _label(self, ex: Example, row: np.ndarray) -> None:
        ex.logits = row.astype(np.float32)
        ex.predicted_label = int(np.argmax(row))
        id2label = getattr(self.model.config, "id2label", None) or {}
        ex.predicted_label_name = id2label.get(ex.predicted_label, str(ex.predicted_label))


def capture_from(model: Any, examples: list[Example], *, num_layers: int, num_heads: int,
                 layers: Sequence[int] | None = None, heads: Sequence[int] | None = None,
                 decoder_layers: Sequence[int] | None = None, num_decoder_layers: int | None = None,
                 dtype: str = "float32", extra: dict | None = None, attn_implementation: str = "eager",
                 queries: Any = None, reduce_heads: str | None = None) -> Capture:
    """Wrap ``examples`` made from ``model``'s outputs in a Capture with full provenance.

    ``layers``/``heads`` are the kept model indices (default: all); an encoder-decoder
    capture is recognised from its examples. Used by :func:`extract` and by
    :func:`attnviz.extract_generation`.

    Example:
        >>> import numpy as np
        >>> from attnviz.testing import tiny_model
        >>> model, _ = tiny_model("bert")
        >>> ex = Example(tokens=["a"], attentions=np.ones((2, 4, 1, 1), "float32"))
        >>> capture_from(model, [ex], num_layers=2, num_heads=4).layers
        [0, 1]
    """
    import torch
    import transformers

    cfg = model.config
    enc_dec = examples[0].is_encoder_decoder
    id2label = getattr(cfg, "id2label", None) if examples[0].logits is not None else None
    hidden = examples[0].hidden_states
    return Capture(
        examples=examples,
        model_name=model_name(model),
        model_fingerprint=model_fingerprint(model),
        model_type=getattr(cfg, "model_type", ""),
        num_layers=int(num_layers), num_heads=int(num_heads),
        hidden_size=int(hidden.shape[-1]) if hidden is not None else int(getattr(cfg, "hidden_size", 0) or 0),
        layers=list(layers) if layers is not None else list(range(num_layers)),
        heads=list(heads) if heads is not None else list(range(num_heads)),
        decoder_layers=(list(decoder_layers) if decoder_layers is not None else list(range(num_decoder_layers or 0)))
        if enc_dec else None,
        num_decoder_layers=num_decoder_layers if enc_dec else None, is_encoder_decoder=enc_dec,
        is_decoder=bool(getattr(cfg, "is_decoder", False)) or (not enc_dec and is_causal(cfg)),
        attn_implementation=attn_implementation, dtype=dtype, queries=queries, reduce_heads=reduce_heads,
        id2label={int(k): v for k, v in id2label.items()} if id2label else None,
        transformers_version=transformers.__version__, torch_version=torch.__version__,
        attnviz_version=__version__,
        extra={"original_attn_implementation": getattr(cfg, "_attn_implementation", None), **(extra or {})},
    )
