"""``neuroclip cache list`` and ``neuroclip cache prune``: the feature cache as a user sees it (registered by
:mod:`neuroclip.cli.main`). They read folders and JSON only, so they start without torch."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

cache_app = typer.Typer(
    help="See the feature cache (what each entry is, its size, when a run last used it) and free its space.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)

CacheDirOption = typer.Option(None, "--cache-dir", help="Feature cache (default ~/.cache/neuroclip, or "
                                                        "$NEUROCLIP_CACHE).")


def _size(n_bytes: float) -> str:
    if n_bytes < 1000:
        return f"{n_bytes:.0f} B"
    for unit in ("KB", "MB", "GB"):
        n_bytes /= 1000
        if n_bytes < 1000 or unit == "GB":
            return f"{n_bytes:.1f} {unit}"


def _cache(cache_dir: Path | None):
    from neuroclip.cache import FeatureCache
    from neuroclip.errors import ConfigError

    cache = FeatureCache(cache_dir)
    if cache.root.exists() and not cache.root.is_dir():
        raise ConfigError(f"--cache-dir {cache.root} is a file, not a cache folder")
    return cache


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))


@cache_app.command("list")
def list_command(
    cache_dir: Path | None = CacheDirOption,
    as_json: bool = typer.Option(False, "--json", help="Print the entries as a JSON list."),
):
    """Print every entry of the feature cache: what it holds, its size and when a run last used it."""
    cache = _cache(cache_dir)
    entries = cache.entries()
    if as_json:
        typer.echo(json.dumps([entry.describe() for entry in entries], indent=2))
        return
    header = ("key", "state", "dataset", "split", "model", "encoding", "T", "recordings", "size", "last used",
              "root", "")
    table = [header]
    for entry in entries:
        row = entry.describe()
        note = {False: "other version or damaged (prune removes it)", None: "configuration unknown"}.get(
            entry.current, "")
        table.append((row["key"][:12], row["state"], str(row["dataset"] or "-"), str(row["split"] or "-"),
                      str(row["model"] or "-"), str(row["encoding"] or "-"), str(row["frames"] or "-"),
                      "-" if row["recordings"] is None else str(row["recordings"]), _size(row["bytes"]),
                      _when(row["last_used"]), str(row["root"] or "-"), note))
    if entries:
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        for r in table:
            typer.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    total = sum(entry.bytes for entry in entries)
    typer.echo(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, {_size(total)} in {cache.features_root}")


@cache_app.command("prune")
def prune_command(
    cache_dir: Path | None = CacheDirOption,
    unused_days: float | None = typer.Option(None, "--unused-days", min=0,
                                             help="Also remove entries no run has read or written for this many "
                                                  "days."),
    everything: bool = typer.Option(False, "--all", help="Remove every entry."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only print what would be removed."),
):
    """Remove the entries this neuroclip version cannot read (written by another version, or damaged), and with
    --unused-days or --all more; every later run recomputes what it needs."""
    cache = _cache(cache_dir)
    entries = cache.entries()  # listed once: a rows folder's count opens each of its files
    chosen = cache.prunable(unused_days=unused_days, everything=everything, entries=entries)
    for entry, reason in chosen:
        if not dry_run:
            cache.remove(entry)
        typer.echo(f"{'would remove' if dry_run else 'removed'} {entry.path} ({_size(entry.bytes)}; {reason})")
    freed = sum(entry.bytes for entry, _ in chosen)
    kept = len(entries) - len(chosen)
    typer.echo(f"{'would free' if dry_run else 'freed'} {_size(freed)} from {len(chosen)} "
               f"entr{'y' if len(chosen) == 1 else 'ies'}; {kept} kept in {cache.features_root}")
