#!/bin/bash
# CPU, one fold: base vs voxel-grid teacher, 8 epochs of stage B, scored out of fold on dev half1
cd /work/main && . /work/venv/bin/activate
W=/tmp/r5; G=$PWD/gpu_data; T=scripts/train_neuroclip_mini_spiking.py; E=scripts/evaluate_neuroclip_mini_spiking.py
start=$(date +%s); el() { echo "[$(( $(date +%s) - start )) s] $*"; }
el simulate
python $T --out $W/base-f0 --images $G/images.npz --sim $W/sim --jobs 2 --data-only 2>&1 | grep -v Warn | tail -1
for tf in "" "--teacher-encoding voxel_grid"; do
  el "targets $tf"
  python $T --out $W/targets $tf --sim $W/sim --teacher-cache $W/tc --text-from $G/text-a.pt --only snn-t4 --device cpu --threads 2 --targets-only --unlabelled $G/dev-unlabelled/half0 2>&1 | grep -v Warn | tail -1
done
el train
common="--sim $W/sim --teacher-cache $W/tc --text-from $G/text-a.pt --device cpu --threads 1 --workers 0 --epochs-b ${EB:-8} --epochs-d 0 --unlabelled-repeat 8 --only snn-t4 --unlabelled $G/dev-unlabelled/half0"
python $T --out $W/base-f0 $common > $W/base-f0.log 2>&1 &
python $T --out $W/tvox-f0 --teacher-encoding voxel_grid $common > $W/tvox-f0.log 2>&1 &
wait
el score
for r in base tvox; do
  python $E --split dev --out $W/$r-f0 --nmnist $G/dev/half1 --only snn-t4 --stages b --from-runs --quick --device cpu --threads 1 2>&1 | grep '^{' > $W/score-$r.jsonl &
done
wait
cut -c1-400 $W/score-*.jsonl
el done
