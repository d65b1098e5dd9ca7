#!/bin/bash
# issue #16, prepared for the next session with a GPU: the comparison students of the bundled recipe (192 wide,
# 60 epochs of stage B, all 200 development recordings unlabelled): the ANN student (LIF -> ReLU, fp32) and the
# T = 1, 2, 8 SNNs, trained identically to the bundled snn-t4; each comes back as an fp16 pack. Score them on the CPU
# afterwards: put each pack at out/spiking-v5/runs/<variant>/b/best.pt (snn-t4: the bundled file) and run
# python scripts/evaluate_neuroclip_mini_spiking.py --split heldout --out out/spiking-v5 --stages b
# About 8 minutes of device time (TT seconds of training at most, default 420).
start=$(date +%s); el() { echo "[$(( $(date +%s) - start )) s] $*"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl gpu_data/whl/*.whl 2>&1 | tail -2
export PYTHONPATH=/tmp/site:$PWD/src:$PWD/scripts  # this checkout's own code and scripts
W=/tmp/w; G=$PWD/gpu_data; T=$PWD/scripts/train_neuroclip_mini_spiking.py
mkdir -p $W $OUT
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; nproc
el "simulate"
python3 $T --out $W/x --images $G/images.npz --sim $W/sim --jobs 16 --data-only 2>&1 | tail -1
el "teacher targets"
python3 $T --out $W/targets --sim $W/sim --teacher-cache $W/tc --text-from $G/text-a.pt --only snn-t4 --device cuda --threads 8 --targets-only --unlabelled $G/dev-unlabelled/half0 $G/dev-unlabelled/half1 2>&1 | tail -1
el "train"
for v in ann-t4 snn-t1 snn-t2 snn-t8; do
  timeout -s INT ${TT:-420} python3 $T --out $W/$v --sim $W/sim --teacher-cache $W/tc --text-from $G/text-a.pt --device cuda --threads 1 --workers 0 --epochs-b 60 --epochs-d 0 --unlabelled-repeat 8 --only $v --unlabelled $G/dev-unlabelled/half0 $G/dev-unlabelled/half1 > $W/$v.log 2>&1 &
done
wait
el "pack"
python3 - <<'PY'
import sys
from pathlib import Path
sys.argv = ["x"]
from train_neuroclip_mini_spiking import bundle
W = Path("/tmp/w"); P = W / "packs"
for ckpt in sorted(W.glob("*/runs/*/b/best.pt")):
    bundle(ckpt, P / f"{ckpt.parents[1].name}.pt")
PY
tar -cf $OUT/packs.tar -C $W packs
tar -czf $OUT/logs.tgz -C $W $(cd $W && ls -d *.log */train-log.txt */log-*.txt */runs/*/b/result.json 2>/dev/null)
ls -la $OUT; el "done"
