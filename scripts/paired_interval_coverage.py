"""How often the 95% interval of ``neuroclip.fewshot.paired_differences`` holds the true difference, in simulation.

    python scripts/paired_interval_coverage.py [--seeds 3 10] [--simulations 200]

The model, sized like the README's held-out few-shot runs with discrimination frames: a population of recordings
of varying difficulty (logit of being right ~ N(2.6, 1.0), about 90% on average), two methods that differ by a
per-recording effect (N(0, 0.4) each), a draw of the shots that shifts each method's logits by N(0, 0.15) (about
one point of top-1 from draw to draw) and per-draw per-recording noise N(0, 0.3). A recording is right when its
own uniform number u (the same for both methods and every draw: methods fail on the same hard recordings) is under
the method's probability. Each simulation scores 300 recordings of the population with S draws; the truth is the
expected difference over draws and the whole population. Prints the coverage, the mean width and how often the two
methods disagree (the README's held-out runs: 1 to 8% of the recordings at 4 to 16 shots).
"""

import argparse

import numpy as np

from neuroclip.fewshot import paired_differences
from neuroclip.fewshot.report import pack_hits


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def coverage(n_seeds: int, simulations: int, n_test: int = 300, population: int = 20000, seed: int = 0):
    rng = np.random.default_rng(seed)
    covered, widths, disagree = 0, [], []
    for simulation in range(simulations):
        base = rng.normal(2.6, 1.0, population)
        effect = rng.normal(0.0, 0.4, (2, population))
        shifts = rng.normal(0.0, 0.15, (200, 2))  # draws, for the truth
        noise = rng.normal(0.0, 0.3, (200, 2, population))
        truth = np.mean([sigmoid(base + effect[0] + a + noise[i, 0]).mean() -
                         sigmoid(base + effect[1] + b + noise[i, 1]).mean() for i, (a, b) in enumerate(shifts)])
        test = rng.choice(population, n_test, replace=False)
        u = rng.random(n_test)
        rows = []
        for draw in range(n_seeds):
            draw_shifts = rng.normal(0.0, 0.15, 2)  # this draw's shift of each method
            for method, extra, shift in zip("ab", effect, draw_shifts):
                logit = base[test] + extra[test] + shift + rng.normal(0, 0.3, n_test)
                hit = u < sigmoid(logit)
                rows.append({"method": method, "shots": 4, "seed": draw, "protocol": "shots", "n_test": n_test,
                             "correct": pack_hits(hit), "hit": hit})
        a = np.stack([r["hit"] for r in rows if r["method"] == "a"])
        b = np.stack([r["hit"] for r in rows if r["method"] == "b"])
        disagree.append(float((a != b).mean()))
        (entry,) = paired_differences(rows, "a", "b", resamples=1000, seed=simulation)
        covered += entry["low"] <= truth <= entry["high"]
        widths.append(entry["high"] - entry["low"])
    return covered / simulations, float(np.mean(widths)), float(np.mean(disagree))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 10])
    parser.add_argument("--simulations", type=int, default=200)
    args = parser.parse_args()
    for n_seeds in args.seeds:
        rate, width, disagree = coverage(n_seeds, args.simulations)
        print(f"{n_seeds:>3} draws: the 95% interval held the truth in {100 * rate:.0f}% of {args.simulations} "
              f"simulations; mean width {100 * width:.1f} points; the methods disagree on {100 * disagree:.1f}% "
              "of the recordings")


if __name__ == "__main__":
    main()
