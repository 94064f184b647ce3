"""Images in: the attention of vision transformers over an image's patches.

:func:`attnviz.extract` sends image inputs here (PIL images, ``H x W x 3`` numpy arrays, uint8
or float, or image file paths), for the vision families of :data:`attnviz.families.FAMILIES`
(ViT, DeiT, DINOv2 with and without registers, CLIP and SigLIP image encoders; a whole CLIP or
SigLIP model runs its image tower). The model's image processor (loaded beside the model when
none is passed) resizes and crops them; the model runs through the same per-layer path as text
(the ``"attnviz"`` attention function: only the kept layers, heads and query rows are computed),
so ``layers=``, ``heads=``, ``queries=``, ``reduce_heads=`` and ``out=`` work as for text.

Vision-language models (LLaVA-style, Idefics3 / SmolVLM) take texts with one image each,
``extract(model, texts, images=..., processor=...)``: the processor expands the image token, the
image tokens are labelled ``"patch r,c"`` and only the language model's attention is kept
(:class:`VLMRunner`, :func:`vlm_layout`); their examples' modality is ``"image+text"``.

Each example records its ``modality`` ("image"), the ``image`` as the model saw it (the processor's
output de-normalised to uint8, at most 224 px on its long side), the ``patch_grid`` (rows, cols),
the ``patch_positions`` (the sequence positions of the patches, row-major) and the special tokens
([CLS], [DIST], [REG0]...) in ``special_mask``; ``tokens`` are readable labels (``"patch 0,0"``).

Example:
    >>> import numpy as np, attnviz
    >>> from attnviz.testing import tiny_model
    >>> model, processor = tiny_model("deit")
    >>> cap = attnviz.extract(model, [np.zeros((40, 60, 3), "uint8")], processor=processor)
    >>> ex = cap[0]
    >>> ex.modality, ex.patch_grid, ex.tokens[:3], ex.image.shape
    ('image', (4, 4), ['[CLS]', '[DIST]', 'patch 0,0'], (32, 32, 3))
    >>> cls_map = ex.attentions[0, 0, 0][ex.patch_positions].reshape(ex.patch_grid)
    >>> cls_map.shape
    (4, 4)
"""
from __future__ import annotations

__all__ = ["IMAGE_SUFFIXES", "ImageRunner", "VLMRunner", "extract_images", "image_call", "image_layout",
           "language_model", "load_image_model", "load_images", "looks_like_images", "model_modality", "processor_for",
           "thumbnail", "vision_tower", "vlm_layout"]

import hashlib
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from attnviz.capture import Capture, Example
from attnviz.extraction.batching import DTYPES, BatchRunner, capture_from
from attnviz.extraction.inputs import check_count
from attnviz.families import family_of, submodule

#: File name endings read as images (``str`` paths; a ``pathlib.Path`` is always read as an image).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
#: Longest side, in pixels, of the image an example keeps.
THUMBNAIL = 224
# Whole two-tower models whose image tower is a vision family: (attribute, class of the tower alone).
_TOWERS = {"clip": ("vision_model", "CLIPVisionModel"), "siglip": ("vision_model", "SiglipVisionModel")}


# --- what the call is about ------------------------------------------------------------------------
def _is_image(value: Any) -> bool:
    if isinstance(value, (np.ndarray, Path)):
        return True
    if isinstance(value, str):
        return value.lower().endswith(IMAGE_SUFFIXES)
    return type(value).__module__.startswith("PIL.")


def looks_like_images(data: Any) -> bool:
    """True when ``data`` is an image or a list of them (PIL images, arrays, image file paths).

    Example:
        >>> looks_like_images(["cat.png"]), looks_like_images(["the cat sat"]), looks_like_images(np.zeros((8, 8, 3)))
        (True, False, True)
    """
    if _is_image(data):
        return True
    if isinstance(data, (list, tuple)) and data:
        return _is_image(data[0])
    return False


def model_modality(model: Any) -> str:
    """``"text"``, ``"image"`` (a vision transformer, or a CLIP/SigLIP model's image tower) or
    ``"image+text"`` (a vision-language model) for a loaded model or a local model folder.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model_modality(tiny_model("vit")[0]), model_modality(tiny_model("bert")[0])
        ('image', 'text')
    """
    if isinstance(model, (str, os.PathLike)):
        try:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(str(model), local_files_only=True)
        except (OSError, ValueError):
            return "text"  # extract() reports the missing model
    else:
        config = getattr(model, "config", None)
    fam = family_of(config)
    if fam is not None:
        return fam.modality
    if getattr(config, "model_type", None) in _TOWERS:
        return "image"
    if getattr(config, "vision_config", None) is not None and getattr(config, "text_config", None) is not None:
        return "image+text"
    return "text"


def image_call(model: Any, data: Any, images: Any, processor: Any) -> dict | None:
    """How an :func:`attnviz.extract` call reads when it is about images; None for a text call.

    The images come second (``extract(model, images, processor=p)``); a vision-language call
    passes the texts second and ``images=``.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> image_call(tiny_model("vit")[0], ["a.png"], None, None)["modality"]
        'image'
        >>> image_call(tiny_model("bert")[0], ["the cat"], None, None) is None
        True
    """
    if images is not None:
        return {"modality": "image+text", "texts": data, "images": images, "processor": processor}
    if looks_like_images(data) or model_modality(model) == "image":
        return {"modality": "image", "texts": None, "images": data, "processor": processor}
    return None


# --- images in -------------------------------------------------------------------------------------
def _pil(value: Any, where: str):
    from PIL import Image

    if isinstance(value, (str, os.PathLike)) and not isinstance(value, bytes):
        path = Path(value).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{where}: no image file at {path}: check the path")
        try:
            with Image.open(path) as img:
                return img.convert("RGB")
        except OSError as exc:
            raise ValueError(f"{where}: {path} is not an image PIL can read ({exc})") from exc
    if isinstance(value, Image.Image):
        return value.convert("RGB")
    if isinstance(value, np.ndarray):
        if value.ndim != 3 or value.shape[2] not in (3, 4) or 0 in value.shape:
            raise ValueError(f"{where} has shape {value.shape}, not (height, width, 3): pass colour images as "
                             "H x W x 3 arrays (a grey image g: np.stack([g] * 3, axis=-1))")
        array = value[..., :3]
        if array.dtype != np.uint8:
            if array.dtype.kind not in "fiu":
                raise TypeError(f"{where} has dtype {array.dtype}: pass uint8 (0..255) or float (0..1) pixels")
            array = array.astype(np.float64)
            if not np.isfinite(array).all():
                raise ValueError(f"{where} holds NaN or infinite pixels: fix the image first")
            if array.size and (array.min() < 0 or array.max() > 255):
                raise ValueError(f"{where} has pixel values from {array.min():g} to {array.max():g}: pass uint8 "
                                 "(0..255) or float (0..1 or 0..255) pixels, e.g. a 16-bit image // 257")
            scale = 255.0 if array.dtype.kind == "f" and array.max() <= 1.0 and value.dtype.kind == "f" else 1.0
            array = np.clip(np.rint(array * scale), 0, 255).astype(np.uint8)
        return Image.fromarray(np.ascontiguousarray(array), "RGB")
    raise TypeError(f"{where} is a {type(value).__name__}: pass a PIL image, an H x W x 3 numpy array "
                    "or the path of an image file")


def load_images(images: Any, name: str = "images") -> list:
    """One image or a list of them as RGB PIL images; float arrays in 0..1 are scaled to 0..255.

    Example:
        >>> [img.size for img in load_images([np.zeros((4, 6, 3), "float32")])]
        [(6, 4)]
        >>> load_images(np.zeros((4, 6)))
        Traceback (most recent call last):
        ValueError: images[0] has shape (4, 6), not (height, width, 3): pass colour images as H x W x 3 arrays (a grey image g: np.stack([g] * 3, axis=-1))
    """
    if _is_image(images) or type(images).__module__.startswith("PIL."):
        images = [images]
    if images is None or isinstance(images, (str, bytes, dict)) or not hasattr(images, "__iter__"):
        raise TypeError(f"{name} is a {type(images).__name__}: pass an image or a list of images "
                        "(PIL images, H x W x 3 arrays or image file paths)")
    images = list(images)
    if not images:
        raise ValueError(f"{name} is empty: pass at least one image")
    return [_pil(v, f"{name}[{i}]") for i, v in enumerate(images)]


def processor_for(model: Any, processor: Any = None, *, modality: str = "image") -> Any:
    """The image processor (``modality="image+text"``: the multimodal processor) to use with ``model``.

    ``processor`` when given; else the one saved beside the model (``model.name_or_path``).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> processor_for(tiny_model("vit")[0])
        Traceback (most recent call last):
        ValueError: processor is None and no image processor was found beside the model (name_or_path=''): pass processor= (e.g. AutoImageProcessor.from_pretrained(path)), or save it beside the model (processor.save_pretrained(path))
    """
    if processor is not None:
        if not callable(processor):
            raise TypeError(f"processor is a {type(processor).__name__}, not an image processor: pass the "
                            "model's processor (AutoImageProcessor.from_pretrained(path)) or None")
        return processor
    source = model if isinstance(model, (str, os.PathLike)) else \
        (getattr(model, "name_or_path", "") or getattr(model.config, "_name_or_path", ""))
    what = "AutoImageProcessor" if modality == "image" else "AutoProcessor"
    if source and Path(source).is_dir():
        import transformers

        try:
            return getattr(transformers, what).from_pretrained(str(source), local_files_only=True)
        except (OSError, ValueError):
            pass
    raise ValueError(f"processor is None and no {'image ' if modality == 'image' else ''}processor was found "
                     f"beside the model (name_or_path={str(source)!r}): pass processor= (e.g. "
                     f"{what}.from_pretrained(path)), or save it beside the model (processor.save_pretrained(path))")


def load_image_model(path: str | os.PathLike) -> Any:
    """A vision or vision-language model from a local folder (its class from the config's architectures).

    Example:
        >>> import tempfile
        >>> from attnviz.testing import save_tiny_model
        >>> type(load_image_model(save_tiny_model("vit", tempfile.mkdtemp()))).__name__
        'ViTModel'
    """
    from transformers import AutoConfig

    from attnviz.modeling import _model_class

    local = Path(path).expanduser()
    if not (local / "config.json").is_file():
        raise FileNotFoundError(f"no model at {local}: pass the folder that save_pretrained() wrote "
                                "(attnviz loads models from local folders only)")
    config = AutoConfig.from_pretrained(str(local), local_files_only=True)
    return _model_class(config, None).from_pretrained(str(local), local_files_only=True).eval()


def vision_tower(model: Any) -> Any:
    """The model that runs on the pixels: ``model`` itself, or a CLIP/SigLIP model's image tower
    (a ``CLIPVisionModel`` sharing its weights, so the vision family's entry applies).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> m = tiny_model("vit")[0]
        >>> vision_tower(m) is m
        True
    """
    cfg = model.config
    if cfg.model_type not in _TOWERS:
        return model
    import torch
    import transformers

    attr, cls_name = _TOWERS[cfg.model_type]
    inner = getattr(model, attr)
    if isinstance(inner, transformers.PreTrainedModel):  # transformers 5: the tower is a vision model already
        return inner
    with torch.device("meta"):
        tower = getattr(transformers, cls_name)(cfg.vision_config)
    state = dict(inner.state_dict())
    state.update((name, buffer) for name, buffer in inner.named_buffers())  # non-persistent ones too
    tower.load_state_dict(state, assign=True, strict=False)
    tower.config._attn_implementation = getattr(cfg, "_attn_implementation", None) or "sdpa"
    tower.name_or_path = getattr(model, "name_or_path", "")
    return tower.eval()


# --- the image as the model saw it, and its tokens ------------------------------------------------
def thumbnail(pixel_values: Any, processor: Any, *, size: int = THUMBNAIL) -> np.ndarray:
    """A (channel, height, width) model input de-normalised to a uint8 (height, width, 3) image.

    Undoes the processor's normalisation (``image_mean``/``image_std``) and rescaling, then shrinks
    the image so that its long side is at most ``size`` pixels.

    Example:
        >>> from attnviz.testing import tiny_processor
        >>> p = tiny_processor("vit")
        >>> pv = p(np.full((32, 32, 3), 200, "uint8"), return_tensors="pt")["pixel_values"][0]
        >>> img = thumbnail(pv, p)
        >>> img.shape, int(img[0, 0, 0])
        ((32, 32, 3), 200)
    """
    x = np.asarray(pixel_values.float().cpu() if hasattr(pixel_values, "float") else pixel_values, np.float64)
    if getattr(processor, "do_normalize", True) and getattr(processor, "image_mean", None) is not None:
        mean = np.asarray(processor.image_mean, np.float64).reshape(-1, 1, 1)
        std = np.asarray(processor.image_std, np.float64).reshape(-1, 1, 1)
        x = x * std + mean
    if getattr(processor, "do_rescale", True):
        x = x / float(getattr(processor, "rescale_factor", 1 / 255))
    image = np.clip(np.rint(x), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return _shrink(image, size)


def _shrink(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    if max(h, w) <= size:
        return np.ascontiguousarray(image)
    from PIL import Image

    scale = size / max(h, w)
    small = Image.fromarray(image).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)
    return np.asarray(small, dtype=np.uint8)


def image_layout(config: Any, height: int, width: int) -> tuple[list[str], list[bool], tuple[int, int], np.ndarray]:
    """Token labels, special flags, patch grid and patch positions of a vision transformer's sequence
    for a ``height x width`` input: the family's prefix tokens ([CLS], [DIST], [REG0]...), then the patches.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> labels, special, grid, positions = image_layout(tiny_model("dinov2_with_registers")[0].config, 32, 16)
        >>> labels[:4], grid, positions[:3].tolist(), sum(special)
        (['[CLS]', '[REG0]', '[REG1]', 'patch 0,0'], (4, 2), [3, 4, 5], 3)
    """
    fam = family_of(config)
    patch = getattr(config, "patch_size", None)
    if fam is None or fam.modality != "image" or not patch:
        raise ValueError(f"{getattr(config, 'model_type', '?')!r} is not a vision family attnviz knows: use one "
                         "of " + ", ".join(t for t, f in _families().items() if f.modality == "image"))
    patch = patch if isinstance(patch, int) else int(patch[0])
    prefix: list[str] = []
    for label in fam.prefix_tokens:
        if label == "[REG]":
            prefix += [f"[REG{i}]" for i in range(int(getattr(config, "num_register_tokens", 0) or 0))]
        else:
            prefix.append(label)
    rows, cols = height // patch, width // patch
    labels = prefix + [f"patch {r},{c}" for r in range(rows) for c in range(cols)]
    special = [True] * len(prefix) + [False] * (rows * cols)
    return labels, special, (rows, cols), np.arange(len(prefix), len(labels), dtype=np.int64)


def _families() -> dict:
    from attnviz.families import FAMILIES

    return FAMILIES


# --- running the model --------------------------------------------------------------------------------
class ImageRunner(BatchRunner):
    """A :class:`~attnviz.extraction.batching.BatchRunner` whose items are images: ``pixel_values`` in,
    no padding (a batch's images have one size), the examples labelled by :func:`extract_images`.

    Example:
        >>> import torch
        >>> from attnviz.testing import tiny_model
        >>> from attnviz.modeling import inspection_mode
        >>> model, _ = tiny_model("vit")
        >>> runner = ImageRunner(model, None, None, True, "float32")
        >>> with inspection_mode(model):
        ...     ex, = runner([{"input_ids": [0] * 17, "pixel_values": torch.zeros(3, 32, 32)}], None)
        >>> ex.attentions.shape
        (2, 4, 17, 17)
    """

    def __init__(self, model, layers, heads, hidden, dtype, *, queries=None, reduce_heads=None, streaming=False):
        super().__init__(model, None, layers, heads, hidden, dtype, "right", 0, queries=queries,
                         reduce_heads=reduce_heads, streaming=streaming)
        floats = [p.dtype for p in model.parameters() if p.dtype.is_floating_point]
        self.pixel_dtype = floats[0] if floats else None

    def batch_inputs(self, items, targets):
        import torch

        pixels = torch.stack([it["pixel_values"] for it in items]).to(self.device, self.pixel_dtype)
        return {"pixel_values": pixels}, [0] * len(items), None

    def _example(self, ids, word_ids, offsets) -> Example:
        return Example(tokens=[""] * len(ids))  # labelled by extract_images


class VLMRunner(BatchRunner):
    """A :class:`~attnviz.extraction.batching.BatchRunner` for a vision-language model: the token ids padded
    as for text, the processor's image tensors beside them, and only the language model's attention kept
    (its vision tower runs without weights).

    Example:
        >>> import numpy as np
        >>> from attnviz.testing import tiny_model
        >>> from attnviz.modeling import inspection_mode
        >>> model, processor = tiny_model("llava")
        >>> enc = processor(text=["<image> a cat"], images=[np.zeros((32, 32, 3), "uint8")], return_tensors="pt")
        >>> runner = VLMRunner(model, processor.tokenizer, [0], None, False, "float32")
        >>> item = {"input_ids": enc["input_ids"][0].tolist(), "extras": {"pixel_values": enc["pixel_values"]}}
        >>> with inspection_mode(model):
        ...     ex, = runner([item], None)
        >>> ex.attentions.shape == (1, 4, len(item["input_ids"]), len(item["input_ids"]))
        True
    """

    def __init__(self, model, tokenizer, layers, heads, hidden, dtype, *, queries=None, reduce_heads=None,
                 streaming=False):
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        super().__init__(model, tokenizer, layers, heads, hidden, dtype, "right", pad, queries=queries,
                         reduce_heads=reduce_heads, streaming=streaming)
        self.attention_root = language_model(model)
        floats = [p.dtype for p in model.parameters() if p.dtype.is_floating_point]
        self.pixel_dtype = floats[0] if floats else None

    def batch_inputs(self, items, targets):
        import torch

        inputs, starts, _ = super().batch_inputs(items, None)
        for key in items[0]["extras"]:
            values = [it["extras"][key] for it in items]
            try:
                value = torch.cat(values, 0)
            except RuntimeError as exc:
                raise ValueError(f"the processor's {key} of these examples differ in shape "
                                 f"({[tuple(v.shape) for v in values]}): pass batch_size=1") from exc
            inputs[key] = value.to(self.device, self.pixel_dtype if value.is_floating_point() else None)
        return inputs, starts, None


def language_model(model: Any) -> Any:
    """The language model inside a vision-language model (whose attention over the image tokens is kept).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> type(language_model(tiny_model("idefics3")[0])).__name__
        'LlamaModel'
    """
    for path in ("language_model", "text_model", "model.language_model", "model.text_model"):
        found = submodule(model, path)
        if found is not None and hasattr(found, "config"):
            return found
    getter = getattr(model, "get_decoder", None)
    found = getter() if callable(getter) else None
    if found is None or found is model:
        raise ValueError(f"attnviz found no language model inside this {type(model).__name__}: it knows LLaVA- and "
                         "Idefics3-style models (a language_model or text_model module)")
    return found


def vlm_layout(model: Any, processor: Any, ids: Sequence[int], pixel_values: Any
               ) -> tuple[dict[int, str], tuple[int, int], np.ndarray, Any]:
    """Where one example's image sits among its tokens: labels of the image tokens (position -> label),
    the patch grid, the positions of the (last, global) image's tokens in row-major order, and that
    image's pixels (channel, height, width).

    LLaVA: one token per patch of the vision tower (its [CLS] too with the "full" feature strategy);
    Idefics3 / SmolVLM: one token per ``scale_factor x scale_factor`` patches, the global image last
    after its tiles.

    Example:
        >>> import numpy as np
        >>> from attnviz.testing import tiny_model
        >>> model, processor = tiny_model("idefics3")
        >>> enc = processor(text=["<image> a cat"], images=[[np.zeros((32, 32, 3), "uint8")]], return_tensors="pt")
        >>> labels, grid, positions, _ = vlm_layout(model, processor, enc["input_ids"][0].tolist(), enc["pixel_values"])
        >>> grid, [labels[p] for p in positions]
        ((2, 2), ['patch 0,0', 'patch 0,1', 'patch 1,0', 'patch 1,1'])
    """
    cfg = model.config
    image_id = getattr(cfg, "image_token_id", None)
    if image_id is None:
        image_id = getattr(cfg, "image_token_index", None)
    where = np.flatnonzero(np.asarray(ids) == image_id)
    if image_id is None or not len(where):
        raise ValueError("the processor put no image token in this text: pass the model's own processor")
    vision = cfg.vision_config
    patch = vision.patch_size if isinstance(vision.patch_size, int) else int(vision.patch_size[0])
    pixels = pixel_values.reshape((-1,) + tuple(pixel_values.shape[-3:]))[-1]
    scale = int(getattr(cfg, "scale_factor", 1) or 1)
    rows, cols = int(pixels.shape[-2]) // patch // scale, int(pixels.shape[-1]) // patch // scale
    per_image, labels = rows * cols, {}
    if len(where) == per_image + 1:  # LLaVA with vision_feature_select_strategy="full": the tower's [CLS] first
        labels[int(where[0])] = "[CLS]"
        where = where[1:]
    if per_image < 1 or len(where) % per_image:
        raise ValueError(f"the text has {len(where)} image tokens, which attnviz cannot lay out as "
                         f"{rows} x {cols} patches: pass one image per text with the model's own processor")
    tiles = len(where) // per_image
    for k in range(tiles):
        tag = "" if k == tiles - 1 else f"tile {k} "
        for j, pos in enumerate(where[k * per_image:(k + 1) * per_image]):
            labels[int(pos)] = f"{tag}patch {j // cols},{j % cols}"
    return labels, (rows, cols), where[-per_image:].astype(np.int64), pixels


def _fingerprint(image: Any) -> str:
    array = np.asarray(image)
    return f"image {array.shape}: sha256 " + hashlib.sha256(array.tobytes()).hexdigest()


def extract_images(model: Any, images: Any, *, processor: Any = None, batch_size: int = 8,
                   layers: Sequence[int] | None = None, heads: Sequence[int] | None = None,
                   hidden_states: bool = True, dtype: str = "float32", progress: bool | None = None,
                   queries: Any = None, reduce_heads: str | None = None, out: str | os.PathLike | None = None,
                   shard_size: int = 32, texts: Any = None) -> Capture:
    """:func:`attnviz.extract` with images: a vision transformer on ``images``, or with ``texts`` a
    vision-language model on each text with its image (one image per text).

    The options mean what they mean for texts; ``queries=`` counts positions in each example's token
    sequence ([CLS] is 0; for a vision-language model e.g. ``"last"``, the last text token, whose rows
    over the image tokens are its map over the image). See the module docstring for what each
    example records. A text without the processor's image token gets it in front (``"<image>\n"``).

    Example:
        >>> import numpy as np
        >>> from attnviz.testing import tiny_model
        >>> model, processor = tiny_model("siglip_vision_model")
        >>> cap = extract_images(model, [np.ones((32, 32, 3), "float32")], processor=processor, layers=[1], queries=[5])
        >>> cap[0].attentions.shape, cap[0].patch_grid, cap[0].special_mask[:2]
        ((1, 4, 1, 16), (4, 4), [False, False])
        >>> model, processor = tiny_model("llava")
        >>> ex = extract_images(model, [np.zeros((32, 32, 3), "uint8")], texts=["a cat"], processor=processor)[0]
        >>> ex.modality, ex.patch_grid, ex.tokens[ex.patch_positions[0]], ex.display_tokens[-1]
        ('image+text', (4, 4), 'patch 0,0', 'cat')
    """
    modality = "image" if texts is None else "image+text"
    if isinstance(model, (str, os.PathLike)):
        processor = processor_for(model, processor, modality=modality)
        model = load_image_model(model)
    processor = processor_for(model, processor, modality=modality)
    found = model_modality(model)
    if found != modality:
        raise ValueError(f"this {type(model).__name__} ({model.config.model_type!r}) "
                         + ("does not take images: pass a vision transformer (ViT, DeiT, DINOv2, CLIP or SigLIP "
                            "vision model), or texts for a text model" if found == "text" and texts is None else
                            "is a vision-language model: pass texts with images=" if found == "image+text" else
                            "takes no texts with its images: pass the images alone"
                            if found == "image" else "takes no images: pass texts alone"))
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported: use one of {DTYPES}")
    check_count(batch_size, "batch_size")
    pictures = load_images(images)
    plan = _prepare_vlm(model, processor, texts, pictures) if texts is not None else \
        _prepare_vit(model, processor, pictures, images)
    return _drive(plan, batch_size=batch_size, layers=layers, heads=heads, hidden_states=hidden_states,
                  dtype=dtype, progress=progress, queries=queries, reduce_heads=reduce_heads, out=out,
                  shard_size=shard_size)


def _prepare_vit(model: Any, processor: Any, pictures: list, images: Any) -> dict:
    """Items, labelling and runner of a vision transformer's extraction."""
    tower = vision_tower(model)
    cfg = tower.config
    try:
        pixels = processor(images=pictures, return_tensors="pt")["pixel_values"]
    except Exception as exc:  # processors raise many types for inputs they cannot take
        raise ValueError(f"the processor ({type(processor).__name__}) could not prepare the images ({exc}): pass "
                         "the model's own image processor") from exc
    if pixels.ndim != 4 or pixels.shape[1] != getattr(cfg, "num_channels", 3):
        raise ValueError(f"the processor gave pixel_values of shape {tuple(pixels.shape)}, not (image, "
                         f"{getattr(cfg, 'num_channels', 3)}, height, width): pass the model's own image processor")
    labels, special, grid, positions = image_layout(cfg, int(pixels.shape[2]), int(pixels.shape[3]))
    names = [str(v) if isinstance(v, (str, os.PathLike)) else None
             for v in (images if isinstance(images, (list, tuple)) else [images])]

    def label(ex: Example, i: int) -> Example:
        ex.tokens, ex.display_tokens, ex.special_mask = list(labels), list(labels), list(special)
        ex.modality, ex.patch_grid, ex.patch_positions = "image", grid, positions.copy()
        ex.image = thumbnail(pixels[i], processor)
        ex.text = names[i]  # the image file's path, if it came from one
        return ex

    return {"model": tower, "selection_model": tower, "runner": ImageRunner, "tokenizer": None,
            "items": [{"input_ids": [0] * len(labels), "pixel_values": pixels[i]} for i in range(len(pictures))],
            "label": label, "digest": [_fingerprint(p) for p in pictures]}


def _prepare_vlm(model: Any, processor: Any, texts: Any, pictures: list) -> dict:
    """Items, labelling and runner of a vision-language model's extraction (one image per text)."""
    from attnviz.extraction.inputs import as_texts
    from attnviz.extraction.tokens import display_tokens, is_byte_level

    texts = as_texts(texts, "texts")
    if len(pictures) != len(texts):
        raise ValueError(f"there are {len(texts)} texts and {len(pictures)} images: pass one image per text")
    tokenizer = getattr(processor, "tokenizer", None)
    token = getattr(processor, "image_token", None) or getattr(tokenizer, "image_token", None)
    if tokenizer is None or not isinstance(token, str):
        raise TypeError(f"processor is a {type(processor).__name__}, not a vision-language processor (with a "
                        "tokenizer and an image token): pass the model's AutoProcessor")
    texts = [t if token in t else f"{token}\n{t}" for t in texts]
    image_processor = getattr(processor, "image_processor", processor)
    items, layouts = [], []
    for text, picture in zip(texts, pictures, strict=True):
        if text.count(token) != 1:
            raise ValueError(f"the text {text[:40]!r} holds {text.count(token)} image tokens {token!r}: "
                             "attnviz takes one image per text, so write the token once (or not at all)")
        enc = processor(text=[text], images=[[picture]], return_tensors="pt")
        ids = enc["input_ids"][0].tolist()
        extras = {k: v for k, v in enc.items() if k not in ("input_ids", "attention_mask", "token_type_ids")}
        layouts.append(vlm_layout(model, processor, ids, enc["pixel_values"]))
        items.append({"input_ids": ids, "extras": extras})
    byte_level = is_byte_level(tokenizer)
    # the processor's marker tokens (e.g. Idefics3's <global-img>) are added special tokens that
    # all_special_ids may leave out
    added = {int(k) for k, v in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items()
             if getattr(v, "special", False)}

    def label(ex: Example, i: int) -> Example:
        labels, grid, positions, pixels = layouts[i]
        tokens = list(ex.tokens)
        shown = display_tokens(tokens, byte_level=byte_level)
        special = [bool(s) or int(t) in added for s, t in
                   zip(ex.special_mask or [False] * len(tokens), items[i]["input_ids"], strict=True)]
        for pos, name in labels.items():
            tokens[pos] = shown[pos] = name
            special[pos] = name == "[CLS]"
        ex.tokens, ex.display_tokens, ex.special_mask = tokens, shown, special
        ex.modality, ex.patch_grid, ex.patch_positions = "image+text", grid, positions.copy()
        ex.image = thumbnail(pixels, image_processor)
        ex.text = texts[i]
        return ex

    lm = language_model(model)
    return {"model": model, "selection_model": lm, "runner": VLMRunner, "tokenizer": tokenizer, "items": items,
            "label": label, "digest": {"texts": texts, "images": [_fingerprint(p) for p in pictures]},
            "is_decoder": True}


def _drive(plan: dict, *, batch_size: int, layers: Any, heads: Any, hidden_states: bool, dtype: str,
           progress: bool | None, queries: Any, reduce_heads: str | None, out: Any, shard_size: int) -> Capture:
    """Run a prepared extraction in batches (shard by shard with ``out``), per layer, eager as the fallback."""
    from attnviz.extraction.running import check_selection, open_writer, run_batches
    from attnviz.extraction.streaming import NAME as STREAMING
    from attnviz.extraction.streaming import query_spec_json

    model, items, label = plan["model"], plan["items"], plan["label"]
    lengths = [len(it["input_ids"]) for it in items]
    keep_layers, keep_heads = check_selection(plan["selection_model"], layers, heads, queries, reduce_heads, lengths)
    writer = open_writer(out, plan["digest"], shard_size, model=model, selection_model=plan["selection_model"],
                         dtype=dtype, reduce_heads=reduce_heads, queries=queries, keep_layers=keep_layers,
                         keep_heads=keep_heads)

    def wrap(run: BatchRunner, examples: list) -> Capture:
        cap = capture_from(model, examples, num_layers=run.num_layers, num_heads=run.num_heads,
                           layers=run.kept_layers, heads=run.heads, dtype=dtype,
                           attn_implementation=STREAMING if run.streaming else "eager",
                           queries=query_spec_json(run.queries), reduce_heads=run.reduce)
        cap.is_decoder = cap.is_decoder or plan.get("is_decoder", False)
        return cap

    def make_runner(streaming: bool) -> BatchRunner:
        args = (model,) if plan["tokenizer"] is None else (model, plan["tokenizer"])
        return plan["runner"](*args, keep_layers, keep_heads, hidden_states, dtype, queries=queries,
                              reduce_heads=reduce_heads, streaming=streaming)

    def run_batch(run: BatchRunner, batch: list[int]) -> list[Example]:
        return [label(ex, i) for i, ex in zip(batch, run([items[i] for i in batch], None), strict=True)]

    return run_batches(model, lengths, batch_size=batch_size, writer=writer, progress=progress,
                       make_runner=make_runner, run_batch=run_batch, wrap=wrap, stacklevel=5)
