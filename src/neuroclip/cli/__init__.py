"""The ``neuroclip`` command line: thin commands over the library's public API.

``main`` (the console script) and ``app`` live in :mod:`neuroclip.cli.main`; ``frames`` and the ``spikeclip``
commands in their own modules. Nothing here imports torch at import time, so ``neuroclip info`` starts fast.
"""

from neuroclip.cli.main import app, main, normalise_list_arguments

__all__ = ["app", "main", "normalise_list_arguments"]
