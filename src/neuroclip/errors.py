"""The package's own exceptions.

Every mistake a user can make (a bad file, an impossible parameter, a missing model) raises a subclass of
:class:`NeuroclipError` whose message names the problem and the fix. The CLI prints that message on one line and
exits with code 2.
"""

from __future__ import annotations


class NeuroclipError(Exception):
    """Base class of every error neuroclip raises on purpose."""


class InvalidEventsError(NeuroclipError, ValueError):
    """An event array breaks the stream's contract (coordinates, time order, dtype)."""


class EmptyStreamError(InvalidEventsError):
    """An operation needs at least one event and got none."""


class EventFileError(NeuroclipError, ValueError):
    """A recording could not be read: it is truncated, corrupt, or not in the format its name or header claims."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class UnknownFormatError(EventFileError):
    """No reader recognises the file's extension or header."""


class ConfigError(NeuroclipError, ValueError):
    """A parameter has an impossible value (negative, NaN, of the wrong kind)."""


class MissingDependencyError(NeuroclipError, ImportError):
    """An optional package needed for this operation is not installed."""

    def __init__(self, package: str, purpose: str, extra: str | None = None):
        hint = f"pip install {package}" if extra is None else f"pip install 'neuroclip[{extra}]'"
        super().__init__(f"{purpose} needs the package '{package}', which is not installed; run: {hint}")
