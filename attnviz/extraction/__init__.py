"""The extraction pipeline behind :func:`attnviz.extract` and :func:`attnviz.extract_generation`.

:mod:`~attnviz.extraction.extract` (the entry point), :mod:`~attnviz.extraction.inputs`
(texts and tokenizer checks), :mod:`~attnviz.extraction.batching` (batches, padding
removed), :mod:`~attnviz.extraction.streaming` (the layer-by-layer attention function),
:mod:`~attnviz.extraction.tokens` (display tokens), :mod:`~attnviz.extraction.generate`
(generation), :mod:`~attnviz.extraction.intervene` (attention edits: knockout, scaling, patching)
and :mod:`~attnviz.extraction.images` (vision transformers and vision-language models). Nothing is
imported here, so the submodule names stay modules
(``attnviz.extract`` is the function).

Example:
    >>> import attnviz.extraction.extract as ex
    >>> ex.extract is __import__("attnviz").extract
    True
"""
