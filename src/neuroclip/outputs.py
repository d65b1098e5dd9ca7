"""Every file neuroclip writes goes through here: checked before the slow work, written atomically, with the
permissions the user's umask asks for.

* :func:`check_output_file` / :func:`check_output_dir` refuse, with one clear message, an output that cannot be
  written (a folder where a file is expected, a file where a folder is expected, an unwritable place), so a command
  fails before it spends minutes on work it could not save.
* :func:`atomic_write` writes through a temporary file renamed into place: a kill never leaves a partial file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from neuroclip.errors import ConfigError

_UMASK: int | None = None


def _umask() -> int:
    """The process's umask (read once: reading it means setting it, so it is put straight back)."""
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()


def check_output_file(path, what: str = "output", suffixes: tuple[str, ...] | None = None) -> Path:
    """``path`` as an output file that can be written: not a folder, in a folder that exists or can be made and
    that we may write to, with one of ``suffixes`` (lower case, with the dot) when given."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder; give a file name (e.g. {path / 'result'}"
                          f"{suffixes[0] if suffixes else '.json'})")
    if suffixes and path.suffix.lower() not in suffixes:
        raise ConfigError(f"{what} {path}: the name must end in {' or '.join(suffixes)}")
    _check_writable_place(path.parent, what, path)
    return path


def check_output_dir(path, what: str = "output folder") -> Path:
    """``path`` as an output folder: an existing folder we may write to, or a new one we can make."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path} is a file, not a folder; give a folder name (it is created if needed)")
    _check_writable_place(path if path.exists() else path.parent, what, path)
    return path


def _check_writable_place(folder: Path, what: str, target: Path) -> None:
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise ConfigError(f"{what} {target}: {existing} is a file, so no folder can be made there")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {target}: no permission to write in {existing}; choose another place")


def atomic_write(path, write_to) -> Path:
    """Call ``write_to(file_object)`` on a temporary file beside ``path``, then rename it into place.

    A crash or Ctrl-C mid-write leaves the old file (or none), never a half-written one. The file gets the mode a
    plain ``open()`` would give it under the user's umask (a temporary file is private until it is renamed).
    """
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as fp:
            write_to(fp)
            fp.flush()
            os.fsync(fp.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
