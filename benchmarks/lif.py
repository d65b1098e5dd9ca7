"""The multi-step LIF on the CPU: our numba passes and our torch sequence against spikingjelly's CPU LIF, forward +
backward, on the LIF inputs of real models, in one run; then one training step of the ``neuroclip-mini-spiking``
student's image tower with each of our two paths.

    python benchmarks/lif.py [--threads 2] [--batch 196] [--csv results/lif_cpu_2core.csv]

The neuron is SpikeCLIP's (spikingjelly ``LIFNode(tau=2, v_threshold=1, v_reset=0, detach_reset=True)``, sigmoid
surrogate alpha 4); spikingjelly runs it on the CPU with its torch backend, as ``LIFNode(step_mode="m")`` and as its
functional ``lif_multi_step``. The inputs are every distinct LIF input shape of the ``neuroclip-mini-spiking``
student's image tower at ``--batch`` (T = 4), recorded by forward hooks, and the NeuroCLIP adapter's ([10, 160, 64]:
16 shots of 10 classes, C / 8 = 64). Every path's spikes are compared with our torch path's (mismatches printed; 0
expected) and its input gradients too (largest difference printed).

The last line is ``min ratio vs spikingjelly: X``: the smallest (spikingjelly's faster API time) / (our numba time)
over the shapes.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import time
from pathlib import Path


def best_time(function, min_total_s: float = 0.5, repeats: int = 5) -> float:
    function()  # warm up (and compile)
    best = float("inf")
    total = 0.0
    runs = 0
    while runs < repeats or total < min_total_s:
        start = time.perf_counter()
        function()
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        total += elapsed
        runs += 1
        if runs >= 50:
            break
    return best


def student_lif_shapes(batch: int) -> list[tuple[int, ...]]:
    import torch

    from neuroclip.snn.neurons import LIF
    from neuroclip.spikeclip.config import model_config
    from neuroclip.spikeclip.image_encoder import SpikingImageEncoder

    encoder = SpikingImageEncoder(model_config("neuroclip-mini-spiking").image)
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape)))
             for m in encoder.modules() if isinstance(m, LIF)]
    with torch.no_grad():
        encoder(torch.rand(batch, 4, 2, 32, 32))
    for hook in hooks:
        hook.remove()
    return sorted(set(seen), key=lambda s: -torch.Size(s).numel())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch (and our numba passes') threads (default 2)")
    parser.add_argument("--batch", type=int, default=196, help="the student's batch (default 196, its training batch)")
    parser.add_argument("--csv", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()

    import torch
    from spikingjelly.activation_based import functional, neuron, surrogate

    from neuroclip.snn.neurons import NEURON_PRESETS, lif_multistep, numba_unsupported

    torch.set_num_threads(args.threads)
    reason = numba_unsupported(torch.zeros(1, 1))
    if reason:
        raise SystemExit(f"the numba LIF cannot run here: {reason}")
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {args.threads} threads"
    print(f"LIF on the CPU ({machine}), torch {torch.__version__}", flush=True)
    preset = NEURON_PRESETS["spikeclip"]
    node = neuron.LIFNode(tau=2.0, v_threshold=1.0, v_reset=0.0, detach_reset=True,
                          surrogate_function=surrogate.Sigmoid(alpha=4.0), step_mode="m")

    def sj_module(x):
        functional.reset_net(node)
        return node(x)

    def sj_functional(x):
        v = torch.zeros(x.shape[1:], dtype=torch.float32)
        return functional.lif_multi_step(x, v, 2.0, True, 1.0, 0.0, surrogate.Sigmoid(alpha=4.0), True)[0]

    paths = {"ours, numba": lambda x: lif_multistep(x, preset, backend="numba")[0],
             "ours, torch path": lambda x: lif_multistep(x, preset, backend="torch")[0],
             "spikingjelly LIFNode": sj_module,
             "spikingjelly lif_multi_step": sj_functional}
    cases = {f"student {list(s)}": s for s in student_lif_shapes(args.batch)}
    cases["NeuroCLIP adapter [10, 160, 64]"] = (10, 160, 64)
    rows = []
    for name, shape in cases.items():
        torch.manual_seed(0)
        x = (torch.randn(shape) * 1.5 + 0.5).requires_grad_()
        grad = torch.randn(shape)
        results = {}
        for label, function in paths.items():
            def run(function=function, x=x, grad=grad):
                x.grad = None
                out = function(x)
                out.backward(grad)
                return out
            spikes = run().detach()
            results[label] = (best_time(run), spikes, x.grad.clone())
        _, reference_spikes, reference_grad = results["ours, torch path"]
        peer = min(results[k][0] for k in results if k.startswith("spikingjelly"))
        row = {"machine": machine, "case": name, "elements": int(torch.Size(shape).numel())}
        for label, (seconds, spikes, grads) in results.items():
            row[f"{label} ms"] = round(seconds * 1e3, 3)
            row[f"{label} spike mismatches"] = int((spikes != reference_spikes).sum())
            row[f"{label} max grad difference"] = float((grads - reference_grad).abs().max())
        row["ratio vs spikingjelly (numba)"] = round(peer / results["ours, numba"][0], 2)
        row["ratio vs torch path (numba)"] = round(results["ours, torch path"][0] / results["ours, numba"][0], 2)
        rows.append(row)
        print(f"{name}: " + ", ".join(f"{k} {v[0] * 1e3:.2f} ms" for k, v in results.items())
              + f"; numba / fastest spikingjelly {row['ratio vs spikingjelly (numba)']:.2f}x, / our torch path "
              f"{row['ratio vs torch path (numba)']:.2f}x; spike mismatches "
              + str({k: row[f'{k} spike mismatches'] for k in results})
              + f", largest grad difference {max(row[f'{k} max grad difference'] for k in results):.1e}", flush=True)

    # one training step of the student's image tower (forward, backward, Adam), with each of our LIF paths
    from neuroclip.spikeclip.config import model_config
    from neuroclip.spikeclip.image_encoder import SpikingImageEncoder

    torch.manual_seed(0)
    encoder = SpikingImageEncoder(model_config("neuroclip-mini-spiking").image)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=1e-4)
    frames = torch.poisson(torch.full((args.batch, 4, 2, 32, 32), 0.3))
    # a step takes seconds and varies by a second from step to step on a busy machine: the two paths alternate, and
    # the medians of 8 steps each (after one warm-up step each) are compared
    seconds = {"numba": [], "torch": []}
    for round_ in range(9):
        for backend in seconds:
            os.environ["NEUROCLIP_LIF_BACKEND"] = backend
            start = time.perf_counter()
            optimizer.zero_grad()
            encoder(frames).square().mean().backward()
            optimizer.step()
            if round_:
                seconds[backend].append(time.perf_counter() - start)
    os.environ.pop("NEUROCLIP_LIF_BACKEND")
    step_ms = {backend: statistics.median(values) * 1e3 for backend, values in seconds.items()}
    print(f"student image tower, one training step at batch {args.batch} (median of 8): numba LIF "
          f"{step_ms['numba']:.0f} ms, torch LIF {step_ms['torch']:.0f} ms "
          f"({step_ms['torch'] / step_ms['numba']:.2f}x)", flush=True)
    rows.append({"machine": machine, "case": f"student training step, batch {args.batch}",
                 "ours, numba ms": round(step_ms["numba"], 1), "ours, torch path ms": round(step_ms["torch"], 1),
                 "ratio vs torch path (numba)": round(step_ms["torch"] / step_ms["numba"], 2)})
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        fields = list(dict.fromkeys(key for row in rows for key in row))
        with open(args.csv, "w", newline="") as fp:
            writer = csv.DictWriter(fp, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {args.csv}")
    print(f"min ratio vs spikingjelly: {min(r['ratio vs spikingjelly (numba)'] for r in rows[:-1]):.2f}")


if __name__ == "__main__":
    main()
