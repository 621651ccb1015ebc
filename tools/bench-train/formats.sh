#!/usr/bin/env bash
# Which memory format and precision each architecture trains fastest in on
# this machine: cerebra-bench-train for every architecture with NCHW and
# channels-last, fp32 and bf16 autocast, in alternating rounds (medians).
# Decides [training] channels_last's default and [run] precision = "auto"
# (docs/performance.md). Usage (on a quiet machine, after tools/build.sh):
#   tools/bench-train/formats.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
build="${1:-build}"
rounds="${2:-2}"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/quiet-machine.sh"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores; native bf16: $(grep -o -m1 -w -E 'amx_bf16|avx512_bf16' /proc/cpuinfo || echo none)"
# model size batch steps
models=("cnn 64 32 40" "resnet50 128 16 6" "inception_v3 128 16 6" "vgg16 64 16 4")
if [ -n "${MODELS:-}" ]; then IFS=';' read -r -a models <<<"$MODELS"; fi  # e.g. MODELS="vgg16 64 16 4;cnn 64 32 40"
for round in $(seq "$rounds"); do
  for spec in "${models[@]}"; do
    read -r model size batch steps <<<"$spec"
    for precision in fp32 bf16; do
      for cl in 0 1; do
        "$build/bin/cerebra-bench-train" --model "$model" --size "$size" --batch "$batch" --threads "$(nproc)" \
          --steps "$steps" --precision $precision --channels-last $cl | tee -a "$out"
      done
    done
  done
done
/usr/bin/python3 - "$out" <<'PY'
import re, statistics, sys
rows = [dict(re.findall(r"(\w+)=([^\s]+)", l)) for l in open(sys.argv[1]) if l.startswith("cerebra ")]
print("\nmedian images/s      fp32 NCHW  fp32 CL  bf16 NCHW  bf16 CL")
for model in dict.fromkeys(r["model"] for r in rows):
    cells = []
    for precision in ("fp32", "bf16"):
        for cl in ("0", "1"):
            v = [float(r["steps_images_per_s"]) for r in rows if r["model"] == model and r["precision"] == precision and r["channels_last"] == cl]
            cells.append(f"{statistics.median(v):9.1f}" if v else "        -")
    print(f"{model:18s} " + "  ".join(cells))
PY
