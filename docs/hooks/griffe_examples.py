"""Griffe extension: attnviz docstrings title their doctest section ``Example:``; read it as Google's ``Examples:``.

So mkdocstrings renders the ``>>>`` lines as code (a Python console block) instead of Markdown text. Sphinx
roles (``:func:`attnviz.extract```) are shown as code.
"""
from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):`~?([^`]+)`")
_EXAMPLE = re.compile(r"(?m)^(\s*)Examples?(?: \([^\n]*\))?:[ \t]*$")


class ExampleSections(griffe.Extension):
    """Rename each docstring's ``Example:`` section to ``Examples:`` as objects are loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            text = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
            obj.docstring.value = _ROLE.sub(r"`\1`", text)  # Sphinx roles (:func:`x`) as code
