#!/usr/bin/env bash
# Runs cerebra-bench-loader and the torchvision reference on the same images
# and prints the ratios. Usage (from the repository root, after a build):
#   tools/bench-loader/run.sh [BUILD_DIR] [DATA_DIR]
# Refuses to run while a compiler is busy on this machine: timings would be noise.
set -euo pipefail
build="${1:-build}"
data="${2:-${CEREBRA_DATA:-../shared/datasets}}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if pgrep -f 'ninja|cc1plus' >/dev/null; then
  echo "a build is running (ninja/cc1plus); run the benchmark on a quiet machine" >&2
  exit 1
fi
out="$(mktemp)"
"$build/bin/cerebra-bench-loader" --data "$data" --threads 1,2 | tee "$out"
/usr/bin/python3 "$here/reference.py" "$data/br35h" 0,1,2 | tee -a "$out"
/usr/bin/python3 - "$out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def best(pattern):
    values = [float(v) for v in re.findall(pattern, text)]
    return max(values) if values else float("nan")
cold = best(r"cold_images_per_s=([\d.]+)")
warm = best(r"warm_images_per_s=([\d.]+)")
reference = max(best(r"epoch1_images_per_s=([\d.]+)"), best(r"epoch2_images_per_s=([\d.]+)"))
print(f"best cerebra cold {cold:.1f} img/s, warm {warm:.1f} img/s; best torchvision {reference:.1f} img/s")
print(f"ratio cold/torchvision {cold / reference:.2f}, warm/torchvision {warm / reference:.2f}")
PY
rm -f "$out"
