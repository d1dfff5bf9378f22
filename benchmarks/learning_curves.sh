#!/usr/bin/env bash
# Learning curves (issue 26, docs/BENCHMARKS.md "How the ranking moves with the training budget"): hard /
# soft / MIDAS (softmax) / MIDAS (no softmax) with the demo recipe on the synthetic benchmark (1000 clips,
# 64 px), 5 folds x 2 seeds, at 32, 64, 96 and 160 epochs (one `softfer compare` folder per budget,
# OUT/e<epochs>), then benchmarks/learning_curves.py over the folders: OUT/curves.md and OUT/curves.png.
#
#     bash benchmarks/learning_curves.sh [OUT]        (default OUT: bench_curves)
#
# How long: 4 configs x 10 runs x (32 + 64 + 96 + 160) epochs = 14,080 run-epochs. One 32-epoch run at one
# thread takes about 5 minutes on the 2-core machine (about 9 s an epoch), two run at once (--jobs 2): about
# 18 hours on 2 cores, so it runs over several sittings at nice 19. Resumable: call it again and every
# finished run is reused, an interrupted one resumed. On a GPU machine it should take minutes, not hours
# (not measured yet). A comparison already run at one of the budgets, on OUT/data with these configs, can
# be linked in as OUT/e<epochs> (e.g. ln -s compare96 OUT/e96): compare reuses the finished runs whose
# settings match. EPOCHS="32 64" and JOBS=1 override the budgets and the runs at once.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "${1:-bench_curves}"
OUT=$(cd "${1:-bench_curves}" && pwd)  # absolute: data.root must read the same in every call to be reused
EPOCHS=${EPOCHS:-32 64 96 160}
JOBS=${JOBS:-2}
CONFIGS="demo/hard.yaml demo/soft.yaml demo/midas.yaml $HERE/configs/demo_midas_nonorm.yaml"
if [ ! -f "$OUT/data/Annotation/annotation.xlsx" ]; then
  nice -n 19 softfer synth dfew "$OUT/data" --clips 1000 --size 64 --seed 0
fi
folders=()
for E in $EPOCHS; do
  start=$(date +%s)
  # shellcheck disable=SC2086  # CONFIGS is a list of paths without spaces
  nice -n 19 softfer compare $CONFIGS --folds 1,2,3,4,5 --seeds 0,1 --out "$OUT/e$E" \
    --set data.root="$OUT/data" --set optim.epochs="$E" --set run.progress=false \
    --launcher local --jobs "$JOBS"
  echo "$E epochs, 5 folds x 2 seeds: $(($(date +%s) - start)) s (reused runs take none)"
  folders+=("$OUT/e$E")
done
# --overwrite: curves.png and curves.md are this script's own outputs, rewritten by every call
nice -n 19 python "$HERE/learning_curves.py" "${folders[@]}" --png "$OUT/curves.png" --md "$OUT/curves.md" \
  --overwrite
