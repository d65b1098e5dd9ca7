"""Markdown table of a ``neuroclip fewshot`` result JSON: one row per method, one column per number of shots, mean ±
sample std of top-1 (%) over the seeds, and the labelled recordings each column used.

    python scripts/fewshot_table.py results/nmnist_heldout_mini_fewshot.json [more.json ...]
"""

import json
import sys


def table(path: str) -> str:
    record = json.loads(open(path).read())
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


if __name__ == "__main__":
    print("\n\n".join(table(path) for path in sys.argv[1:]))
