#!/usr/bin/env bash
# Train and evaluate tape presets over seeds, resumably: a finished run is skipped, an interrupted
# one is resumed, an evaluated one is not evaluated again. Several copies may run side by side:
# each run directory is claimed with an atomic mkdir of RUN.lock (remove stale locks after a kill).
#   nice -n 10 benchmarks/tape_targets.sh RUNS_DIR "tape_copy_ff tape_reverse_ff" "0 1 2"
set -euo pipefail
runs=$1; presets=$2; seeds=${3:-"0 1 2"}
export OMP_NUM_THREADS=1  # the controllers are tiny: one thread per run is fastest on a shared machine
for preset in $presets; do
  for seed in $seeds; do
    dir="$runs/$preset-s$seed"
    [ -f "$dir/eval.json" ] && continue
    mkdir "$dir.lock" 2>/dev/null || continue
    if [ -d "$dir/checkpoints" ] && ! grep -q '"finished": true' "$(ls -d "$dir"/checkpoints/step_* | tail -1)/meta.json"; then
      algosynth train --resume "$dir"
    elif [ ! -d "$dir/checkpoints" ]; then
      rm -rf "$dir"
      algosynth train "$preset" --set train.seed="$seed" --out "$dir"
    fi
    algosynth eval "$dir" --sizes 100,1000 --n 100
    rmdir "$dir.lock"
  done
done
