#!/usr/bin/env bash
# Runs cerebra-bench-loader and the torchvision reference on the same images,
# in alternating rounds, and prints the ratios of the medians. Usage (from the
# repository root, after a build):
#   tools/bench-loader/run.sh [BUILD_DIR] [DATA_DIR]      (ROUNDS=3 by default)
# Refuses to run while a compiler is busy on this machine: timings would be noise.
set -euo pipefail
build="${1:-build}"
data="${2:-${CEREBRA_DATA:-../shared/datasets}}"
rounds="${ROUNDS:-3}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/quiet-machine.sh"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
# This machine's speed drifts by tens of percent from minute to minute, so the
# two programs take turns and medians are compared.
for round in $(seq "$rounds"); do
  echo "== round $round"
  "$build/bin/cerebra-bench-loader" --data "$data" --threads 1,2 | tee -a "$out"
  /usr/bin/python3 "$here/reference.py" "$data/br35h" 0,1,2 | tee -a "$out"
done
/usr/bin/python3 - "$out" <<'PY'
import re, statistics, sys
text = open(sys.argv[1]).read()
def median(pattern):
    values = [float(v) for v in re.findall(pattern, text)]
    return (statistics.median(values), len(values)) if values else (float("nan"), 0)
rows = {}
for threads in (1, 2):
    rows[f"cerebra threads={threads} cold"] = median(rf"cerebra threads={threads} cold_images_per_s=([\d.]+)")
    rows[f"cerebra threads={threads} warm"] = median(rf"cerebra threads={threads} cold_images_per_s=[\d.]+ warm_images_per_s=([\d.]+)")
for workers in (0, 1, 2):
    for mode in ("beginner", "best"):
        rows[f"torchvision {mode} workers={workers}"] = median(
            rf"torchvision workers={workers} mode={mode} epoch1_images_per_s=([\d.]+)")
        rows[f"torchvision {mode} workers={workers} epoch 2"] = median(
            rf"torchvision workers={workers} mode={mode} epoch1_images_per_s=[\d.]+ epoch2_images_per_s=([\d.]+)")
for name, (value, count) in rows.items():
    print(f"median {name}: {value:.1f} img/s ({count} rounds)")
cold = max(rows["cerebra threads=1 cold"][0], rows["cerebra threads=2 cold"][0])
warm = max(rows["cerebra threads=1 warm"][0], rows["cerebra threads=2 warm"][0])
for mode in ("beginner", "best"):
    reference = max(v for k, (v, _) in rows.items() if k.startswith(f"torchvision {mode}"))
    print(f"best median: cerebra cold {cold:.1f} img/s, warm {warm:.1f} img/s; torchvision {mode} {reference:.1f} img/s")
    print(f"ratio against torchvision {mode}: cold {cold / reference:.2f}x, warm {warm / reference:.2f}x"
          + ("  (goals: cold 3x, warm 15x)" if mode == "best" else ""))
PY
