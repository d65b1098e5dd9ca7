#!/bin/bash
# One lent-GPU run for this session: (1) issue #13's missing figure (gpu_paths.py frames, end_to_end, timeline:
# 640x480 end-to-end against the tower, batched encodings on CUDA against numpy); (2) the CUDA tests; (3) issue
# #16's wider / deeper students out of fold on the development halves, beside the bundled recipe (base).
start=$(date +%s); el() { echo "[$(( $(date +%s) - start )) s] $*"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl gpu_data/whl/*.whl 2>&1 | tail -2
export PYTHONPATH=/tmp/site:$PWD/gpu_data/src:$PWD/gpu_data/scripts
G=$PWD/gpu_data; W=/tmp/w; mkdir -p $OUT $W
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; nproc
python3 -c "import numba; print('numba', numba.__version__)" 2>/dev/null || echo "no numba on the device"
el "13: gpu_paths"
timeout 170 python3 $G/benchmarks/gpu_paths.py --only frames end_to_end timeline --recordings $G/dev/all --evt2 $G/evt/sparklers_evt2.raw --evt3 $G/evt/pedestrians_evt3.raw --out $OUT/gpu_e2e.json --csv $OUT/gpu_e2e.csv > $OUT/gpu_e2e.log 2>&1
grep -v Warning $OUT/gpu_e2e.log | tail -30
el "16: simulate"
T=$G/scripts/train_neuroclip_mini_spiking.py; E=$G/scripts/evaluate_neuroclip_mini_spiking.py
python3 $T --out $W/base --images $G/images.npz --sim $W/sim --jobs 16 --data-only 2>&1 | tail -1
el "16: teacher targets"
python3 $T --out $W/targets --sim $W/sim --teacher-cache $W/tc --text-from $G/text-a.pt --only snn-t4 --device cuda --threads 8 --targets-only --unlabelled $G/dev-unlabelled/half0 $G/dev-unlabelled/half1 2>&1 | tail -1
el "16: train (+ CUDA tests beside it)"
(timeout 200 python3 -m pytest -q -p no:cacheprovider -k "cuda" $G/tests/test_frames.py $G/tests/test_event_transfer.py $G/tests/test_zeroshot.py $G/tests/test_cli_mistakes.py > $OUT/cuda_tests.log 2>&1; echo "pytest rc $?" >> $OUT/cuda_tests.log) &
declare -A FLAGS=( [base]="" [w128d2]="--image-width 128 --image-depth 2" [w192]="--image-width 192" )
common="--sim $W/sim --teacher-cache $W/tc --text-from $G/text-a.pt --device cuda --threads 1 --workers 0 --epochs-b ${EB:-20} --epochs-d 0 --parallel --unlabelled-repeat 8 --only snn-t4"
for r in "${!FLAGS[@]}"; do
  for k in 0 1; do
    timeout -s INT ${TT:-250} python3 $T --out $W/$r-f$k ${FLAGS[$r]} --unlabelled $G/dev-unlabelled/half$k $common > $W/$r-f$k.log 2>&1 &
  done
  [ $r != base ] && timeout -s INT ${TT:-250} python3 $T --out $W/$r-all ${FLAGS[$r]} --unlabelled $G/dev-unlabelled/half0 $G/dev-unlabelled/half1 $common > $W/$r-all.log 2>&1 &
done
wait
tail -3 $OUT/cuda_tests.log
el "16: score out of fold"
for r in "${!FLAGS[@]}"; do
  for k in 0 1; do
    python3 $E --split dev --out $W/$r-f$k --nmnist $G/dev/half$((1-k)) --only snn-t4 --stages b --from-runs --quick --device cuda --threads 1 2>&1 | grep '^{' | sed "s/^{/{\"run\": \"$r-f$k\", /" > $W/score-$r-f$k.jsonl &
  done
done
wait
cat $W/score-*.jsonl > $OUT/scores.jsonl; cut -c1-200 $OUT/scores.jsonl
for f in $W/*-f0/runs/*/b/result.json; do echo "$f: $(cut -c1-160 $f)"; done
tar -czf $OUT/logs.tgz -C $W $(cd $W && ls -d *.log */train-log.txt */log-*.txt */configs */runs/*/b/result.json 2>/dev/null)
el "16: pack"
python3 - <<'PY'
import sys
from pathlib import Path
sys.argv = ["x"]
from train_neuroclip_mini_spiking import bundle
W = Path("/tmp/w"); P = W / "packs"
for ckpt in sorted(W.glob("*-all/runs/*/b/best.pt")):
    bundle(ckpt, P / f"{ckpt.parents[3].name}--{ckpt.parents[1].name}.pt")
PY
tar -cf $OUT/packs.tar -C $W packs; ls -la $OUT
el "done"
