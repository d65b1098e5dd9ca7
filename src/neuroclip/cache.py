"""An on-disk cache of per-frame CLIP features, so few-shot experiments and re-runs take seconds.

Layout under the cache root (``$NEUROCLIP_CACHE``, default ``~/.cache/neuroclip``)::

    features/<key>/manifest.json        written last: its presence marks a complete entry
    features/<key>/shard-00000.npz      features [n, T, C], labels [n], indices [n] of one shard of samples
    features/<key>.partial/...          an extraction in progress (resumed shard by shard after an interruption)
    features/<key>.rows/rows-*.npz      some recordings of a split (a few-shot run's draws), one file per run that
                                        encoded recordings the folder lacked; later files win for a repeated index
    features/<key>*/config.json         the configuration, in the ``.partial`` and ``.rows`` folders

Reading an entry marks it used (its manifest's or config.json's modification time), so that ``neuroclip cache
prune --unused-days N`` can tell what no run has read for a while; ``neuroclip cache list`` shows every entry.

The key is a hash of everything the features depend on: dataset, split, the sample list, framing and encoding
parameters, backbone and weights, feature dtype and the package version. Every shard is written to a temporary
file and renamed into place, and a finished entry is renamed from ``.partial`` in one step, so a crash never
leaves a half-written entry that looks complete. A stale (other key contents), partial or corrupt entry is
detected on loading, reported, and rebuilt; it is never silently reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuroclip.errors import ConfigError, NeuroclipError

MANIFEST = "manifest.json"
CONFIG = "config.json"
FORMAT_VERSION = 1


# messages about the cache (an entry discarded and rebuilt); the command line prints them as one line each
LOG = logging.getLogger("neuroclip")


class CacheError(NeuroclipError):
    """A cache entry is unusable (corrupt, partial or stale); it will be rebuilt."""


def default_root() -> Path:
    return Path(os.environ.get("NEUROCLIP_CACHE", Path.home() / ".cache" / "neuroclip")).expanduser()


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def cache_key(config: dict) -> str:
    from neuroclip import __version__

    return hashlib.sha256(canonical_json({"config": config, "version": __version__,
                                          "format": FORMAT_VERSION}).encode()).hexdigest()[:24]


def samples_digest(samples) -> str:
    """A hash of the (path, label) list, so an added, removed or relabelled file changes the key."""
    digest = hashlib.sha256()
    for path, label in samples:
        digest.update(f"{path}\t{label}\n".encode())
    return digest.hexdigest()[:16]


@dataclass
class CachedFeatures:
    """Features [N, T, C] (float32), labels [N] and the sample indices [N] they belong to, plus the config."""

    features: np.ndarray
    labels: np.ndarray
    indices: np.ndarray
    config: dict
    path: Path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fp:
        for block in iter(lambda: fp.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_shard(folder: Path, shard: int | str, features: np.ndarray, labels: np.ndarray,
                indices: np.ndarray) -> Path:
    """Write one shard atomically (temporary file, then rename); ``shard`` is its number or its file's stem."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"shard-{shard:05d}" if isinstance(shard, int) else shard
    final = folder / f"{stem}.npz"
    temporary = folder / f".{stem}.{os.getpid()}.tmp"
    with open(temporary, "wb") as fp:
        np.savez(fp, features=features, labels=labels, indices=indices)
        fp.flush()
        os.fsync(fp.fileno())
    os.replace(temporary, final)
    return final


@contextmanager
def open_shard(path: Path):
    """A shard's archive, whose members are read when asked for; any failure reading it is a CacheError."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            yield archive
    except Exception as error:  # a damaged zip or array raises many kinds
        raise CacheError(f"cache shard {path} is unreadable ({type(error).__name__}: {error})") from None


def read_shard(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with open_shard(path) as archive:
        return archive["features"], archive["labels"], archive["indices"]


def _write_config(folder: Path, config: dict) -> None:
    """``folder``/config.json, written atomically once."""
    folder.mkdir(parents=True, exist_ok=True)
    described = folder / CONFIG
    if not described.exists():
        temporary = folder / f".{CONFIG}.{os.getpid()}.tmp"
        temporary.write_text(json.dumps(config, indent=1, default=str))
        os.replace(temporary, described)


def _mark_used(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:  # a cache shared read-only: reading it still works, the mark is only for pruning
        pass


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class CacheEntry:
    """One folder of the cache (``neuroclip cache list``). ``current`` is whether this neuroclip version reads it:
    its name is the key of its configuration now (False after a package upgrade or for a damaged entry; None for
    an interrupted extraction that recorded no configuration, so it cannot tell)."""

    path: Path
    # 'complete' (a split's features), 'partial' (an interrupted extraction, which a run with the same
    # configuration resumes) or 'rows' (some recordings of a split, stored by few-shot runs)
    state: str
    config: dict | None
    bytes: int
    recordings: int | None
    last_used: float  # POSIX seconds: last read or written
    current: bool | None

    @property
    def key(self) -> str:
        return self.path.name.split(".")[0]

    def describe(self) -> dict:
        """The entry as plain values (``neuroclip cache list --json``)."""
        config = self.config or {}
        backbone, frames = config.get("backbone") or {}, config.get("frames") or {}
        return {"path": str(self.path), "key": self.key, "state": self.state, "current": self.current,
                "dataset": config.get("dataset"), "split": config.get("split"), "root": config.get("root"),
                "model": backbone.get("model"), "pretrained": backbone.get("pretrained"),
                "encoding": frames.get("encoding"), "frames": frames.get("n_frames"),
                "recordings": self.recordings, "bytes": self.bytes, "last_used": self.last_used}


def _count_indices(paths) -> int | None:
    """How many distinct recordings the readable shards among ``paths`` hold (reads only their index member)."""
    seen = []
    for path in paths:
        try:
            with open_shard(path) as archive:
                seen.append(archive["indices"])
        except CacheError:
            continue
    return int(np.unique(np.concatenate(seen)).size) if seen else None


def same_config(stored, config: dict) -> bool:
    """Whether a configuration read back from JSON is ``config`` (compared as canonical JSON)."""
    return json.loads(canonical_json(stored)) == json.loads(canonical_json(config))


class FeatureCache:
    """Feature cache entries keyed by their full configuration."""

    def __init__(self, root=None):
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.features_root = self.root / "features"

    def entry(self, config: dict) -> Path:
        return self.features_root / cache_key(config)

    def partial(self, config: dict) -> Path:
        return self.features_root / (cache_key(config) + ".partial")

    def start(self, config: dict) -> Path:
        """The folder an extraction of ``config`` writes its shards to, with its configuration recorded (so that
        ``neuroclip cache list`` can say what an interrupted extraction was)."""
        folder = self.partial(config)
        _write_config(folder, config)
        return folder

    def completed_shards(self, config: dict) -> set[int]:
        """Shards an interrupted extraction already finished (their files are complete: they were renamed)."""
        folder = self.partial(config)
        if not folder.is_dir():
            return set()
        done = set()
        for path in folder.glob("shard-*.npz"):
            try:
                read_shard(path)
            except CacheError as error:
                LOG.warning(f"discarding the unfinished cache shard {path}: {error}; it will be computed again")
                path.unlink()
                continue
            done.add(int(path.stem.split("-")[1]))
        return done

    def finalize(self, config: dict, n_shards: int) -> Path:
        """Write the manifest of a finished extraction and move it into place."""
        folder = self.partial(config)
        shards = [folder / f"shard-{i:05d}.npz" for i in range(n_shards)]
        missing = [p.name for p in shards if not p.exists()]
        if missing:
            raise CacheError(f"cannot finish the cache entry: shards {missing[:5]} are missing")
        manifest = {
            "config": config,
            "key": cache_key(config),
            "shards": [{"file": p.name, "sha256": file_sha256(p), "bytes": p.stat().st_size} for p in shards],
        }
        temporary = folder / f".{MANIFEST}.tmp"
        temporary.write_text(json.dumps(manifest, indent=1, default=str))
        os.replace(temporary, folder / MANIFEST)
        final = self.entry(config)
        if final.exists():
            shutil.rmtree(final)
        os.replace(folder, final)
        return final

    def load(self, config: dict, verify: str = "size", indices=None) -> CachedFeatures | None:
        """The cached features for ``config``, or None if there are none or the entry is unusable (then it is
        removed, with a warning saying why). ``verify`` is ``'size'`` (fast) or ``'sha256'`` (reads every byte).
        ``indices``: only those samples, in that order (repeats allowed), read from the shards that hold them, so
        that a few rows of a large split never load the whole split; their ``indices`` are then positions in
        ``indices``."""
        folder = self.entry(config)
        if not folder.exists():
            return None
        try:
            loaded = self._load(folder, config, verify, indices)
        except CacheError as error:
            LOG.warning(f"discarding the feature cache entry {folder}: {error}; it will be rebuilt")
            shutil.rmtree(folder, ignore_errors=True)
            return None
        _mark_used(folder / MANIFEST)
        return loaded

    def _load(self, folder: Path, config: dict, verify: str, wanted=None) -> CachedFeatures:
        manifest_path = folder / MANIFEST
        if not manifest_path.is_file():
            raise CacheError("it has no manifest (an unfinished write)")
        try:
            manifest = json.loads(manifest_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CacheError("its manifest is not valid JSON") from None
        if not same_config(manifest.get("config"), config):
            raise CacheError("its manifest describes another configuration (stale entry)")
        paths = []
        for shard in manifest.get("shards", []):
            path = folder / shard["file"]
            if not path.is_file() or path.stat().st_size != shard["bytes"]:
                raise CacheError(f"shard {shard['file']} is missing or has the wrong size")
            if verify == "sha256" and file_sha256(path) != shard["sha256"]:
                raise CacheError(f"shard {shard['file']} fails its checksum")
            paths.append(path)
        if not paths:
            raise CacheError("it holds no shards")
        if wanted is not None:
            return self._take(paths, np.asarray(wanted, dtype=np.int64), manifest["config"], folder)
        parts = [read_shard(path) for path in paths]
        features = np.concatenate([p[0] for p in parts]).astype(np.float32, copy=False)
        labels = np.concatenate([p[1] for p in parts])
        indices = np.concatenate([p[2] for p in parts])
        order = np.argsort(indices, kind="stable")
        features, labels, indices = features[order], labels[order], indices[order]
        if np.any(np.diff(indices) <= 0):
            raise CacheError("its shards repeat samples")
        return CachedFeatures(features, labels, indices, manifest["config"], folder)

    @staticmethod
    def _take(paths, wanted: np.ndarray, config: dict, folder: Path) -> CachedFeatures:
        features, labels, found = None, np.empty(wanted.size, np.int64), np.zeros(wanted.size, bool)
        for path in paths:
            with open_shard(path) as archive:
                indices = archive["indices"]  # a member is read when asked for: the features only if needed
                hit = np.isin(wanted, indices)
                if not hit.any():
                    continue
                order = np.argsort(indices, kind="stable")
                rows = order[np.searchsorted(indices, wanted[hit], sorter=order)]
                shard = archive["features"]
                if features is None:
                    features = np.empty((wanted.size, *shard.shape[1:]), np.float32)
                features[hit], labels[hit], found[hit] = shard[rows], archive["labels"][rows], True
        if not found.all():
            raise CacheError(f"it lacks samples {wanted[~found][:5].tolist()}")
        return CachedFeatures(features, labels, np.arange(wanted.size), config, folder)

    def rows(self, config: dict) -> Path:
        """The folder of ``config``'s split encoded a few recordings at a time (:meth:`add_rows`)."""
        return self.features_root / (cache_key(config) + ".rows")

    def add_rows(self, config: dict, features: np.ndarray, labels: np.ndarray, indices: np.ndarray) -> Path:
        """Store the features of some recordings of ``config``'s split (``indices`` into it), atomically, as one
        new file: a few-shot run adds the drawn recordings that earlier runs did not encode."""
        folder = self.rows(config)
        _write_config(folder, config)
        # named by time, so that sorting the names gives the order they were written in
        return write_shard(folder, f"rows-{time.time_ns():020d}-{os.getpid()}", features, labels, indices)

    def load_rows(self, config: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The recordings of ``config``'s split stored by :meth:`add_rows`, as (features [n, T, C] float32, labels,
        indices) sorted by index, or None. An unreadable file is removed with a warning (its recordings are
        encoded again); a folder made for another configuration is discarded."""
        folder = self.rows(config)
        if not folder.is_dir():
            return None
        stored = _read_json(folder / CONFIG)
        if stored is None or not same_config(stored, config):
            LOG.warning(f"discarding the feature cache rows {folder}: they describe another configuration or none; "
                        f"they will be rebuilt")
            shutil.rmtree(folder, ignore_errors=True)
            return None
        parts = []
        for path in sorted(folder.glob("rows-*.npz")):
            try:
                parts.append(read_shard(path))
            except CacheError as error:
                LOG.warning(f"discarding the cache rows {path}: {error}; they will be computed again")
                path.unlink(missing_ok=True)
        if not parts:
            return None
        _mark_used(folder / CONFIG)
        features = np.concatenate([p[0] for p in parts]).astype(np.float32, copy=False)
        labels, indices = np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])
        # the last copy of a repeated index (a refreshed recording) wins: unique over the reversed order
        _, last = np.unique(indices[::-1], return_index=True)
        keep = indices.size - 1 - last
        return features[keep], labels[keep], indices[keep]

    def entries(self) -> list[CacheEntry]:
        """Every entry under the cache, the most recently used first."""
        if not self.features_root.is_dir():
            return []
        found = [self._entry(folder) for folder in self.features_root.iterdir() if folder.is_dir()]
        return sorted(found, key=lambda entry: entry.last_used, reverse=True)

    @staticmethod
    def _entry(folder: Path) -> CacheEntry:
        files = [path for path in folder.iterdir() if path.is_file()]
        stats = [path.stat() for path in files]
        size = sum(stat.st_size for stat in stats)
        last_used = max([stat.st_mtime for stat in stats], default=folder.stat().st_mtime)
        key, _, suffix = folder.name.partition(".")
        if suffix in ("partial", "rows"):
            config = _read_json(folder / CONFIG)
            shards = sorted(folder.glob("shard-*.npz" if suffix == "partial" else "rows-*.npz"))
            recordings = _count_indices(shards)
        else:
            suffix, manifest = "complete", _read_json(folder / MANIFEST)
            config = manifest.get("config") if isinstance(manifest, dict) else None
            recordings = config.get("n_samples") if isinstance(config, dict) else None
        if not isinstance(config, dict):
            config = None
        current = (cache_key(config) == key) if config is not None else (None if suffix == "partial" else False)
        return CacheEntry(folder, suffix, config, size, recordings, last_used, current)

    def prunable(self, unused_days: float | None = None, everything: bool = False,
                 entries: list[CacheEntry] | None = None) -> list[tuple[CacheEntry, str]]:
        """The entries ``neuroclip cache prune`` removes, each with the reason: those this version cannot read
        (written by another version, or damaged), those no run read or wrote for ``unused_days`` days, or all.
        ``entries``: a listing from :meth:`entries` already made (else the cache is listed again)."""
        if unused_days is not None and unused_days < 0:
            raise ConfigError(f"--unused-days must be >= 0, got {unused_days}")
        if everything and unused_days is not None:
            raise ConfigError("--all removes every entry, used or not: drop --unused-days (or --all)")
        now = time.time()
        cutoff = None if unused_days is None else now - unused_days * 86400
        chosen = []
        for entry in self.entries() if entries is None else entries:
            if everything:
                chosen.append((entry, "all entries asked for"))
            elif entry.current is False:
                chosen.append((entry, "not readable by this neuroclip version (another version's, or damaged)"))
            elif cutoff is not None and entry.last_used < cutoff:
                chosen.append((entry, f"unused for {(now - entry.last_used) / 86400:.1f} days"))
        return chosen

    def remove(self, entry: CacheEntry) -> None:
        """Delete one entry's folder (only a folder directly under this cache's ``features``)."""
        if entry.path.parent.resolve() != self.features_root.resolve():
            raise ConfigError(f"{entry.path} is not an entry of the cache {self.root}")
        try:
            shutil.rmtree(entry.path)
        except FileNotFoundError:  # another process removed it first
            pass

    def clear(self) -> None:
        shutil.rmtree(self.features_root, ignore_errors=True)
