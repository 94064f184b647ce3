"""Tiny random models and tokenizers, built locally, for tests, docs and examples.

Nothing here downloads anything: the tokenizers were trained on a short built-in corpus
(WordPiece for BERT-like models, byte-level BPE for GPT-2, RoBERTa and BART, a
SentencePiece-style Unigram for T5) and ship as JSON (attnviz/data/tokenizers/), so token
ids are the same in every process; the models are built from configs with a few layers
and random weights (seeded).

Example:
    >>> model, tok = tiny_model("bert")
    >>> model.config.num_hidden_layers, model.config.num_attention_heads
    (2, 4)
"""
from __future__ import annotations

__all__ = ["TINY_VISION_FAMILIES", "TINY_VLM_FAMILIES", "save_tiny_model", "tiny_capture", "tiny_config", "tiny_model",
           "tiny_processor", "tiny_tokenizer"]

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from attnviz.capture import Capture

TINY_FAMILIES = ("bert", "distilbert", "roberta", "gpt2", "bart", "t5")
# Decoder LLM families (random weights, byte-level BPE tokenizer): grouped-query attention,
# sliding windows (Mistral, Gemma-2: 4 tokens, shorter than the test texts), soft-capping (Gemma-2).
TINY_LLM_FAMILIES = ("llama", "qwen2", "mistral", "gemma2", "phi3", "gpt_neox")
# Vision transformers (random weights, 32 x 32 px images in 8 px patches: a 4 x 4 grid) with a small
# image processor (tiny_processor) instead of a tokenizer.
TINY_VISION_FAMILIES = ("vit", "deit", "dinov2", "dinov2_with_registers", "clip_vision_model", "siglip_vision_model")
# Vision-language models (a tiny vision tower, a tiny Llama, a processor that expands the image token):
# LLaVA (one token per patch) and Idefics3 / SmolVLM (pixel shuffle: one token per 2 x 2 patches).
TINY_VLM_FAMILIES = ("llava", "idefics3")
#: Side of a tiny vision model's input image and of its patches, in pixels.
TINY_IMAGE, TINY_PATCH = 32, 8

CORPUS = [
    "The cat sat on the mat and looked at the dog.",
    "A quick brown fox jumps over the lazy dog!",
    "This movie was wonderful, the acting was great and the story moving.",
    "I did not like the film: it was slow, long and boring.",
    "Attention heads look at the previous token, the next token or the separator.",
    "Hello world, this is a small test of tokenization in attnviz.",
    "Transformers read text as tokens; each layer mixes them with attention.",
    "She said that the weather in Paris was lovely in spring.",
    "Numbers like 1, 2, 3 and 42 appear too, with punctuation: commas, dots?",
    "The translation of this sentence is hard to guess. Le chat est noir.",
    "an unbelievable performance, truly remarkable and unforgettable",
    "terrible plot, awful dialogue, a waste of two hours",
]


def _corpus() -> list[str]:
    return CORPUS * 4 + [s.lower() for s in CORPUS] * 4


#: The shipped vocabulary of each family (attnviz/data/tokenizers/<file>.json), the same in every process.
TOKENIZER_FILES = {"bert": "bert", "distilbert": "bert", "roberta": "roberta", "bart": "roberta", "gpt2": "gpt2",
                   "t5": "t5", **{family: "gpt2" for family in TINY_LLM_FAMILIES}}


@functools.cache
def _backend(family: str):
    """The family's ``tokenizers.Tokenizer``, loaded from the shipped JSON.

    The files were made once by :func:`_train` (whose trainers break ties in a different order in
    each process, so training at import time gave token ids that changed from run to run).
    """
    from tokenizers import Tokenizer

    if family not in TOKENIZER_FILES:
        raise ValueError(f"unknown tiny model family {family!r}: use one of {', '.join(TOKENIZER_FILES)}")
    path = Path(__file__).parent / "data" / "tokenizers" / f"{TOKENIZER_FILES[family]}.json"
    return Tokenizer.from_str(path.read_text(encoding="utf-8"))


def _train(family: str):
    """Train the family's tokenizer on :data:`CORPUS` (how the shipped files were made; not reproducible
    across processes: write the result with ``_train(family).to_str()`` to update a file)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    if family in ("bert", "distilbert"):
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.train_from_iterator(_corpus(), trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials))
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
        tok.decoder = decoders.WordPiece()
        return tok
    if family in TINY_LLM_FAMILIES:
        return _train("gpt2")
    if family in ("gpt2", "roberta", "bart"):
        specials = ["<|endoftext|>"] if family == "gpt2" else ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.train_from_iterator(_corpus(), trainers.BpeTrainer(
            vocab_size=500, special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        if family != "gpt2":
            bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
            tok.post_processor = processors.TemplateProcessing(
                single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
                special_tokens=[("<s>", bos), ("</s>", eos)])
        return tok
    if family == "t5":
        specials = ["<pad>", "</s>", "<unk>"]
        tok = Tokenizer(models.Unigram())
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        tok.train_from_iterator(_corpus(), trainers.UnigramTrainer(
            vocab_size=300, special_tokens=specials, unk_token="<unk>"))
        eos = tok.token_to_id("</s>")
        tok.post_processor = processors.TemplateProcessing(
            single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos)])
        return tok
    raise ValueError(f"unknown tiny model family {family!r}: use one of {', '.join(TINY_FAMILIES)}")


_SPECIALS = {
    "bert": dict(unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]"),
    "gpt2": dict(bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>"),
    "roberta": dict(bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
                    unk_token="<unk>", pad_token="<pad>", mask_token="<mask>"),
    "t5": dict(eos_token="</s>", unk_token="<unk>", pad_token="<pad>"),
}
_SPECIALS["distilbert"] = _SPECIALS["bert"]
_SPECIALS["bart"] = _SPECIALS["roberta"]

_LLM_CLASSES = {"llama": "Llama", "qwen2": "Qwen2", "mistral": "Mistral", "gemma2": "Gemma2", "phi3": "Phi3",
                "gpt_neox": "GPTNeoX"}


def tiny_tokenizer(family: str = "bert"):
    """A small fast tokenizer of ``family`` (one of TINY_FAMILIES or TINY_LLM_FAMILIES), the same in every process.

    Example:
        >>> tok = tiny_tokenizer("bert")
        >>> tok.convert_ids_to_tokens(tok("the cat")["input_ids"])
        ['[CLS]', 'the', 'cat', '[SEP]']
    """
    from transformers import PreTrainedTokenizerFast

    backend = _backend(family).__class__.from_str(_backend(family).to_str())
    names = ["input_ids", "attention_mask"]
    if family == "bert":
        names.insert(1, "token_type_ids")
    specials = _SPECIALS["gpt2"] if family in TINY_LLM_FAMILIES else _SPECIALS[family]
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, model_input_names=names,
                                  model_max_length=64, **specials)
    return tok


def tiny_config(family: str, tokenizer: Any, **overrides: Any):
    """A config with 2 layers, 4 heads and hidden size 32 (T5/BART: 2 + 2 layers).

    Example:
        >>> tiny_config("gpt2", tiny_tokenizer("gpt2")).n_layer
        2
    """
    import transformers as tf

    vocab = len(tokenizer)
    cfg: tf.PretrainedConfig
    if family == "bert":
        cfg = tf.BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=64, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id)
    elif family == "distilbert":
        cfg = tf.DistilBertConfig(vocab_size=vocab, dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                                  max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id)
    elif family == "roberta":
        cfg = tf.RobertaConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=64, max_position_embeddings=64 + tokenizer.pad_token_id + 1,
                               pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                               eos_token_id=tokenizer.eos_token_id)
    elif family == "gpt2":
        cfg = tf.GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    elif family == "bart":
        cfg = tf.BartConfig(vocab_size=vocab, d_model=32, encoder_layers=2, decoder_layers=2,
                            encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64,
                            decoder_ffn_dim=64, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
                            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                            decoder_start_token_id=tokenizer.eos_token_id, forced_eos_token_id=None)
    elif family == "t5":
        cfg = tf.T5Config(  # type: ignore[call-arg]  # decoder_start_token_id: taken by the config's **kwargs
            vocab_size=vocab, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
            num_heads=4, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id)
    elif family in TINY_LLM_FAMILIES:
        cfg = _llm_config(family, vocab, tokenizer)
    else:
        raise ValueError(f"unknown tiny model family {family!r}: use one of {', '.join(TINY_FAMILIES + TINY_LLM_FAMILIES)}")
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


def _llm_config(family: str, vocab: int, tokenizer: Any):
    import transformers as tf

    common = dict(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=64, max_position_embeddings=64, bos_token_id=tokenizer.bos_token_id,
                  eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False)
    if family == "gpt_neox":
        return tf.GPTNeoXConfig(**common, rotary_pct=0.5)  # type: ignore[call-arg]  # config **kwargs, untyped
    common["num_key_value_heads"] = 2
    if family == "llama":
        return tf.LlamaConfig(**common)
    if family == "qwen2":
        return tf.Qwen2Config(**common)
    if family == "mistral":
        return tf.MistralConfig(**common, sliding_window=4)
    if family == "phi3":
        return tf.Phi3Config(**common, pad_token_id=tokenizer.eos_token_id)
    return tf.Gemma2Config(**common, head_dim=8, sliding_window=4, attn_logit_softcapping=5.0,
                           final_logit_softcapping=30.0, query_pre_attn_scalar=8)


_VISION_CLASSES = {"vit": ("ViT", "ViTImageProcessor"), "deit": ("DeiT", "DeiTImageProcessor"),
                   "dinov2": ("Dinov2", "BitImageProcessor"),
                   "dinov2_with_registers": ("Dinov2WithRegisters", "BitImageProcessor"),
                   "clip_vision_model": ("CLIPVision", "CLIPImageProcessor"),
                   "siglip_vision_model": ("SiglipVision", "SiglipImageProcessor")}


def _vision_config(family: str, **overrides: Any):
    """A vision transformer config: 2 layers, 4 heads, hidden size 32, 32 px images in 8 px patches."""
    import transformers as tf

    cls = getattr(tf, f"{_VISION_CLASSES[family][0]}Config")
    sizes = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                 image_size=TINY_IMAGE, patch_size=TINY_PATCH)
    if family == "dinov2_with_registers":
        sizes["num_register_tokens"] = 2
    return cls(**{**sizes, **overrides})


def tiny_processor(family: str = "vit"):
    """The small image processor of a tiny vision model: images become 32 x 32 px (``TINY_IMAGE``).

    Each family gets its own processor class (ViT: resize; DeiT, DINOv2, CLIP: resize the short side,
    then crop the centre; SigLIP: resize), the image-only (PIL) variant where transformers has one.

    Example:
        >>> import numpy as np
        >>> tiny_processor("clip_vision_model")(np.zeros((40, 60, 3), "uint8"), return_tensors="pt")["pixel_values"].shape
        torch.Size([1, 3, 32, 32])
    """
    import transformers as tf

    if family not in _VISION_CLASSES:
        raise ValueError(f"no tiny image processor for {family!r}: use one of {', '.join(TINY_VISION_FAMILIES)}")
    name = _VISION_CLASSES[family][1]
    cls = getattr(tf, f"{name}Pil", None) or getattr(tf, name)  # the PIL variant needs no torchvision
    side = {"height": TINY_IMAGE, "width": TINY_IMAGE}
    if name in ("ViTImageProcessor", "SiglipImageProcessor"):
        return cls(size=side)
    return cls(size={"shortest_edge": TINY_IMAGE}, crop_size=side, do_center_crop=True)


_VLM_IMAGE_TOKENS = {"llava": ["<image>"], "idefics3": ["<image>", "<fake_token_around_image>", "<global-img>",
                                                          "<end_of_utterance>"]}


def _tiny_vlm(family: str, head: str | None, seed: int, attn_implementation: str, **overrides: Any):
    """A tiny vision-language model and its processor (the tiny Llama tokenizer with the image tokens added)."""
    import torch
    import transformers as tf

    if head not in (None, "lm"):
        raise ValueError(f"no tiny {family!r} model with head {head!r}; heads: None, 'lm'")
    tok = tiny_tokenizer("llama")
    tok.add_tokens(_VLM_IMAGE_TOKENS[family], special_tokens=True)
    image_id = tok.convert_tokens_to_ids("<image>")
    text = _llm_config("llama", len(tok), tok)
    vision: dict[str, Any] = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                                  image_size=TINY_IMAGE, patch_size=TINY_PATCH)
    cfg: Any
    processor: Any
    cls: Any
    if family == "llava":
        cfg = tf.LlavaConfig(vision_config=tf.CLIPVisionConfig(**vision), text_config=text,
                             image_token_index=image_id, vision_feature_layer=-1, **overrides)
        images = getattr(tf, "CLIPImageProcessorPil", None) or tf.CLIPImageProcessor
        processor = tf.LlavaProcessor(
            image_processor=images(size={"shortest_edge": TINY_IMAGE}, crop_size={"height": TINY_IMAGE,
                                                                                   "width": TINY_IMAGE}),
            tokenizer=tok, patch_size=TINY_PATCH, vision_feature_select_strategy="default",
            num_additional_image_tokens=1)
        cls = tf.LlavaForConditionalGeneration
    else:
        cfg = tf.Idefics3Config(vision_config=tf.Idefics3VisionConfig(**vision), text_config=text, scale_factor=2,
                                image_token_id=image_id, **overrides)
        images = getattr(tf, "Idefics3ImageProcessorPil", None) or tf.Idefics3ImageProcessor
        side = {"longest_edge": TINY_IMAGE}
        processor = tf.Idefics3Processor(image_processor=images(size=side, max_image_size=side,
                                                                do_image_splitting=False),
                                         tokenizer=tok, image_seq_len=(TINY_IMAGE // TINY_PATCH // 2) ** 2)
        cls = tf.Idefics3ForConditionalGeneration
    cfg._attn_implementation = attn_implementation
    torch.manual_seed(seed)
    model = cls(cfg).eval()
    return (model.model if head is None else model), processor


def _tiny_vision_model(family: str, head: str | None, seed: int, attn_implementation: str, **overrides: Any):
    import torch
    import transformers as tf

    if head not in (None, "image-classification") or (head and family in ("clip_vision_model",
                                                                           "siglip_vision_model")):
        raise ValueError(f"no tiny {family!r} model with head {head!r}; heads: None"
                         + ("" if family.endswith("_vision_model") else ", 'image-classification'"))
    cfg = _vision_config(family, **overrides)
    prefix = _VISION_CLASSES[family][0]
    cls = getattr(tf, f"{prefix}Model" if head is None else f"{prefix}ForImageClassification")
    if head is not None:
        cfg.num_labels = 2
        cfg.id2label, cfg.label2id = {0: "circle", 1: "square"}, {"circle": 0, "square": 1}
    cfg._attn_implementation = attn_implementation
    torch.manual_seed(seed)
    return cls(cfg).eval(), tiny_processor(family)


_HEAD_CLASSES = {
    None: {"bert": "BertModel", "distilbert": "DistilBertModel", "roberta": "RobertaModel",
           "gpt2": "GPT2Model", "bart": "BartModel", "t5": "T5Model"},
    "lm": {"bert": "BertForMaskedLM", "distilbert": "DistilBertForMaskedLM", "roberta": "RobertaForMaskedLM",
           "gpt2": "GPT2LMHeadModel", "bart": "BartForConditionalGeneration", "t5": "T5ForConditionalGeneration"},
    "sequence-classification": {"bert": "BertForSequenceClassification",
                                "distilbert": "DistilBertForSequenceClassification",
                                "roberta": "RobertaForSequenceClassification",
                                "gpt2": "GPT2ForSequenceClassification",
                                "bart": "BartForSequenceClassification"},
}
for _name, _prefix in _LLM_CLASSES.items():
    _HEAD_CLASSES[None][_name] = f"{_prefix}Model"
    _HEAD_CLASSES["lm"][_name] = f"{_prefix}ForCausalLM"


def tiny_model(family: str = "bert", *, head: str | None = None, seed: int = 0,
               attn_implementation: str = "sdpa", **config_overrides: Any):
    """A tiny random model of ``family`` (default "bert") and its tokenizer: ``(model, tokenizer)``, in eval mode.

    ``family`` is one of TINY_FAMILIES or TINY_LLM_FAMILIES.

    ``head`` is None (bare model), ``"lm"`` or ``"sequence-classification"`` (2 labels).
    A family of TINY_VISION_FAMILIES gives ``(model, image processor)`` instead (see :func:`tiny_processor`;
    ``head``: None or ``"image-classification"``), one of TINY_VLM_FAMILIES ``(model, processor)`` (the
    tokenizer with its image tokens, and the image processor; ``head``: None or ``"lm"``).
    The model is loaded with ``attn_implementation="sdpa"`` by default, as transformers 5
    loads real checkpoints, so that code paths that must switch to eager are exercised.

    Example:
        >>> model, tok = tiny_model("t5", head="lm")
        >>> type(model).__name__
        'T5ForConditionalGeneration'
    """
    import torch
    import transformers as tf

    if family in TINY_VISION_FAMILIES:
        return _tiny_vision_model(family, head, seed, attn_implementation, **config_overrides)
    if family in TINY_VLM_FAMILIES:
        return _tiny_vlm(family, head, seed, attn_implementation, **config_overrides)
    if head not in _HEAD_CLASSES or family not in _HEAD_CLASSES[head]:
        raise ValueError(f"no tiny {family!r} model with head {head!r}; heads: "
                         f"{[h for h in _HEAD_CLASSES if family in _HEAD_CLASSES[h]]}")
    tok = tiny_tokenizer(family)
    cfg = tiny_config(family, tok, **config_overrides)
    if head == "sequence-classification":
        cfg.num_labels = 2
        cfg.id2label = {0: "negative", 1: "positive"}
        cfg.label2id = {"negative": 0, "positive": 1}
        if family == "gpt2":
            cfg.pad_token_id = tok.eos_token_id
    cls = getattr(tf, _HEAD_CLASSES[head][family])
    if not getattr(cls, "_supports_sdpa", True) and attn_implementation == "sdpa":
        attn_implementation = "eager"  # Gemma-2: soft-capping has no sdpa kernel
    cfg._attn_implementation = attn_implementation
    torch.manual_seed(seed)
    model = cls(cfg)
    model.eval()
    return model, tok


def tiny_capture(family: str = "bert", texts: str | Sequence[str] = "the cat sat", *, head: str | None = None,
                 seed: int = 0, **extract_options: Any) -> Capture:
    """What a tiny random model of ``family`` attends to in ``texts``: a :class:`~attnviz.Capture`.

    The short form of ``model, tok = tiny_model(family, head=head, seed=seed)`` then
    ``attnviz.extract(model, texts, tokenizer=tok, **extract_options)``, for examples and tests
    that need a capture but not the model; ``extract_options`` are :func:`attnviz.extract`'s
    (``layers=``, ``queries=``, ``decoder_texts=``, ``out=`` ...). Its maps come from random
    weights: they show shapes and code paths, not what a trained model looks at.

    Example:
        >>> cap = tiny_capture("bert", ["the cat sat", "a dog"], layers=[1])
        >>> len(cap), cap.layers, cap[0].tokens
        (2, [1], ['[CLS]', 'the', 'cat', 'sat', '[SEP]'])
        >>> tiny_capture("gpt2", seed=1)[0].attentions.shape  # 2 layers, 4 heads, 3 tokens
        (2, 4, 3, 3)
    """
    from attnviz.extraction.extract import extract

    if family in TINY_VISION_FAMILIES + TINY_VLM_FAMILIES:
        raise ValueError(f"tiny_capture is for text families, and {family!r} takes images: use "
                         f"model, processor = tiny_model({family!r}) and "
                         "attnviz.extract(model, images, processor=processor)")
    model, tok = tiny_model(family, head=head, seed=seed)
    return extract(model, texts, tokenizer=tok, **extract_options)


def save_tiny_model(family: str, path: str | os.PathLike, **kwargs: Any) -> Path:
    """Build a tiny model and save it, with its tokenizer, to ``path``.

    Example:
        >>> import tempfile
        >>> p = save_tiny_model("bert", tempfile.mkdtemp())
        >>> (p / "config.json").exists()
        True
    """
    model, tok = tiny_model(family, **kwargs)  # tok: a tokenizer, or the image processor of a vision family
    path = Path(path)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path

