#!/usr/bin/env bash
# The deskew seed table: train the qat recipe with and without deskew on the same
# schedule, several seeds, one torch thread per run, then print integer accuracy
# on the test set and the training hold-out per seed; mean, standard deviation and
# spread (max - min) per mode; and each mode's per-seed gain over "none".
#
#   scripts/deskew-seeds.sh [OUT_DIR] [SEEDS] [EPOCHS] [MODES] [JOBS]
#   defaults:   /tmp/deskew-seeds  0,1,2  45 (the full qat recipe)  none,before,after  2
#
# The deskew change's table: scripts/deskew-seeds.sh /tmp/deskew-seeds 0,1,2,3,4,5,6 45 none,before
# (and seeds 0,1,2 of "after", which chose "before" on the hold-out). Its result, on
# 2 shared AMD EPYC cores with torch 2.13.0: integer test accuracy 98.97 +- 0.38 %
# (sd 0.14) with deskew "before", 98.79 +- 0.47 % (sd 0.16) without; hold-out
# 99.07 +- 0.22 % and 98.99 +- 0.30 %. The gain (+0.18) is below the spread, so
# the bundled default stays without deskew; models/deskew.npz is seed 0 with it.
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

python - "$out" "$seeds" "$modes" <<'PY'
import json, statistics, sys
from pathlib import Path

out, seeds, modes = Path(sys.argv[1]), sys.argv[2].split(","), sys.argv[3].split(",")
keys = {"test": "int_accuracy_test", "hold-out": "int_accuracy_holdout"}
acc = {
    mode: {
        label: [100 * json.loads((out / f"{mode}-seed{s}.json").read_text())[key] for s in seeds]
        for label, key in keys.items()
    }
    for mode in modes
}
print("integer accuracy %, test (hold-out), qat recipe, seeds " + ",".join(seeds))
print(f"{'mode':8} " + " ".join(f"{'seed ' + s:>16}" for s in seeds))
for mode in modes:
    row = zip(acc[mode]["test"], acc[mode]["hold-out"])
    print(f"{mode:8} " + " ".join(f"{t:7.2f} ({h:6.2f})" for t, h in row))
for mode in modes:
    for label, v in acc[mode].items():
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        print(
            f"{mode:8} {label:8} mean {statistics.mean(v):.3f}  sd {sd:.3f}  "
            f"spread (max-min) {max(v) - min(v):.2f}"
        )
if "none" in modes:
    for mode in (m for m in modes if m != "none"):
        for label in keys:
            gain = [a - b for a, b in zip(acc[mode][label], acc["none"][label])]
            wins = sum(g > 0 for g in gain)
            print(
                f"{mode} - none, {label}: mean {statistics.mean(gain):+.3f}, per seed "
                + " ".join(f"{g:+.2f}" for g in gain)
                + f" ({wins}/{len(gain)} gain)"
            )
PY
