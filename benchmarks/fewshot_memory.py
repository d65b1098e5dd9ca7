"""Peak memory of scoring a large test split in a few-shot run: the test recordings a chunk at a time
(``neuroclip.clip.zeroshot.SCORE_CHUNK``, 4,096) against all at once (how every run scored before).

    python benchmarks/fewshot_memory.py [--test 50000] [--classes 1000] [--methods zeroshot tip neuroclip-plus]

Input: synthetic cached features the size of an ImageNet-scale event dataset's test split (``--test`` recordings,
T = 10 frames, C = 512, ``--classes`` classes; 50,000 x 10 x 512 float32 is 1 GB), one shot per class, one seed.
Each method runs in a fresh process per mode; peak memory is the process's VmHWM (Linux), reset just before
:func:`neuroclip.fewshot.run_fewshot`, minus its resident memory then (the features are already counted there). The two
modes must give the same top-1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent("""
    import json, sys, time
    import numpy as np, torch
    from neuroclip.fewshot import FewShotPlan
    from neuroclip.clip import zeroshot
    from neuroclip.fewshot import protocol
    method, n_test, n_classes, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    zeroshot.SCORE_CHUNK = chunk
    torch.set_num_threads(2)
    generator = torch.Generator().manual_seed(0)
    frames, width = 10, 512
    weights = torch.nn.functional.normalize(torch.randn(n_classes, width, generator=generator), dim=-1)
    train_labels = np.arange(n_classes)
    train = (weights[train_labels][:, None] + torch.randn(n_classes, frames, width, generator=generator)).numpy()
    test_labels = np.arange(n_test) % n_classes
    test = np.empty((n_test, frames, width), np.float32)
    for start in range(0, n_test, 5000):
        part = test_labels[start:start + 5000]
        test[start:start + part.size] = (weights[part][:, None] +
                                         torch.randn(part.size, frames, width, generator=generator)).numpy()

    def memory(field):
        return int(open("/proc/self/status").read().split(field + ":")[1].split()[0]) / 1024

    with open("/proc/self/clear_refs", "w") as fp:  # the peak counts from here (Linux: "5" resets VmHWM)
        fp.write("5")
    before, started = memory("VmRSS"), time.perf_counter()
    rows = protocol.run_fewshot(train, train_labels, test, test_labels, weights, 100.0,
                                FewShotPlan(methods=[method], shots=[1], seeds=[1]))
    print(json.dumps({"top1": rows[-1]["top1"], "added_mb": memory("VmHWM") - before,
                      "seconds": time.perf_counter() - started}))
""")


def measure(method: str, n_test: int, n_classes: int, chunk: int) -> dict:
    done = subprocess.run([sys.executable, "-c", PROGRAM, method, str(n_test), str(n_classes), str(chunk)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{method}: {done.stderr.strip().splitlines()[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test", type=int, default=50_000)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--methods", nargs="+", default=["zeroshot", "tip", "neuroclip-plus"])
    args = parser.parse_args()
    print(f"{args.test:,} test recordings x 10 frames x 512, {args.classes} classes, 1 shot, 2 CPU threads; "
          f"peak memory added by run_fewshot")
    for method in args.methods:
        chunked = measure(method, args.test, args.classes, 4096)
        whole = measure(method, args.test, args.classes, args.test)
        if chunked["top1"] != whole["top1"]:
            raise SystemExit(f"{method}: top-1 {chunked['top1']} in chunks against {whole['top1']} at once")
        print(f"  {method:15s} chunks of 4,096: {chunked['added_mb']:7.0f} MB {chunked['seconds']:6.1f} s   "
              f"all at once: {whole['added_mb']:7.0f} MB {whole['seconds']:6.1f} s   "
              f"ratio {whole['added_mb'] / chunked['added_mb']:.1f}x   top-1 {chunked['top1']:.4f} (same)",
              flush=True)


if __name__ == "__main__":
    main()
