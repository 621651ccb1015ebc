#!/usr/bin/env bash
# Training speed of Cerebra against Python torch on this machine, all measured
# in this run: PyTorch as a beginner runs it (reference.py as it comes) and at
# its best (channels-last, bf16 autocast where the processor has native bf16,
# tuned glibc malloc, its best thread/worker setting). Usage (repository root,
# after tools/build.sh, on a quiet machine):
#   tools/bench-train/run.sh [BUILD_DIR] [DATA_DIR]
#   STEPS_ONLY=1 ...   compute only;  ROUNDS=N ...   alternating rounds (3)
# Needs Debian's python3-torch and python3-torchvision (tools/setup.sh python3-torch python3-torchvision).
set -euo pipefail
build="${1:-build}"
data="${2:-${CEREBRA_DATA:-../shared/datasets}}"
rounds="${ROUNDS:-3}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/quiet-machine.sh"
out="$(mktemp)"
work="$(mktemp -d)"
trap 'rm -rf "$out" "$work"' EXIT
py=(/usr/bin/python3 "$here/reference.py")
# The glibc settings of Cerebra's default [run] allocator = "retain": part of
# PyTorch at its best (a user who tunes malloc; jemalloc/tcmalloc do the same).
retain=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824
bench=("$build/bin/cerebra-bench-train")
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs);" \
  "native bf16: $(grep -o -m1 -w -E 'amx_bf16|avx512_bf16' /proc/cpuinfo || echo none)"

echo "== compute only: optimizer steps on tensors in memory ($rounds alternating rounds; medians compared)"
# This machine's speed drifts by tens of percent from minute to minute, so the
# programs take turns and the medians are compared.
for round in $(seq "$rounds"); do
  "${bench[@]}" --model cnn --size 64 --batch 32 --threads 2 --steps 60 --precision fp32 --channels-last 0 | tee -a "$out"
  "${py[@]}" steps cnn 64 32 2 60 | tee -a "$out"
  "${bench[@]}" --model cnn --size 64 --batch 32 --threads 2 --steps 60 --precision bf16 --channels-last 1 | tee -a "$out"
  GLIBC_TUNABLES=$retain "${py[@]}" steps cnn 64 32 2 60 best | tee -a "$out"
  "${bench[@]}" --model resnet50 --size 128 --batch 16 --threads 2 --steps 10 --precision fp32 --channels-last 0 | tee -a "$out"
  "${py[@]}" steps resnet50 128 16 2 10 | tee -a "$out"
  "${bench[@]}" --model resnet50 --size 128 --batch 16 --threads 2 --steps 10 --precision bf16 --channels-last 1 | tee -a "$out"
  GLIBC_TUNABLES=$retain "${py[@]}" steps resnet50 128 16 2 10 best | tee -a "$out"
done

if [ "${STEPS_ONLY:-0}" != 1 ]; then
echo "== end to end: Br35H, 5 epochs, the same split"
for precision in bf16 fp32; do  # bf16: the fastest setting; fp32: the default (auto on CPU)
  /usr/bin/time -f "cerebra_peak_rss_mb=%M" -o "$work/time.txt" \
    env CEREBRA_DATA="$data" "$build/bin/cerebra" run "$here/br35h_cnn_e2e.toml" \
    --set run.output="$work/runs-$precision" --set run.precision=$precision >"$work/log.txt" 2>&1
  run="$(ls -d "$work/runs-$precision"/*/)"
  /usr/bin/python3 - "$run" "$(cat "$work/time.txt")" <<'PY' | tee -a "$out"
import json, sys
run, peak = sys.argv[1], sys.argv[2]
lines = [json.loads(l) for l in open(run + "metrics.jsonl")]
summary = json.load(open(run + "summary.json"))
rates = [l["images_per_second"] for l in lines]
acc = summary["test"]["metrics"]["accuracy"]["value"]
print(f"cerebra e2e threads={summary['threads']} precision={summary.get('precision', 'fp32')} epochs={len(lines)} "
      f"train_images_per_s={sum(rates)/len(rates):.1f} first_epoch_images_per_s={rates[0]:.1f} test_accuracy={acc:.4f} "
      f"peak_rss_mb={int(peak.split('=')[1]) / 1024:.0f}")
PY
  cp "$run/split.csv" "$work/split.csv"
  if [ "$precision" = fp32 ]; then cp -r "$run" "$work/cnn-run"; fi  # predict as the default trains
done
# Threads and DataLoader workers: the settings a user would try on 2 cores.
for setting in "1 0" "2 0" "2 2"; do
  "${py[@]}" e2e "$work/split.csv" 5 $setting | tee -a "$out"
  GLIBC_TUNABLES=$retain "${py[@]}" e2e "$work/split.csv" 5 $setting best | tee -a "$out"
done

echo "== single-image predict: process start, plugin load, model load, decode, forward (3 runs, median)"
image="$(/usr/bin/python3 -c 'import csv, sys; print(next(r["file"] for r in csv.DictReader(open(sys.argv[1])) if r["split"] == "test"))' "$work/split.csv")"
# A ResNet50 run to load: one short epoch on generated images (its weights'
# values do not change the time).
"$build/bin/cerebra" run "$here/resnet50_predict.toml" --set run.output="$work/runs-resnet50" >"$work/log.txt" 2>&1
resnet_run="$(ls -d "$work/runs-resnet50"/*/)"
for model in cnn resnet50; do
  [ $model = cnn ] && target="$work/cnn-run" || target="$resnet_run"
  for i in 1 2 3; do
    start=$(date +%s.%N)
    "$build/bin/cerebra" predict "$target" "$image" >/dev/null
    echo "cerebra predict model=$model seconds=$(echo "$(date +%s.%N) - $start" | bc)" | tee -a "$out"
  done
done
fi

echo "== ratios (medians over rounds; end to end: each program's best setting)"
/usr/bin/python3 "$here/ratios.py" "$out"
