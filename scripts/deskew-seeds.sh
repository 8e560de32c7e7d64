#!/usr/bin/env bash
# The deskew seed table: train the qat recipe with and without deskew on the same
# schedule, several seeds, one torch thread per run, then print integer accuracy
# on the test set and the training hold-out per seed, and mean +- spread per mode.
#
#   scripts/deskew-seeds.sh [OUT_DIR] [SEEDS] [EPOCHS] [MODES] [JOBS]
#   defaults:   /tmp/deskew-seeds  0,1,2  45 (the full qat recipe)  none,before,after  2
#
# "before" deskews each training image once, then augments; "after" augments, then
# deskews. Hold-out and test images are deskewed in both. Reruns skip finished runs.
set -euo pipefail

out=${1:-/tmp/deskew-seeds}
seeds=${2:-0,1,2}
epochs=${3:-45}
modes=${4:-none,before,after}
jobs=${5:-2}
mkdir -p "$out"

for mode in ${modes//,/ }; do
    for seed in ${seeds//,/ }; do
        echo "$mode $seed"
    done
done | xargs -P "$jobs" -L 1 sh -c '
    mode=$0 seed=$1 out='"$out"' epochs='"$epochs"'
    file="$out/$mode-seed$seed.npz"
    [ -s "${file%.npz}.json" ] && exit 0
    python -m pynq_mnist train --recipe qat --epochs "$epochs" --seed "$seed" --threads 1 \
        --deskew "$mode" --out "$file" --no-progress > "$out/$mode-seed$seed.log" 2>&1
'

python - "$out" "$seeds" "$modes" <<'EOF'
import json, statistics, sys
from pathlib import Path

out, seeds, modes = Path(sys.argv[1]), sys.argv[2].split(","), sys.argv[3].split(",")
print(f"{'mode':8} " + " ".join(f"{'seed ' + s:>17}" for s in seeds) + "   mean +- spread (max-min)")
for mode in modes:
    reports = [json.loads((out / f"{mode}-seed{s}.json").read_text()) for s in seeds]
    cells, table = [], {}
    for key, label in (("int_accuracy_test", "test"), ("int_accuracy_holdout", "hold-out")):
        values = [100 * r[key] for r in reports]
        table[label] = values
    print(
        f"{mode:8} "
        + " ".join(f"{t:7.2f} ({h:6.2f})" for t, h in zip(table["test"], table["hold-out"]))
        + "   "
        + ", ".join(
            f"{label} {statistics.mean(v):.3f} +- {max(v) - min(v):.2f}" for label, v in table.items()
        )
    )
EOF
