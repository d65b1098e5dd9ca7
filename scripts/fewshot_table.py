"""Markdown tables of ``neuroclip fewshot`` result JSONs: one row per method, one column per number of shots, mean ±
sample std of top-1 (%) over the seeds, and the labelled recordings each column used. With ``--compare METHOD``,
also METHOD minus every other method, in top-1 points, paired by seed and test recording, with a 95% bootstrap
interval (:func:`neuroclip.fewshot.paired_differences`).

    python scripts/fewshot_table.py results/nmnist_heldout_mini_fewshot.json [more.json ...] [--compare METHOD]
"""

import argparse
import json

from neuroclip.errors import ConfigError
from neuroclip.fewshot import paired_differences


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


def comparison(record: dict, method: str) -> str:
    results = record["results"]
    shots = sorted({r["shots"] for r in results if r["method"] == method and r["shots"] > 0})
    others = [m for m in dict.fromkeys(r["method"] for r in results) if m != method]
    lines = [f"{method} minus each method, top-1 points, mean over seeds [95% interval over seeds and test "
             "recordings]", "", "| minus | " + " | ".join(f"{k} shot{'s' if k > 1 else ''}" for k in shots) + " |",
             "|---" * (len(shots) + 1) + "|"]
    for other in others:
        cells = {e["shots"]: e for e in paired_differences(results, method, other)}
        lines.append(f"| {other} | " + " | ".join(
            f"{100 * cells[k]['difference']:+.1f} [{100 * cells[k]['low']:+.1f}, {100 * cells[k]['high']:+.1f}]"
            if k in cells else "–" for k in shots) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--compare", metavar="METHOD", help="also METHOD minus every other method, paired")
    args = parser.parse_args()
    parts = []
    for path in args.files:
        record = json.loads(open(path).read())
        parts.append(table(record, path))
        if args.compare:
            try:
                parts.append(comparison(record, args.compare))
            except ConfigError as error:
                raise SystemExit(f"{path}: {error}") from None
    print("\n\n".join(parts))


if __name__ == "__main__":
    main()
