"""The version of attnviz, in a module of its own so that modules inside the package need
not import the package root (``attnviz.__version__`` re-exports it).

Example:
    >>> isinstance(__version__, str)
    True
"""
__version__ = "0.1.0"
