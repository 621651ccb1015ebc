#!/usr/bin/env bash
# Training speed of Cerebra against Python torch on this machine, both measured
# in this run. Usage (repository root, after tools/build.sh, on a quiet machine):
#   tools/bench-train/run.sh [BUILD_DIR] [DATA_DIR]
# Needs Debian's python3-torch and python3-torchvision (tools/setup.sh python3-torch python3-torchvision).
set -euo pipefail
build="${1:-build}"
data="${2:-${CEREBRA_DATA:-../shared/datasets}}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if pgrep -f 'ninja|cc1plus' >/dev/null; then
  echo "a build is running (ninja/cc1plus); run the benchmark on a quiet machine" >&2
  exit 1
fi
out="$(mktemp)"
work="$(mktemp -d)"
trap 'rm -rf "$out" "$work"' EXIT
py=(/usr/bin/python3 "$here/reference.py")
# The glibc settings of Cerebra's default [run] allocator = "retain", given to
# extra Python runs so the figures show what the allocator alone is worth.
retain=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824

echo "== compute only: optimizer steps on tensors in memory (3 alternating rounds; medians compared)"
# This machine's speed drifts by tens of percent from minute to minute, so the
# two programs take turns and the medians are compared.
for round in 1 2 3; do
  for threads in 1 2; do
    "$build/bin/cerebra-bench-train" --model cnn --size 64 --batch 32 --threads $threads --steps 60 | tee -a "$out"
    "${py[@]}" steps cnn 64 32 $threads 60 | tee -a "$out"
  done
  # Informational: Cerebra with the C library's allocator defaults, Python with Cerebra's.
  "$build/bin/cerebra-bench-train" --model cnn --size 64 --batch 32 --threads 2 --steps 60 --allocator system | tee -a "$out"
  GLIBC_TUNABLES=$retain "${py[@]}" steps cnn 64 32 2 60 | tee -a "$out"
  "$build/bin/cerebra-bench-train" --model resnet50 --size 128 --batch 16 --threads 2 --steps 10 | tee -a "$out"
  "${py[@]}" steps resnet50 128 16 2 10 | tee -a "$out"
  GLIBC_TUNABLES=$retain "${py[@]}" steps resnet50 128 16 2 10 | tee -a "$out"
done
[ "${STEPS_ONLY:-0}" = 1 ] && skip_e2e=1 || skip_e2e=0

if [ "$skip_e2e" = 0 ]; then
echo "== end to end: Br35H, 5 epochs, the same split"
for threads in 1 2; do
  /usr/bin/time -f "cerebra_peak_rss_mb=%M" -o "$work/time.txt" \
    env CEREBRA_DATA="$data" "$build/bin/cerebra" run "$here/br35h_cnn_e2e.toml" \
    --set run.output="$work/runs-$threads" --set run.threads=$threads >"$work/log.txt" 2>&1
  run="$(ls -d "$work/runs-$threads"/*/)"
  /usr/bin/python3 - "$run" "$threads" "$(cat "$work/time.txt")" <<'PY' | tee -a "$out"
import json, sys
run, threads, peak = sys.argv[1], sys.argv[2], sys.argv[3]
lines = [json.loads(l) for l in open(run + "metrics.jsonl")]
summary = json.load(open(run + "summary.json"))
rates = [l["images_per_second"] for l in lines]
acc = summary["test"]["metrics"]["accuracy"]["value"]
allocator = "retain" if "retained" in summary.get("allocator", "") else "system"
print(f"cerebra e2e threads={threads} allocator={allocator} epochs={len(lines)} train_images_per_s={sum(rates)/len(rates):.1f} "
      f"first_epoch_images_per_s={rates[0]:.1f} test_accuracy={acc:.4f} peak_rss_mb={int(peak.split('=')[1]) / 1024:.0f}")
PY
  cp "$run/split.csv" "$work/split.csv"
done
for setting in "1 0" "2 0" "1 1" "2 2"; do
  "${py[@]}" e2e "$work/split.csv" 5 $setting | tee -a "$out"
done
GLIBC_TUNABLES=$retain "${py[@]}" e2e "$work/split.csv" 5 2 0 | tee -a "$out"  # informational
fi

echo "== ratios"
/usr/bin/python3 - "$out" <<'PY'
import re, statistics, sys
text = open(sys.argv[1]).read()
def values(prefix, key, allocator):
    found = []
    for line in text.splitlines():
        if line.startswith(prefix) and f"allocator={allocator}" in line:
            m = re.search(key + r"=([\d.]+)", line)
            if m:
                found.append(float(m.group(1)))
    return found
def best(prefix, key, allocator):
    found = values(prefix, key, allocator)
    return max(found) if found else float("nan")
def median(prefix, key, allocator):
    found = values(prefix, key, allocator)
    return statistics.median(found) if found else float("nan")
cnn = "model=cnn size=64 batch=32 threads=2"
cnn_c, cnn_p = median("cerebra " + cnn, "steps_images_per_s", "retain"), median("python " + cnn, "steps_images_per_s", "system")
res_c, res_p = median("cerebra model=resnet50", "steps_images_per_s", "retain"), median("python model=resnet50", "steps_images_per_s", "system")
e2e_c, e2e_p = best("cerebra e2e", "train_images_per_s", "retain"), best("python e2e", "train_images_per_s", "system")
print("Cerebra as it runs by default ([run] allocator = retain) against the Python reference as it runs by default:")
print(f"CNN compute-only ceiling (median, 2 threads): cerebra {cnn_c:.0f} img/s, python {cnn_p:.0f} img/s, ratio {cnn_c / cnn_p:.2f}")
print(f"CNN end to end (best settings): cerebra {e2e_c:.0f} img/s, python {e2e_p:.0f} img/s, ratio {e2e_c / e2e_p:.2f}")
print(f"ResNet50 step, batch 16, 128x128 (median): cerebra {res_c:.1f} img/s, python {res_p:.1f} img/s, ratio {res_c / res_p:.2f}")
print("Informational, the allocator setting swapped:")
print(f"CNN compute-only: cerebra allocator=system {median('cerebra ' + cnn, 'steps_images_per_s', 'system'):.0f} img/s, "
      f"python with GLIBC_TUNABLES {median('python ' + cnn, 'steps_images_per_s', 'retain'):.0f} img/s")
print(f"ResNet50 step: python with GLIBC_TUNABLES {median('python model=resnet50', 'steps_images_per_s', 'retain'):.1f} img/s")
print(f"CNN end to end: python with GLIBC_TUNABLES {best('python e2e', 'train_images_per_s', 'retain'):.0f} img/s")
PY
