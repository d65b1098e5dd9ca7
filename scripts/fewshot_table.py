"""Markdown tables of ``neuroclip fewshot`` result JSONs: one row per method, one column per number of shots, mean ±
sample std of top-1 (%) over the seeds, and the labelled recordings each column used. With ``--compare METHOD``,
also METHOD minus every other method, in top-1 points, paired by seed and test recording, with a 95% bootstrap
interval (:func:`neuroclip.fewshot.paired_differences`). With ``--size`` as well, how large a comparison would
decide each difference, were it the true one: the scored recordings and the draws of shots it would need
(:func:`neuroclip.fewshot.comparison_size`).

    python scripts/fewshot_table.py results/nmnist_heldout_mini_fewshot.json [more.json ...] [--compare METHOD]
        [--size]
"""

import argparse
import json

from neuroclip.errors import ConfigError
from neuroclip.fewshot import comparison_size, paired_differences


def table(record: dict, path: str) -> str:
    summary = record["summary"]
    shots = sorted({e["shots"] for e in summary if e["shots"] > 0})
    zero = next((e for e in summary if e["method"] == "zeroshot"), None)
    config = record["config"]
    lines = [f"{path}: {config.get('model')}, encoding {config['frames']['encoding']}, protocol "
             f"{config['protocol']}, seeds {config['seeds']}", "",
             "| method | " + " | ".join(f"{k} shot{'s' if k > 1 else ''}" for k in shots) + " |",
             "|---" * (len(shots) + 1) + "|"]
    if zero is not None:
        lines.append("| zero-shot | " + " | ".join(f"{100 * zero['top1_mean']:.1f}" for _ in shots) + " |")
    for method in dict.fromkeys(e["method"] for e in summary if e["method"] != "zeroshot"):
        cells = {e["shots"]: e for e in summary if e["method"] == method}
        lines.append(f"| {method} | " + " | ".join(
            f"{100 * cells[k]['top1_mean']:.1f} ± {100 * cells[k]['top1_std']:.1f}" if k in cells else "–"
            for k in shots) + " |")
    labelled = {e["shots"]: e.get("n_labelled") for e in summary if e["shots"] > 0}
    lines.append("| labelled recordings used | " + " | ".join(str(labelled.get(k)) for k in shots) + " |")
    return "\n".join(lines)


def pairs_table(record: dict, method: str, title: str, first_column: str, pair, cell) -> str:
    """``title`` and a table of METHOD against every other method of ``record``: one row per other method, one
    column per number of shots of METHOD; ``pair(results, method, other)`` gives one entry per number of shots
    (a dict with ``shots``), which ``cell`` shows."""
    results = record["results"]
    shots = sorted({r["shots"] for r in results if r["method"] == method and r["shots"] > 0})
    lines = [title, "", f"| {first_column} | " + " | ".join(f"{k} shot{'s' if k > 1 else ''}" for k in shots) + " |",
             "|---" * (len(shots) + 1) + "|"]
    for other in [m for m in dict.fromkeys(r["method"] for r in results) if m != method]:
        cells = {e["shots"]: e for e in pair(results, method, other)}
        lines.append(f"| {other} | " + " | ".join(cell(cells[k]) if k in cells else "–" for k in shots) + " |")
    return "\n".join(lines)


def comparison(record: dict, method: str) -> str:
    return pairs_table(
        record, method, f"{method} minus each method, top-1 points, mean over seeds [95% interval over seeds and test "
        "recordings]", "minus", paired_differences,
        lambda e: f"{100 * e['difference']:+.1f} [{100 * e['low']:+.1f}, {100 * e['high']:+.1f}]")


def sizes(record: dict, method: str) -> str:
    def cell(entry):
        if entry["recordings_needed"] is None:
            return "never (no difference)"
        draws = "?" if entry["draws_needed"] is None else f"{entry['draws_needed']:,}"
        return (f"{entry['recordings_needed']:,} / {draws} ({100 * entry['difference']:+.1f}; "
                f"{100 * entry['disagreement']:.1f}% disagree)")

    return pairs_table(
        record, method, f"{method} against each method: scored recordings / draws of shots a 95% interval would need "
        "to exclude 0, were the observed difference the true one (each at least; disagreement: recordings exactly one "
        "got right)", "against", comparison_size, cell)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--compare", metavar="METHOD", help="also METHOD minus every other method, paired")
    parser.add_argument("--size", action="store_true",
                        help="with --compare: the recordings and draws a comparison would need to decide each "
                             "difference")
    args = parser.parse_args()
    if args.size and not args.compare:
        parser.error("--size sizes the --compare comparison: add --compare METHOD")
    parts = []
    for path in args.files:
        record = json.loads(open(path).read())
        parts.append(table(record, path))
        if args.compare:
            try:
                parts.append(comparison(record, args.compare))
                if args.size:
                    parts.append(sizes(record, args.compare))
            except ConfigError as error:
                raise SystemExit(f"{path}: {error}") from None
    print("\n\n".join(parts))


if __name__ == "__main__":
    main()
