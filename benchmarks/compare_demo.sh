#!/usr/bin/env bash
# The comparison in docs/BENCHMARKS.md: hard / soft / MIDAS (softmax) / MIDAS (no softmax) with the demo
# recipe on the synthetic benchmark (1000 clips, 64 px), 5 folds x 2 seeds, then the training budget
# (32 vs 96 epochs) on fold 1, seeds 0 and 1, tabulated by benchmarks/budget_table.py. Resumable: run it
# again after an interruption.
#
#     bash benchmarks/compare_demo.sh [OUT]      (default OUT: bench_compare; ~2 h on 2 CPU cores)
set -euo pipefail
OUT=${1:-bench_compare}
HERE=$(cd "$(dirname "$0")" && pwd)
CONFIGS="demo/hard.yaml demo/soft.yaml demo/midas.yaml $HERE/configs/demo_midas_nonorm.yaml"
if [ ! -f "$OUT/data/Annotation/annotation.xlsx" ]; then
  softfer synth dfew "$OUT/data" --clips 1000 --size 64 --seed 0
fi
start=$(date +%s)
softfer compare $CONFIGS --folds 1,2,3,4,5 --seeds 0,1 --out "$OUT/folds" \
  --set data.root="$OUT/data" --set run.progress=false
echo "5 folds x 2 seeds: $(( $(date +%s) - start )) s"
start=$(date +%s)
softfer compare $CONFIGS --folds 1 --seeds 0,1 --out "$OUT/epochs96" \
  --set data.root="$OUT/data" --set optim.epochs=96 --set run.progress=false
echo "96 epochs, fold 1, seeds 0,1: $(( $(date +%s) - start )) s"
python "$HERE/budget_table.py" "$OUT/folds" "$OUT/epochs96"
