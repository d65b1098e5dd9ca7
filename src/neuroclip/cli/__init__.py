"""The ``neuroclip`` command line: thin commands over the library's public API.

``main`` (the console script) and ``app`` live in :mod:`neuroclip.cli.main`; ``frames`` and the ``spikeclip``
commands in their own modules.
"""

from neuroclip.cli.main import app, main

__all__ = ["app", "main"]
